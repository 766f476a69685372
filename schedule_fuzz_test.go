package arbiter_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
)

// fuzzZones are zones with every kind of offset change: none, odd offsets, 30-minute and
// 2-hour shifts, changes at midnight, a skipped day.
var fuzzZones = []string{
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
	"Pacific/Apia", "Antarctica/Troll", "America/Santiago",
}

// FuzzParseSchedule checks that no input panics, that rejections are the documented error, and
// that an accepted schedule, from any start in the years 1-9999, yields fires strictly after the
// start and increasing (or "never") quickly, which Count agrees with.
func FuzzParseSchedule(f *testing.F) {
	for _, seed := range []struct {
		expr  string
		start int64
		zone  uint8
	}{
		{"30 2 * * *", 1774746000, 1},           // Berlin, the night of 2026-03-29
		{"0,30 1 * * *", 1793509200, 2},         // New York, 2026-11-01
		{"*/15 * * * *", 1775314800, 3},         // Lord Howe, 2026-04-05
		{"0 0 29 2 */7", 0, 0},                  // rare
		{"0 0 31 2 *", 0, 0},                    // never
		{"* 2 25-31 3 0", 1774746000, 1},        // wild, always in the gap
		{"@every 90s", -62135596800, 4},         // the zero time
		{"@at 2026-12-01 09:00", 1774746000, 1}, // once
		{"59 59 23 31 12 *", 253402300799, 0},   // the last second computed
		{"0 12 * * *", 1325152800, 5},           // Apia skipping 2011-12-30
		{"* 1 * * FRI-SUN", 2240611200, 1},      // Go's ZoneBounds bug, 2040-12-31
		{" MON-FRI/2 x ", 0, 0},
	} {
		f.Add(seed.expr, seed.start, seed.zone)
	}
	locs := make([]*time.Location, len(fuzzZones))
	for i, name := range fuzzZones {
		locs[i] = zone(f, name)
	}
	const minUnix, maxUnix = -62135596800, 253402300799 // years 1-9999
	f.Fuzz(func(t *testing.T, expr string, start int64, zoneIndex uint8) {
		loc := locs[int(zoneIndex)%len(locs)]
		s, err := arbiter.ParseSchedule(expr, loc)
		if err != nil {
			var inv *arbiter.InvalidError
			if !errors.As(err, &inv) || inv.Field != "schedule" || inv.Message == "" || !errors.Is(err, arbiter.ErrInvalid) {
				t.Fatalf("ParseSchedule(%q) = %#v; want an *InvalidError for field schedule", expr, err)
			}
			return
		}
		if s.String() != strings.TrimSpace(expr) {
			t.Errorf("String() = %q", s.String())
		}
		span := uint64(maxUnix - minUnix + 1)
		t0 := time.Unix(minUnix+int64(uint64(start)%span), int64(uint64(start)%2)*5e8)
		var got []time.Time
		for at := t0; len(got) < 5; {
			begin := time.Now()
			fire := s.NextFire(at)
			next := s.Next(at)
			if d := time.Since(begin); d > 2*time.Second {
				t.Fatalf("%q in %s: Next(%s) took %s", expr, loc, at.Format(time.RFC3339Nano), d)
			}
			if !next.Equal(fire.At) {
				t.Fatalf("%q in %s: Next(%s) = %s but NextFire.At = %s", expr, loc, at, next, fire.At)
			}
			if next.IsZero() {
				break
			}
			if !next.After(at) {
				t.Fatalf("%q in %s: Next(%s) = %s, not after", expr, loc, at.Format(time.RFC3339Nano), next.Format(time.RFC3339Nano))
			}
			if next.Location() != loc {
				t.Fatalf("%q: Next is in %s, not %s", expr, next.Location(), loc)
			}
			if s.Every() == 0 && next.Nanosecond() != 0 {
				t.Fatalf("%q: Next = %s, not a whole second", expr, next.Format(time.RFC3339Nano))
			}
			if fire.Nominal == "" || !fire.Shifted && fire.Nominal != nominal(civilOf(next)) {
				t.Fatalf("%q: fire at %s has nominal %q, shifted %v", expr, next.Format(time.RFC3339), fire.Nominal, fire.Shifted)
			}
			got = append(got, next)
			at = next
		}
		if len(got) == 0 {
			return
		}
		n, first, last := s.Count(t0, got[len(got)-1], 0)
		if n != len(got) || !first.Equal(got[0]) || !last.Equal(got[len(got)-1]) {
			t.Fatalf("%q in %s from %s: Count = %d %s %s; Next gave %v", expr, loc, t0.Format(time.RFC3339Nano), n, first, last, got)
		}
		if len(got) >= 3 {
			if n, _, last := s.Count(t0, got[len(got)-1], 2); n != 2 || !last.Equal(got[1]) {
				t.Fatalf("%q: Count with limit 2 = %d, last %s; want 2, %s", expr, n, last, got[1])
			}
		}
	})
}
