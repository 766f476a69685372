package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// dur is a duration that JSON shows both exactly and for people.
type dur time.Duration

func (d dur) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		NS    int64  `json:"ns"`
		Human string `json:"human"`
	}{int64(d), fmtDur(time.Duration(d))})
}

func (d *dur) UnmarshalJSON(b []byte) error {
	var v struct {
		NS int64 `json:"ns"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = dur(v.NS)
	return nil
}

// summary describes a sample of durations.
type summary struct {
	Count int `json:"count"`
	Min   dur `json:"min"`
	P50   dur `json:"p50"`
	P99   dur `json:"p99"`
	Max   dur `json:"max"`
}

// summarize sorts nothing it is given: it works on a copy.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{
		Count: len(s),
		Min:   dur(s[0]),
		P50:   dur(percentile(s, 50)),
		P99:   dur(percentile(s, 99)),
		Max:   dur(s[len(s)-1]),
	}
}

// percentile is the nearest-rank percentile p (0-100] of sorted, which must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// fmtDur prints a duration with three significant figures in a unit that suits it.
func fmtDur(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%s%dns", neg, d)
	case d < time.Millisecond:
		return neg + sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return neg + sig3(float64(d)/1e6) + "ms"
	default:
		return neg + sig3(float64(d)/1e9) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// ratio is a/b, or 0 when b is 0 (shown as "-").
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
