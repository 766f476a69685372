package main

import (
	"errors"
	"strings"
	"time"
)

// localLayouts are the local-time forms of a TIME besides RFC 3339, after a space between date
// and time became a 'T'. They are the forms of the daemon's "@at" schedules, so that `add --at`
// can pass the text through and the daemon reads it in the job's zone.
var localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04"}

// timeForms names the accepted forms in error messages.
const timeForms = "use RFC 3339 (2026-12-01T09:00:00Z) or a local time such as 2026-12-01T09:00 or '2026-12-01 09:00'"

var errTimeForm = errors.New("not a time")

// parseTime reads an RFC 3339 time, or a local time in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if date, clock, ok := strings.Cut(s, " "); ok {
		s = date + "T" + strings.TrimSpace(clock)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errTimeForm
}

// atPrefix starts the schedule of a one-off job: "@at 2026-12-01T08:00:00Z".
const atPrefix = "@at "

// oneOffArg returns the time text of a one-off schedule, and whether schedule is one.
func oneOffArg(schedule string) (string, bool) {
	s := strings.TrimSpace(schedule)
	if len(s) < len(atPrefix) || !strings.EqualFold(s[:len(atPrefix)], atPrefix) {
		return "", false
	}
	return strings.TrimSpace(s[len(atPrefix):]), true
}
