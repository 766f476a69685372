package arbiter

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/adhocore/gronx"
)

// Schedule is a parsed schedule bound to the zone it is evaluated in.
type Schedule struct {
	expr  string
	cron  string        // normalized cron fields, seconds first; "" for @every
	every time.Duration // > 0 for "@every DURATION"
	loc   *time.Location
}

// macros are the crontab(5) shorthands arbiter accepts, as 6-field expressions.
var macros = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

var fieldNames = []string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}

var yearLike = regexp.MustCompile(`\d{4}`)

// MinEvery is the shortest interval "@every" accepts.
const MinEvery = time.Second

// ParseSchedule parses expr (a 5-field cron expression, 6 fields with a leading seconds field,
// a macro such as @daily, or "@every 90s") for evaluation in loc (nil means UTC).
func ParseSchedule(expr string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := Schedule{expr: strings.TrimSpace(expr), loc: loc}
	if s.expr == "" {
		return Schedule{}, Invalidf("schedule", "must not be empty; give a cron expression such as '*/5 * * * *'")
	}
	if strings.HasPrefix(s.expr, "@") {
		word, arg, _ := strings.Cut(s.expr, " ")
		word = strings.ToLower(word)
		if word == "@every" {
			d, err := time.ParseDuration(strings.TrimSpace(arg))
			if err != nil {
				return Schedule{}, Invalidf("schedule", "@every needs a duration such as 90s or 1h30m, got %q", strings.TrimSpace(arg))
			}
			if d < MinEvery {
				return Schedule{}, Invalidf("schedule", "@every %s is shorter than the minimum of %s", d, MinEvery)
			}
			s.every = d
			return s, nil
		}
		cron, ok := macros[word]
		if !ok || strings.TrimSpace(arg) != "" {
			return Schedule{}, Invalidf("schedule", "unknown macro %q; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every DURATION", s.expr)
		}
		s.cron = cron
		return s, nil
	}
	fields := strings.Fields(s.expr)
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
		// gronx would read a 4-digit sixth field as a year; arbiter has no year field.
		if yearLike.MatchString(fields[5]) {
			return Schedule{}, Invalidf("schedule", "day-of-week: %q is out of range 0-7 (arbiter has no year field)", fields[5])
		}
	default:
		return Schedule{}, Invalidf("schedule", "%q has %d fields; use 5 (minute hour day-of-month month day-of-week) or 6 with a leading seconds field", s.expr, len(fields))
	}
	for i, f := range fields {
		probe := []string{"*", "*", "*", "*", "*", "*"}
		probe[i] = f
		if !gronx.IsValid(strings.Join(probe, " ")) {
			return Schedule{}, Invalidf("schedule", "%s: %q is not valid", fieldNames[i], f)
		}
	}
	s.cron = strings.Join(fields, " ")
	if !gronx.IsValid(s.cron) {
		return Schedule{}, Invalidf("schedule", "%q is not a valid cron expression", s.expr)
	}
	return s, nil
}

// String is the expression as given.
func (s Schedule) String() string { return s.expr }

// Location is the zone the schedule is evaluated in.
func (s Schedule) Location() *time.Location { return s.loc }

// Every is the interval of an "@every" schedule, or 0.
func (s Schedule) Every() time.Duration { return s.every }

// Next returns the first fire time strictly after t, in the schedule's zone, or the zero time
// when the schedule never fires again. For "@every", t is the previous fire.
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(s.every).In(s.loc)
	}
	if s.cron == "" {
		return time.Time{}
	}
	next, err := gronx.NextTickAfter(s.cron, t.In(s.loc), false)
	if err != nil || !next.After(t) {
		return time.Time{}
	}
	return next.In(s.loc)
}

// LoadZone resolves an IANA zone name; "" and "Local" mean the daemon's own zone.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "", "Local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Invalidf("timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin or UTC", name)
	}
	return loc, nil
}

// ErrNever is returned by callers that need a next fire but the schedule has none.
var ErrNever = fmt.Errorf("schedule never fires again: %w", ErrInvalid)
