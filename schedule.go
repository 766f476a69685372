package arbiter

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Schedule is a parsed schedule bound to the zone it is evaluated in: a cron expression, a
// macro, "@every DURATION" or a one-off "@at TIME". The zero Schedule never fires.
//
// The rules (DESIGN.md, "Scheduling semantics"): cron expressions are evaluated on the wall clock
// of the zone. A wild expression (seconds, minute or hour field starting with '*') follows real
// time across DST changes: local times that do not exist are not fired, local times that happen
// twice fire twice. Any other expression follows the wall clock: fire times inside a
// spring-forward gap fire once, at the first instant after the jump; fire times inside a repeated
// hour fire only on their first occurrence. "@every" is real time.
type Schedule struct {
	expr  string
	loc   *time.Location
	kind  scheduleKind
	cron  cronSpec      // kindCron
	every time.Duration // kindEvery
	at    time.Time     // kindAt
}

type scheduleKind uint8

const (
	kindNone scheduleKind = iota
	kindCron
	kindEvery
	kindAt
)

// Fire is one fire time of a schedule, with what explains it.
type Fire struct {
	At time.Time // the instant, in the schedule's zone; zero when the schedule never fires again
	// Nominal is the wall-clock time the schedule named, "2006-01-02 15:04" (":05" added when the
	// seconds are not zero). It differs from At's wall clock only when Shifted.
	Nominal string
	Shifted bool // a spring-forward gap swallowed Nominal, so the fire moved to the end of the gap
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

// MinEvery is the shortest interval "@every" accepts.
const MinEvery = time.Second

// ParseSchedule parses expr for evaluation in loc (nil means UTC): a cron expression of 5 fields
// (minute hour day-of-month month day-of-week) or 6 with a leading seconds field; a macro
// (@yearly @annually @monthly @weekly @daily @midnight @hourly); "@every DURATION" (a Go duration
// of at least 1s); or "@at TIME", once, where TIME is RFC 3339 or a local time in loc
// ("2026-12-01T09:00", "2026-12-01 09:00:05"). Errors are *InvalidError for field "schedule".
func ParseSchedule(expr string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := Schedule{expr: strings.TrimSpace(expr), loc: loc}
	if s.expr == "" {
		return Schedule{}, Invalidf("schedule", "must not be empty; give a cron expression such as '*/5 * * * *'")
	}
	if strings.HasPrefix(s.expr, "@") {
		word, arg := s.expr, ""
		if i := strings.IndexFunc(s.expr, unicode.IsSpace); i > 0 {
			word, arg = s.expr[:i], strings.TrimSpace(s.expr[i:])
		}
		switch word = strings.ToLower(word); word {
		case "@every":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return Schedule{}, Invalidf("schedule", "@every needs a duration such as 90s or 1h30m, got %q", arg)
			}
			if d < MinEvery {
				return Schedule{}, Invalidf("schedule", "@every %s is shorter than the minimum of %s", d, MinEvery)
			}
			s.kind, s.every = kindEvery, d
			return s, nil
		case "@at":
			at, err := parseAt(arg, loc)
			if err != nil {
				return Schedule{}, err
			}
			s.kind, s.at = kindAt, at
			return s, nil
		}
		cron, ok := macros[word]
		if !ok || arg != "" {
			return Schedule{}, Invalidf("schedule", "unknown macro %q; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION or @at TIME", s.expr)
		}
		c, err := parseCron(strings.Fields(cron))
		if err != nil {
			return Schedule{}, err // only if the table above is wrong; a test parses every macro
		}
		s.kind, s.cron = kindCron, c
		return s, nil
	}
	fields := strings.Fields(s.expr)
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...) // "0", not "*": a 5-field expression is not wild by its seconds
	case 6:
	default:
		return Schedule{}, Invalidf("schedule", "%q has %d fields; use 5 (minute hour day-of-month month day-of-week) or 6 with a leading seconds field", s.expr, len(fields))
	}
	c, err := parseCron(fields)
	if err != nil {
		return Schedule{}, err
	}
	s.kind, s.cron = kindCron, c
	return s, nil
}

// atLayouts are the local (offset-less) forms "@at" accepts, after a space between date and
// time became a 'T'.
var atLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04"}

// parseAt parses the TIME of "@at TIME". A local time is read in loc; one that a DST gap
// skips is refused (there is no honest instant for it), one that happens twice means the first.
func parseAt(arg string, loc *time.Location) (time.Time, error) {
	v := arg
	if date, clock, ok := strings.Cut(arg, " "); ok { // RFC 3339 allows a space for the T
		v = date + "T" + strings.TrimSpace(clock)
	}
	bad := Invalidf("schedule", "@at needs a time such as 2026-12-01T09:00:00+01:00, 2026-12-01T08:00:00Z or 2026-12-01 09:00 (local to the job's zone), got %q", arg)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		if t.Nanosecond() != 0 {
			return time.Time{}, Invalidf("schedule", "@at %s: give whole seconds", arg)
		}
		return t.In(loc), nil
	}
	for _, layout := range atLayouts {
		c, err := time.ParseInLocation(layout, v, time.UTC) // the civil time, read as UTC
		if err != nil {
			continue
		}
		if c.Nanosecond() != 0 {
			return time.Time{}, Invalidf("schedule", "@at %s: give whole seconds", arg)
		}
		x, ok := firstInstant(loc, c.Unix())
		if !ok {
			after := c.Unix() - int64(offsetAt(loc, c.Unix()-daySecs)) // an instant just after the gap
			z := spanAt(loc, after, after)
			from, to := time.Unix(z.start+z.prevOff, 0).UTC(), time.Unix(z.start+z.off, 0).UTC()
			layout := "15:04"
			if from.YearDay() != to.YearDay() {
				layout = "2006-01-02 15:04" // Apia skipped a whole day in 2011
			}
			return time.Time{}, Invalidf("schedule", "@at %s does not exist in %s: the clocks jump from %s to %s that day; pick a time outside the gap",
				formatCivil(c), loc, from.Format(layout), to.Format(layout))
		}
		return time.Unix(x, 0).In(loc), nil
	}
	return time.Time{}, bad
}

// firstInstant is the earliest instant whose wall clock in loc reads the civil time c, or false
// when a DST gap skips c. The offsets a day before and after c are the candidates: zones do not
// change offset twice within two days.
func firstInstant(loc *time.Location, c int64) (int64, bool) {
	best, ok := int64(0), false
	for _, probe := range [...]int64{c - daySecs, c, c + daySecs} {
		x := c - int64(offsetAt(loc, probe))
		if c-x == int64(offsetAt(loc, x)) && (!ok || x < best) {
			best, ok = x, true
		}
	}
	return best, ok
}

func offsetAt(loc *time.Location, x int64) int {
	_, off := time.Unix(x, 0).In(loc).Zone()
	return off
}

// String is the expression as given.
func (s Schedule) String() string { return s.expr }

// Location is the zone the schedule is evaluated in.
func (s Schedule) Location() *time.Location { return s.loc }

// Every is the interval of an "@every" schedule, or 0.
func (s Schedule) Every() time.Duration { return s.every }

// Once is the time of an "@at" schedule; false for every other kind.
func (s Schedule) Once() (time.Time, bool) {
	if s.kind != kindAt {
		return time.Time{}, false
	}
	return s.at, true
}

// Wild reports whether the schedule follows real time rather than the wall clock across DST
// changes: true for a cron expression whose seconds, minute or hour field starts with '*'
// ("*/15 * * * *", "0 * * * *", @hourly) and for "@every".
func (s Schedule) Wild() bool {
	return s.kind == kindEvery || s.kind == kindCron && s.cron.wild
}

// Next returns the first fire time strictly after t, in the schedule's zone, or the zero time
// when the schedule never fires again. For "@every", t is the previous fire. Cron fire times are
// whole seconds between the years 1 and 9999. Next does not allocate and takes well under a
// microsecond for common expressions; to count many fires use Count rather than a loop.
func (s Schedule) Next(t time.Time) time.Time {
	switch s.kind {
	case kindCron:
		f, ok := s.cronNext(t)
		if !ok {
			return time.Time{}
		}
		return time.Unix(f.at, 0).In(s.loc)
	case kindEvery:
		if next := t.Add(s.every); next.After(t) {
			return next.In(s.loc)
		}
	case kindAt:
		if s.at.After(t) {
			return s.at
		}
	}
	return time.Time{}
}

// NextFire is Next with the explanation of the fire: NextFire(t).At == Next(t).
func (s Schedule) NextFire(t time.Time) Fire {
	if s.kind == kindCron {
		f, ok := s.cronNext(t)
		if !ok {
			return Fire{}
		}
		return Fire{At: time.Unix(f.at, 0).In(s.loc), Nominal: formatCivil(time.Unix(f.nominal, 0).UTC()), Shifted: f.shifted}
	}
	at := s.Next(t)
	if at.IsZero() {
		return Fire{}
	}
	return Fire{At: at, Nominal: formatCivil(at)}
}

func (s Schedule) cronNext(t time.Time) (cronFire, bool) {
	if t.Unix() >= maxUnix {
		return cronFire{}, false
	}
	lo := max(t.Unix()+1, minUnix) // fires are whole seconds; this is the first one strictly after t
	return s.cron.next(s.loc, lo, lo+horizon)
}

// formatCivil formats the wall clock of t.
func formatCivil(t time.Time) string {
	if t.Second() != 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// Count counts the fires in (from, to]: the times that calling Next repeatedly, starting from
// from, returns up to to ("@every" counts from + k·interval). first and last are the earliest and
// latest of them, zero when n is 0. With limit > 0, n is at most limit and last is then the
// limit-th fire (found by stepping, so keep such a limit small). Cron schedules are counted day by day, not fire by fire: a week of
// "* * * * * *" (604,800 fires) costs about as much as a few calls of Next.
func (s Schedule) Count(from, to time.Time, limit int) (n int, first, last time.Time) {
	if !to.After(from) {
		return 0, time.Time{}, time.Time{}
	}
	switch s.kind {
	case kindEvery:
		total := int64(to.Sub(from) / s.every)
		if limit > 0 {
			total = min(total, int64(limit))
		}
		if total == 0 {
			break
		}
		return int(total), from.Add(s.every).In(s.loc), from.Add(time.Duration(total) * s.every).In(s.loc)
	case kindAt:
		if s.at.After(from) && !s.at.After(to) {
			return 1, s.at, s.at
		}
	case kindCron:
		lo, hi := from.Unix()+1, to.Unix()
		if from.Unix() >= maxUnix || hi < lo {
			break
		}
		total := s.cron.count(s.loc, lo, hi)
		if total == 0 {
			break
		}
		f, _ := s.cron.next(s.loc, lo, hi+1)
		first = time.Unix(f.at, 0).In(s.loc)
		if limit > 0 && total > int64(limit) {
			// The limit-th fire: walk, since the cap is meant to be small.
			at := f.at
			for range limit - 1 {
				f, _ = s.cron.next(s.loc, at+1, hi+1)
				at = f.at
			}
			return limit, first, time.Unix(at, 0).In(s.loc)
		}
		at, _ := s.cron.prev(s.loc, lo, hi)
		return int(total), first, time.Unix(at, 0).In(s.loc)
	}
	return 0, time.Time{}, time.Time{}
}

// LoadZone resolves an IANA zone name; "" and "Local" mean the daemon's own zone.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "", "Local":
		return time.Local, nil
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Invalidf("timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin or UTC", name)
	}
	loc2, _ := zones.LoadOrStore(name, loc)
	return loc2.(*time.Location), nil
}

// zones caches loaded zones by name (name → *time.Location). time.LoadLocation reads and
// parses the zone file on every call, about 2 KiB and 15 µs each: without the cache, 100,000
// jobs in three zones held 225 MB of identical copies. A process keeps the zone rules it
// loaded first; a tzdata upgrade takes effect when the daemon restarts.
var zones sync.Map

// ErrNever is returned by callers that need a next fire but the schedule has none.
var ErrNever = fmt.Errorf("schedule never fires again: %w", ErrInvalid)
