package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// countdown is how long until t, to the second, the way a dashboard ticks: "42s", "4m05s",
// "2h05m", "3d04h"; "now" once t has come.
func countdown(d time.Duration) string {
	if d < time.Second {
		return "now"
	}
	s := int(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// duration is how long something took: "350ms", "1.2s", "42s", "4m10s", "2h05m".
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Truncate(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	case d < time.Hour:
		if d < time.Minute {
			return fmt.Sprintf("%ds", int(d/time.Second))
		}
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return countdown(d)
}

// clock shows t compactly: the time of day when it falls on now's date, else the date too.
func clock(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	if y, m, d := t.Date(); now.Year() == y && now.Month() == m && now.Day() == d {
		return t.Format("15:04:05")
	}
	return t.Format("01-02 15:04")
}

var weekdays = map[string]string{
	"0": "Sundays", "1": "Mondays", "2": "Tuesdays", "3": "Wednesdays", "4": "Thursdays",
	"5": "Fridays", "6": "Saturdays", "7": "Sundays",
	"sun": "Sundays", "mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays",
	"thu": "Thursdays", "fri": "Fridays", "sat": "Saturdays",
	"1-5": "weekdays", "mon-fri": "weekdays", "0,6": "weekends", "6,0": "weekends",
	"sat,sun": "weekends", "6-7": "weekends",
}

// describe says a schedule in words for the shapes people write most ("every 5 min", "daily at
// 03:00", "weekdays at 07:30") and returns the expression itself for anything else: a wrong
// paraphrase of a schedule is worse than none.
func describe(expr string) string {
	e := strings.TrimSpace(expr)
	lower := strings.ToLower(e)
	switch lower {
	case "@hourly":
		return "hourly"
	case "@daily", "@midnight":
		return "daily at 00:00"
	case "@weekly":
		return "Sundays at 00:00"
	case "@monthly":
		return "monthly on the 1st"
	case "@yearly", "@annually":
		return "yearly on Jan 1"
	}
	if arg, ok := strings.CutPrefix(lower, "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(arg)); err == nil {
			return "every " + every(d)
		}
		return e
	}
	if arg, ok := strings.CutPrefix(lower, "@at "); ok {
		return "once at " + strings.TrimSpace(arg)
	}
	f := strings.Fields(lower)
	sec := "0"
	if len(f) == 6 {
		sec, f = f[0], f[1:]
	}
	if len(f) != 5 {
		return e
	}
	min, hour, dom, mon, dow := f[0], f[1], f[2], f[3], f[4]
	if mon != "*" {
		return e
	}
	// Sub-minute schedules (6 fields).
	if sec != "0" {
		if min != "*" || hour != "*" || dom != "*" || dow != "*" {
			return e
		}
		if sec == "*" {
			return "every second"
		}
		if n, ok := step(sec); ok {
			return "every " + strconv.Itoa(n) + " s"
		}
		return e
	}
	if hour == "*" && dom == "*" && dow == "*" {
		if min == "*" {
			return "every minute"
		}
		if n, ok := step(min); ok {
			return "every " + strconv.Itoa(n) + " min"
		}
		if m, ok := number(min, 59); ok {
			return fmt.Sprintf("hourly at :%02d", m)
		}
		return e
	}
	m, ok := number(min, 59)
	if !ok {
		return e
	}
	if n, ok := step(hour); ok && dom == "*" && dow == "*" {
		if m == 0 {
			return "every " + strconv.Itoa(n) + " h"
		}
		return fmt.Sprintf("every %d h at :%02d", n, m)
	}
	h, ok := number(hour, 23)
	if !ok {
		return e
	}
	at := fmt.Sprintf("%02d:%02d", h, m)
	switch {
	case dom == "*" && dow == "*":
		return "daily at " + at
	case dom == "*":
		if days, ok := weekdays[dow]; ok {
			return days + " at " + at
		}
	case dow == "*":
		if d, ok := number(dom, 31); ok && d > 0 {
			return fmt.Sprintf("monthly on day %d at %s", d, at)
		}
	}
	return e
}

// every is an interval in words: "5 min", "90 s", "2 h", "1h30m".
func every(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	case d%time.Minute == 0 && d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < time.Minute && d%time.Second == 0:
		return strconv.Itoa(int(d/time.Second)) + " s"
	}
	return d.String()
}

// step reads "*/n".
func step(field string) (int, bool) {
	n, ok := strings.CutPrefix(field, "*/")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(n)
	return v, err == nil && v > 0
}

// number reads a plain field value no greater than max.
func number(field string, max int) (int, bool) {
	v, err := strconv.Atoi(field)
	return v, err == nil && v >= 0 && v <= max
}
