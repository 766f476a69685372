package arbiter_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/adhocore/gronx"

	"github.com/arbiterd/arbiter"
)

// oracleFire is a fire found by brute force.
type oracleFire struct{ at, nominal time.Time }

// oracleFires enumerates the fires of expr in (from, to] the slow, obvious way, sharing no code
// with the implementation: gronx decides whether a wall-clock time matches, and the zone is
// walked instant by instant at step (a minute is fine for 5-field expressions, since every
// zone's offsets are whole minutes).
func oracleFires(t *testing.T, expr string, loc *time.Location, from, to time.Time, step time.Duration) []oracleFire {
	t.Helper()
	fields := strings.Fields(expr)
	if len(fields) == 5 {
		fields = append([]string{"0"}, fields...)
	}
	wild := fields[0][0] == '*' || fields[1][0] == '*' || fields[2][0] == '*'
	expr6 := strings.Join(fields, " ")
	g := gronx.New()
	due := func(c time.Time) bool {
		ok, err := g.IsDue(expr6, c)
		if err != nil {
			t.Fatalf("gronx %q: %v", expr6, err)
		}
		return ok
	}
	civil := func(i time.Time) time.Time {
		l := i.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
	}
	lo := from.Truncate(step)
	if !lo.After(from) {
		lo = lo.Add(step)
	}
	var out []oracleFire
	if wild { // every instant whose wall clock matches
		for i := lo; !i.After(to); i = i.Add(step) {
			if c := civil(i); due(c) {
				out = append(out, oracleFire{i, c})
			}
		}
		return out
	}
	// Wall clock: a civil time fires at its first instant; one that a gap skips, at the first
	// instant after the gap.
	target := map[time.Time]time.Time{}
	var prev time.Time
	// Start early enough to see the first occurrence of every civil time in the window: offsets
	// move by at most 2 hours, except Apia's skipped day, which is only used at minute steps.
	margin := 3 * time.Hour
	if step >= time.Minute {
		margin = 26 * time.Hour
	}
	for i := lo.Add(-margin); !i.After(to); i = i.Add(step) {
		c := civil(i)
		if _, seen := target[c]; !seen {
			target[c] = i
		}
		for skipped := prev.Add(step); !prev.IsZero() && skipped.Before(c); skipped = skipped.Add(step) {
			if _, seen := target[skipped]; !seen {
				target[skipped] = i
			}
		}
		prev = c
	}
	byInstant := map[time.Time]time.Time{} // instant -> earliest civil time firing there
	for c, i := range target {
		if i.After(from) && !i.After(to) && due(c) {
			if n, ok := byInstant[i]; !ok || c.Before(n) {
				byInstant[i] = c
			}
		}
	}
	for i, c := range byInstant {
		out = append(out, oracleFire{i, c})
	}
	slices.SortFunc(out, func(a, b oracleFire) int { return a.at.Compare(b.at) })
	return out
}

// transitions are the instants in year at which loc changes its UTC offset.
func transitions(loc *time.Location, year int) []time.Time {
	var out []time.Time
	x := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	for x.Year() == year {
		_, end := x.ZoneBounds()
		if end.IsZero() || !end.After(x) {
			break
		}
		_, before := end.Add(-time.Second).Zone()
		if _, after := end.Zone(); before != after && end.Year() == year {
			out = append(out, end)
		}
		x = end
	}
	return out
}

func nominal(c time.Time) string {
	if c.Second() != 0 {
		return c.Format("2006-01-02 15:04:05")
	}
	return c.Format("2006-01-02 15:04")
}

// TestScheduleAgainstOracle compares Next, NextFire and Count with brute force around real
// offset changes, including unusual ones: negative DST (Dublin), changes at midnight (Santiago,
// Havana), a two-hour shift (Troll), a skipped day (Apia 2011), and years served by the zones'
// POSIX rules (2040, 2044), where Go's ZoneBounds misreports the last day of a leap year.
func TestScheduleAgainstOracle(t *testing.T) {
	t.Parallel()
	// Few expressions and short windows: gronx parses the expression on every call, which the
	// race detector slows to ~50µs.
	minuteExprs := []string{
		"30 2 * * *", "0,30 2 * * *", "*/30 * * * *", "15 * * * *", "0 */2 * * *", "*/7 1-3 * * *",
		"45 0,1,2,3 * * *", "0 0 * * *", "0 1-3 1,15 * 0", "0,15,30,45 0-4,22-23 * * *",
	}
	secondExprs := []string{"*/20 30 1-2 * * *", "10,50 59 0-3 * * *", "0 0 * * * *"}
	type window struct {
		zone     string
		from, to time.Time
	}
	var minuteWindows, secondWindows []window
	add := func(name string, year int, seconds bool) {
		trs := transitions(zone(t, name), year)
		if len(trs) == 0 {
			t.Fatalf("%s has no offset change in %d", name, year)
		}
		for _, tr := range trs {
			minuteWindows = append(minuteWindows, window{name, tr.Add(-4 * time.Hour), tr.Add(4 * time.Hour)})
			if seconds {
				secondWindows = append(secondWindows, window{name, tr.Add(-45 * time.Minute), tr.Add(45 * time.Minute)})
			}
		}
	}
	add("America/New_York", 2026, true)
	add("Europe/Berlin", 2026, true)
	add("Australia/Sydney", 2026, false)
	add("Australia/Lord_Howe", 2026, true)
	add("Europe/Dublin", 2026, false)
	add("America/Santiago", 2026, false)
	add("America/Havana", 2026, false)
	add("Antarctica/Troll", 2026, false)
	add("Pacific/Apia", 2011, false)
	add("Europe/Berlin", 2040, false)
	add("America/New_York", 2044, false)
	for _, z := range []string{"UTC", "Asia/Kolkata", "Asia/Kathmandu"} {
		minuteWindows = append(minuteWindows, window{z, rfc(t, "2026-03-28T20:00:00Z"), rfc(t, "2026-03-29T10:00:00Z")})
	}
	for _, w := range []string{"2040-12-31T00:00:00Z", "2041-01-01T00:00:00Z", "2044-12-31T00:00:00Z"} {
		at := rfc(t, w)
		minuteWindows = append(minuteWindows, window{"Europe/Berlin", at.Add(-4 * time.Hour), at.Add(4 * time.Hour)})
	}

	check := func(t *testing.T, expr string, w window, step time.Duration) {
		loc := zone(t, w.zone)
		s := mustParse(t, expr, loc)
		want := oracleFires(t, expr, loc, w.from, w.to, step)
		var got []arbiter.Fire
		for at := w.from; ; {
			f := s.NextFire(at)
			if f.At.IsZero() || f.At.After(w.to) {
				break
			}
			got = append(got, f)
			at = f.At
		}
		format := func(at time.Time, nominal string) string {
			return at.In(loc).Format(time.RFC3339) + " (" + nominal + ")"
		}
		var gotS, wantS []string
		for _, f := range got {
			gotS = append(gotS, format(f.At, f.Nominal))
			if f.Shifted != (f.Nominal != nominal(civilOf(f.At))) {
				t.Errorf("%s: Shifted = %v", format(f.At, f.Nominal), f.Shifted)
			}
		}
		for _, f := range want {
			wantS = append(wantS, format(f.at, nominal(f.nominal)))
		}
		if !slices.Equal(gotS, wantS) {
			t.Fatalf("%q in %s, (%s, %s]:\n got %v\nwant %v", expr, w.zone, w.from.In(loc).Format(time.RFC3339), w.to.In(loc).Format(time.RFC3339), gotS, wantS)
		}
		n, first, last := s.Count(w.from, w.to, 0)
		if n != len(want) || (n > 0 && (!first.Equal(want[0].at) || !last.Equal(want[n-1].at))) {
			t.Errorf("%q in %s: Count = %d %s %s, want %d fires", expr, w.zone, n, first, last, len(want))
		}
	}
	for _, w := range minuteWindows {
		t.Run(fmt.Sprintf("%s %s", w.zone, w.from.Format(time.RFC3339)), func(t *testing.T) {
			t.Parallel()
			for _, expr := range minuteExprs {
				check(t, expr, w, time.Minute)
			}
		})
	}
	for _, w := range secondWindows {
		t.Run(fmt.Sprintf("seconds %s %s", w.zone, w.from.Format(time.RFC3339)), func(t *testing.T) {
			t.Parallel()
			for _, expr := range secondExprs {
				check(t, expr, w, time.Second)
			}
		})
	}
}

// civilOf is the wall clock of t read as UTC.
func civilOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}
