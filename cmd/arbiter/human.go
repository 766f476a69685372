package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	dateTimeLayout = "2006-01-02 15:04:05"
	clockLayout    = "15:04:05"
)

// clock shows t in loc compactly: the time of day when t falls on now's date, else the date
// too.
func clock(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	if y, m, d := t.Date(); now.Year() == y && now.Month() == m && now.Day() == d {
		return t.Format(clockLayout)
	}
	return t.Format(dateTimeLayout)
}

// when is clock with the distance from now alongside when that is under a day, which is
// where "in 4m" helps more than the date.
func when(t, now time.Time, loc *time.Location) string {
	if d := t.Sub(now); d.Abs() < 24*time.Hour {
		return clock(t, now, loc) + " (" + relative(t, now) + ")"
	}
	return clock(t, now, loc)
}

// relative says how far t is from now: "in 4m", "3m ago", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d.Abs() < time.Second:
		return "now"
	case d > 0:
		return "in " + rough(d)
	}
	return rough(-d) + " ago"
}

// rough shows d in its two largest units, no finer than a second: "42s", "4m", "2h5m", "3d4h".
func rough(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return pair(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	}
	return pair(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
}

func pair(a int, au string, b int, bu string) string {
	s := strconv.Itoa(a) + au
	if b > 0 {
		s += strconv.Itoa(b) + bu
	}
	return s
}

// duration shows how long something took: "350ms", "1.2s", "42s", "4m10s", "2h5m", "3d4h".
func duration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Truncate(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if m == 0 {
			return fmt.Sprintf("%ds", s)
		}
		return pair(m, "m", s, "s")
	}
	return rough(d)
}

// stateText is a run state for prose: "timed out".
func stateText(state string) string { return strings.ReplaceAll(state, "_", " ") }

// shellQuote shows argv the way one would type it, quoting only where a shell needs it.
func shellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
