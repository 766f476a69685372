package arbiter_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the host's zoneinfo

	"github.com/arbiterd/arbiter"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustParse(t testing.TB, expr string, loc *time.Location) arbiter.Schedule {
	t.Helper()
	s, err := arbiter.ParseSchedule(expr, loc)
	if err != nil {
		t.Fatalf("ParseSchedule(%q): %v", expr, err)
	}
	return s
}

func rfc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fires iterates Next n times from start and formats the results as RFC 3339 with offset.
func fires(s arbiter.Schedule, start time.Time, n int) []string {
	var out []string
	for range n {
		next := s.Next(start)
		if next.IsZero() {
			out = append(out, "never")
			break
		}
		out = append(out, next.Format(time.RFC3339))
		start = next
	}
	return out
}

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, expr, from string
		want                   []string
	}{
		// UTC basics: fields, names, ranges, steps, seconds.
		{"every five minutes", "UTC", "*/5 * * * *", "2026-01-01T00:02:30Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"}},
		{"strictly after", "UTC", "0 * * * *", "2026-01-01T01:00:00Z",
			[]string{"2026-01-01T02:00:00Z"}},
		{"sub-second start", "UTC", "* * * * * *", "2026-01-01T00:00:00.5Z",
			[]string{"2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"}},
		{"range with step", "UTC", "0 9-17/4 * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"}},
		{"range step in minutes", "UTC", "10-50/20 1 * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T01:10:00Z", "2026-01-01T01:30:00Z", "2026-01-01T01:50:00Z", "2026-01-02T01:10:00Z"}},
		{"list of ranges and values", "UTC", "0 1,3-4,22 * * *", "2026-01-01T02:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z", "2026-01-01T22:00:00Z", "2026-01-02T01:00:00Z"}},
		{"six fields", "UTC", "*/20 30 12 * * *", "2026-01-01T12:30:30Z",
			[]string{"2026-01-01T12:30:40Z", "2026-01-02T12:30:00Z"}},
		{"seconds list", "UTC", "5,10 0 0 1 1 *", "2026-01-01T00:00:05Z",
			[]string{"2026-01-01T00:00:10Z", "2027-01-01T00:00:05Z"}},
		{"month names", "UTC", "0 0 1 jan,JUL *", "2026-01-01T00:00:00Z",
			[]string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"month name range", "UTC", "0 0 1 Nov-dec *", "2026-01-01T00:00:00Z",
			[]string{"2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-11-01T00:00:00Z"}},
		{"day name range", "UTC", "0 9 * * MON-FRI", "2026-01-02T10:00:00Z", // a Friday
			[]string{"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
		{"weekend through SUN", "UTC", "0 9 * * sat-sun", "2026-01-01T00:00:00Z",
			[]string{"2026-01-03T09:00:00Z", "2026-01-04T09:00:00Z", "2026-01-10T09:00:00Z"}},
		{"Sunday as 7", "UTC", "0 0 * * 7", "2026-01-01T00:00:00Z",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"Sunday as 0", "UTC", "0 0 * * 0", "2026-01-01T00:00:00Z",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"weekday step", "UTC", "0 0 * * */3", "2026-01-01T00:00:00Z", // Sun, Wed, Sat
			[]string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-07T00:00:00Z"}},

		// Day-of-month and day-of-week: union when both are restricted, else intersection.
		{"dom or dow", "UTC", "0 0 1,15 * 5", "2026-02-01T00:00:00Z",
			[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-15T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"dom step starts with star: intersection", "UTC", "0 0 */2 * 1", "2026-02-01T00:00:00Z",
			[]string{"2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z", "2026-03-09T00:00:00Z"}},
		{"dow star: dom only", "UTC", "0 0 13 * *", "2026-02-01T00:00:00Z",
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"}},
		{"dom star: dow only", "UTC", "0 0 * * 5", "2026-02-01T00:00:00Z",
			[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"dow step: intersection with dom", "UTC", "0 0 13 * */5", "2026-01-01T00:00:00Z", // Fri 13th or Sun 13th
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-09-13T00:00:00Z"}},

		// Leap days and months too short.
		{"leap day", "UTC", "0 0 29 2 *", "2026-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"no leap day in 2100", "UTC", "0 0 29 2 *", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"leap day on a Sunday only", "UTC", "0 0 29 2 */7", "2026-01-01T00:00:00Z",
			[]string{"2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z"}},
		{"the 31st skips short months", "UTC", "0 0 31 * *", "2026-01-31T00:00:00Z",
			[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"Feb 31 never fires", "UTC", "0 0 31 2 *", "2026-01-01T00:00:00Z", []string{"never"}},
		{"the 31st of short months never fires", "Europe/Berlin", "0 0 31 2,4,6,9,11 *", "2026-01-01T00:00:00Z", []string{"never"}},
		{"Feb 31 or Mondays fires", "UTC", "0 0 31 2 1", "2026-02-01T00:00:00Z",
			[]string{"2026-02-02T00:00:00Z"}},
		{"end of the supported range", "UTC", "@yearly", "9999-01-01T00:00:00Z", []string{"never"}},

		// Macros.
		{"@yearly", "UTC", "@yearly", "2026-06-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"@annually", "UTC", "@annually", "2026-06-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"@monthly", "UTC", "@monthly", "2026-06-15T00:00:00Z", []string{"2026-07-01T00:00:00Z"}},
		{"@weekly", "UTC", "@weekly", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z"}},
		{"@daily", "UTC", "@daily", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z"}},
		{"@midnight", "UTC", "@midnight", "2026-01-01T12:00:00Z", []string{"2026-01-02T00:00:00Z"}},
		{"@hourly", "UTC", "@hourly", "2026-01-01T12:59:59Z", []string{"2026-01-01T13:00:00Z"}},
		{"macro case", "UTC", "@DAILY", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z"}},

		// @every is real time from the previous fire, in the schedule's zone.
		{"@every", "UTC", "@every 90s", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"}},
		{"@every across spring forward", "Europe/Berlin", "@every 1h", "2026-03-29T01:30:00+01:00",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"}},
		{"@every across fall back", "Europe/Berlin", "@every 30m", "2026-10-25T02:15:00+02:00",
			[]string{"2026-10-25T02:45:00+02:00", "2026-10-25T02:15:00+01:00"}},

		// @at: once.
		{"@at with offset", "America/New_York", "@at 2026-12-01T09:00:00+01:00", "2026-01-01T00:00:00Z",
			[]string{"2026-12-01T03:00:00-05:00", "never"}},
		{"@at UTC", "UTC", "@at 2026-12-01T09:00:00Z", "2026-01-01T00:00:00Z",
			[]string{"2026-12-01T09:00:00Z", "never"}},
		{"@at local", "Europe/Berlin", "@at 2026-12-01T09:00", "2026-01-01T00:00:00Z",
			[]string{"2026-12-01T09:00:00+01:00", "never"}},
		{"@at local with space and seconds", "Asia/Kolkata", "@at 2026-12-01 09:00:05", "2026-01-01T00:00:00Z",
			[]string{"2026-12-01T09:00:05+05:30", "never"}},
		{"@at ambiguous local time: first occurrence", "Europe/Berlin", "@at 2026-10-25 02:30", "2026-01-01T00:00:00Z",
			[]string{"2026-10-25T02:30:00+02:00", "never"}},
		{"@at in the past", "UTC", "@at 2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z", []string{"never"}},

		// Zones without DST.
		{"Kolkata +05:30", "Asia/Kolkata", "0 9 * * *", "2026-03-29T00:00:00Z",
			[]string{"2026-03-29T09:00:00+05:30", "2026-03-30T09:00:00+05:30"}},
		{"Kolkata wild", "Asia/Kolkata", "*/45 * * * *", "2026-03-29T00:00:00Z",
			[]string{"2026-03-29T05:45:00+05:30", "2026-03-29T06:00:00+05:30", "2026-03-29T06:45:00+05:30"}},
		{"Kathmandu +05:45", "Asia/Kathmandu", "30 2 * * *", "2026-03-08T00:00:00Z",
			[]string{"2026-03-09T02:30:00+05:45", "2026-03-10T02:30:00+05:45"}},
		{"Kathmandu midnight", "Asia/Kathmandu", "@daily", "2026-03-08T18:14:59Z",
			[]string{"2026-03-09T00:00:00+05:45"}},

		// America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT.
		{"NY spring wall 02:30 moves to 03:00", "America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"NY spring wall two gap times fire once", "America/New_York", "0,30 2 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"NY spring wall gap time and 03:00 fire once", "America/New_York", "0 2,3 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
		{"NY spring wall after the gap unchanged", "America/New_York", "30 2,3 * * *", "2026-03-08T00:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"NY spring wild skips the gap", "America/New_York", "*/30 * * * *", "2026-03-08T01:00:00-05:00",
			[]string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"}},
		{"NY spring wild hour", "America/New_York", "30 * * * *", "2026-03-08T01:00:00-05:00",
			[]string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00"}},
		{"NY spring wild in the gap hour only", "America/New_York", "*/30 2 8 3 *", "2026-03-07T00:00:00-05:00",
			[]string{"2027-03-08T02:00:00-05:00"}},
		// 2026-11-01 02:00 EDT -> 01:00 EST.
		{"NY fall wall fires the first 01:30", "America/New_York", "30 1 * * *", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"NY fall wall from inside the repeat", "America/New_York", "0,30 1 * * *", "2026-11-01T01:10:00-05:00",
			[]string{"2026-11-02T01:00:00-05:00"}},
		{"NY fall wall list", "America/New_York", "0,30 1 * * *", "2026-11-01T00:00:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"}},
		{"NY fall wild fires twice", "America/New_York", "*/30 * * * *", "2026-11-01T00:45:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"NY fall wild minute in hour 1", "America/New_York", "* 1 * * *", "2026-11-01T01:58:00-04:00",
			[]string{"2026-11-01T01:59:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:01:00-05:00"}},
		{"NY fall wild six fields", "America/New_York", "*/30 59 1 * * *", "2026-11-01T01:59:00-04:00",
			[]string{"2026-11-01T01:59:30-04:00", "2026-11-01T01:59:00-05:00", "2026-11-01T01:59:30-05:00", "2026-11-02T01:59:00-05:00"}},

		// Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
		{"Berlin spring wall", "Europe/Berlin", "30 2 * * *", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"Berlin spring wall six fields", "Europe/Berlin", "15 59 2 * * *", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:59:15+02:00"}},
		{"Berlin spring wild", "Europe/Berlin", "*/30 * * * *", "2026-03-29T01:00:00+01:00",
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"}},
		{"Berlin spring hourly", "Europe/Berlin", "@hourly", "2026-03-29T00:30:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"}},
		{"Berlin fall wall", "Europe/Berlin", "30 2 * * *", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"Berlin fall wild", "Europe/Berlin", "15 * * * *", "2026-10-25T01:00:00+02:00",
			[]string{"2026-10-25T01:15:00+02:00", "2026-10-25T02:15:00+02:00", "2026-10-25T02:15:00+01:00", "2026-10-25T03:15:00+01:00"}},
		{"Berlin fall wild hour step", "Europe/Berlin", "0 */2 * * *", "2026-10-25T01:00:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T04:00:00+01:00"}},

		// Australia/Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT.
		{"Sydney fall wall", "Australia/Sydney", "30 2 * * *", "2026-04-04T12:00:00+11:00",
			[]string{"2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"}},
		{"Sydney fall wild", "Australia/Sydney", "0 * * * *", "2026-04-05T01:30:00+11:00",
			[]string{"2026-04-05T02:00:00+11:00", "2026-04-05T02:00:00+10:00", "2026-04-05T03:00:00+10:00"}},
		{"Sydney spring wall", "Australia/Sydney", "30 2 * * *", "2026-10-03T12:00:00+10:00",
			[]string{"2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"}},
		{"Sydney spring wild", "Australia/Sydney", "*/30 * * * *", "2026-10-04T01:00:00+10:00",
			[]string{"2026-10-04T01:30:00+10:00", "2026-10-04T03:00:00+11:00"}},

		// Australia/Lord_Howe shifts by 30 minutes: 2026-04-05 02:00 (+11) -> 01:30 (+10:30);
		// 2026-10-04 02:00 (+10:30) -> 02:30 (+11).
		{"Lord Howe fall wall", "Australia/Lord_Howe", "45 1 * * *", "2026-04-04T12:00:00+11:00",
			[]string{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
		{"Lord Howe fall wild", "Australia/Lord_Howe", "*/15 * * * *", "2026-04-05T01:20:00+11:00",
			[]string{"2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30", "2026-04-05T02:00:00+10:30"}},
		{"Lord Howe spring wall", "Australia/Lord_Howe", "15 2 * * *", "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
		{"Lord Howe spring wall three times fire once", "Australia/Lord_Howe", "0,15,30 2 * * *", "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:00:00+11:00"}},
		{"Lord Howe spring wild", "Australia/Lord_Howe", "*/15 * * * *", "2026-10-04T01:40:00+10:30",
			[]string{"2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"}},

		// Past 2037 zones run on their POSIX rule, where Go's ZoneBounds misreports the last
		// day of a leap year (golang/go#81583); the search must neither stall nor skip it.
		{"Berlin 2040-12-31", "Europe/Berlin", "0 12 * * *", "2040-12-30T12:00:00+01:00",
			[]string{"2040-12-31T12:00:00+01:00", "2041-01-01T12:00:00+01:00"}},
		{"Sydney 2040-12-31, in DST", "Australia/Sydney", "*/30 10-11 * * *", "2040-12-31T10:15:00+11:00",
			[]string{"2040-12-31T10:30:00+11:00", "2040-12-31T11:00:00+11:00", "2040-12-31T11:30:00+11:00", "2041-01-01T10:00:00+11:00"}},

		// Pacific/Apia skipped 2011-12-30 entirely (-10:00 -> +14:00).
		{"Apia skipped day: wall fires once after the jump", "Pacific/Apia", "0 12 * * *", "2011-12-29T13:00:00-10:00",
			[]string{"2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"}},
		{"Apia skipped day: wild", "Pacific/Apia", "0 * 30 12 *", "2011-12-29T13:00:00-10:00",
			[]string{"2012-12-30T00:00:00+14:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, c.expr, zone(t, c.zone))
			got := fires(s, rfc(t, c.from), len(c.want))
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("%q in %s from %s:\n got %v\nwant %v", c.expr, c.zone, c.from, got, c.want)
			}
		})
	}
}

func TestScheduleNextFire(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, expr, from string
		want                   arbiter.Fire
		wild                   bool
	}{
		{"shifted by the gap", "Europe/Berlin", "30 2 * * *", "2026-03-29T00:00:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T03:00:00+02:00"), Nominal: "2026-03-29 02:30", Shifted: true}, false},
		{"first of two gap times", "America/New_York", "0,30 2 * * *", "2026-03-08T00:00:00-05:00",
			arbiter.Fire{At: rfc(t, "2026-03-08T03:00:00-04:00"), Nominal: "2026-03-08 02:00", Shifted: true}, false},
		{"Lord Howe half-hour gap", "Australia/Lord_Howe", "15 2 * * *", "2026-10-04T00:00:00+10:30",
			arbiter.Fire{At: rfc(t, "2026-10-04T02:30:00+11:00"), Nominal: "2026-10-04 02:15", Shifted: true}, false},
		{"seconds shown when not zero", "Europe/Berlin", "15 30 2 * * *", "2026-03-29T00:00:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T03:00:00+02:00"), Nominal: "2026-03-29 02:30:15", Shifted: true}, false},
		{"not shifted", "Europe/Berlin", "0 3 * * *", "2026-03-29T00:00:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T03:00:00+02:00"), Nominal: "2026-03-29 03:00"}, false},
		{"wild", "Europe/Berlin", "*/30 * * * *", "2026-03-29T00:45:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T03:00:00+02:00"), Nominal: "2026-03-29 03:00"}, true},
		{"hourly is wild", "UTC", "@hourly", "2026-03-29T00:45:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T01:00:00Z"), Nominal: "2026-03-29 01:00"}, true},
		{"daily is not", "UTC", "@daily", "2026-03-29T00:45:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-30T00:00:00Z"), Nominal: "2026-03-30 00:00"}, false},
		{"six fields wild by seconds", "UTC", "* 0 0 * * *", "2026-03-29T00:45:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-30T00:00:00Z"), Nominal: "2026-03-30 00:00"}, true},
		{"@every", "Asia/Kolkata", "@every 1m", "2026-03-29T00:00:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T05:31:00+05:30"), Nominal: "2026-03-29 05:31"}, true},
		{"@at", "Asia/Kolkata", "@at 2026-03-29T00:00:01Z", "2026-03-29T00:00:00Z",
			arbiter.Fire{At: rfc(t, "2026-03-29T05:30:01+05:30"), Nominal: "2026-03-29 05:30:01"}, false},
		{"never", "UTC", "@at 2026-03-29T00:00:00Z", "2026-03-29T00:00:00Z", arbiter.Fire{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			loc := zone(t, c.zone)
			s := mustParse(t, c.expr, loc)
			from := rfc(t, c.from)
			got := s.NextFire(from)
			if !got.At.Equal(c.want.At) || got.Nominal != c.want.Nominal || got.Shifted != c.want.Shifted {
				t.Errorf("NextFire = %s %q shifted=%v; want %s %q shifted=%v",
					got.At.Format(time.RFC3339), got.Nominal, got.Shifted, c.want.At.Format(time.RFC3339), c.want.Nominal, c.want.Shifted)
			}
			if !got.At.IsZero() && got.At.Location() != loc {
				t.Errorf("At is in %s, want %s", got.At.Location(), loc)
			}
			if next := s.Next(from); !next.Equal(got.At) {
				t.Errorf("Next = %s, NextFire.At = %s", next, got.At)
			}
			if s.Wild() != c.wild {
				t.Errorf("Wild() = %v, want %v", s.Wild(), c.wild)
			}
		})
	}
}

func TestScheduleAccessors(t *testing.T) {
	t.Parallel()
	ber := zone(t, "Europe/Berlin")
	at := mustParse(t, " @at 2026-12-01 09:00 ", ber)
	if got, ok := at.Once(); !ok || !got.Equal(rfc(t, "2026-12-01T09:00:00+01:00")) || got.Location() != ber {
		t.Errorf("Once() = %v, %v", got, ok)
	}
	if at.String() != "@at 2026-12-01 09:00" || at.Location() != ber || at.Every() != 0 || at.Wild() {
		t.Errorf("accessors of %q: %q %v %v %v", at, at.String(), at.Location(), at.Every(), at.Wild())
	}
	every := mustParse(t, "@every 1h30m", nil)
	if every.Every() != 90*time.Minute || every.Location() != time.UTC {
		t.Errorf("@every: Every() = %v, Location() = %v", every.Every(), every.Location())
	}
	if _, ok := every.Once(); ok {
		t.Error("Once() of @every is true")
	}
	var zero arbiter.Schedule
	if !zero.Next(time.Now()).IsZero() || zero.NextFire(time.Now()) != (arbiter.Fire{}) {
		t.Error("the zero Schedule fires")
	}
	if n, _, _ := zero.Count(time.Time{}, time.Now(), 0); n != 0 {
		t.Errorf("the zero Schedule counts %d fires", n)
	}
}

func TestScheduleCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, expr, from, to string
		limit                      int
		n                          int
		first, last                string
	}{
		{"a week of seconds", "UTC", "* * * * * *", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z", 0,
			604800, "2026-01-01T00:00:01Z", "2026-01-08T00:00:00Z"},
		{"limit", "UTC", "* * * * * *", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z", 10,
			10, "2026-01-01T00:00:01Z", "2026-01-01T00:00:10Z"},
		{"limit above the count", "UTC", "0 0 * * *", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z", 10,
			3, "2026-01-02T00:00:00Z", "2026-01-04T00:00:00Z"},
		{"from is exclusive, to inclusive", "UTC", "0 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T03:00:00Z", 0,
			3, "2026-01-01T01:00:00Z", "2026-01-01T03:00:00Z"},
		{"none", "UTC", "0 0 1 1 *", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", 0, 0, "", ""},
		{"never", "UTC", "0 0 31 2 *", "2026-01-01T00:00:00Z", "2036-12-31T00:00:00Z", 0, 0, "", ""},
		{"empty range", "UTC", "* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 0, 0, "", ""},
		{"Berlin fall day, wild", "Europe/Berlin", "*/15 * * * *", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 0,
			100, "2026-10-25T00:15:00+02:00", "2026-10-26T00:00:00+01:00"},
		{"Berlin spring day, wild", "Europe/Berlin", "*/15 * * * *", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 0,
			92, "2026-03-29T00:15:00+01:00", "2026-03-30T00:00:00+02:00"},
		{"Berlin spring, wall gap fires once", "Europe/Berlin", "0,30 2 * * *", "2026-03-28T00:00:00+01:00", "2026-03-31T00:00:00+02:00", 0,
			5, "2026-03-28T02:00:00+01:00", "2026-03-30T02:30:00+02:00"},
		{"Berlin fall, wall repeat fires once", "Europe/Berlin", "0,30 2 * * *", "2026-10-24T00:00:00+02:00", "2026-10-27T00:00:00+01:00", 0,
			6, "2026-10-24T02:00:00+02:00", "2026-10-26T02:30:00+01:00"},
		{"Lord Howe spring, wall", "Australia/Lord_Howe", "0,15,30,45 2 * * *", "2026-10-04T00:00:00+10:30", "2026-10-04T12:00:00+11:00", 0,
			2, "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"},
		{"@every", "UTC", "@every 90s", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 0,
			40, "2026-01-01T00:01:30Z", "2026-01-01T01:00:00Z"},
		{"@every limit", "UTC", "@every 90s", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 2,
			2, "2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"},
		{"@at inside", "UTC", "@at 2026-01-01T00:30:00Z", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 0,
			1, "2026-01-01T00:30:00Z", "2026-01-01T00:30:00Z"},
		{"@at outside", "UTC", "@at 2026-01-01T00:30:00Z", "2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z", 0, 0, "", ""},
		{"leap days over a century", "UTC", "0 0 29 2 *", "2000-01-01T00:00:00Z", "2100-12-31T00:00:00Z", 0,
			25, "2000-02-29T00:00:00Z", "2096-02-29T00:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, c.expr, zone(t, c.zone))
			n, first, last := s.Count(rfc(t, c.from), rfc(t, c.to), c.limit)
			format := func(v time.Time) string {
				if v.IsZero() {
					return ""
				}
				return v.Format(time.RFC3339)
			}
			if n != c.n || format(first) != c.first || format(last) != c.last {
				t.Errorf("Count = %d %s %s; want %d %s %s", n, format(first), format(last), c.n, c.first, c.last)
			}
		})
	}
}

func TestParseScheduleAccepts(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"* * * * *", "0 0 * * *", "*/5 * * * *", "0-59/5 * * * *", "1,2,3-5,*/20 * * * *",
		"0 0 * * * *", "59 59 23 31 12 7", "0 0 1 JAN-DEC SUN-SAT", "0 0 1 jan *", "0 0 * * Mon,wed,FRI",
		"0 0 * * fri-sun", "00 05 01 01 0", "* * * * */7", "*/59 * * * *", "0 */23 * * *", "0 0 */31 */12 *",
		"\t*  *\t* * *\n", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
		"@every 1s", "@every 1h30m", "@Every 90s", "@at 2026-12-01T09:00:00Z", "@at 2026-12-01T09:00:00+01:00",
		"@at 2026-12-01T09:00", "@at 2026-12-01T09:00:05", "@at 2026-12-01 09:00", "@at  2026-12-01   09:00:05",
		"0 0 31 2 *", // valid syntax, never fires
	} {
		if _, err := arbiter.ParseSchedule(expr, zone(t, "Europe/Berlin")); err != nil {
			t.Errorf("ParseSchedule(%q): %v", expr, err)
		}
	}
}

func TestParseScheduleRejects(t *testing.T) {
	t.Parallel()
	cases := []struct{ expr, zone, want string }{
		{"", "UTC", "must not be empty; give a cron expression such as '*/5 * * * *'"},
		{"   ", "UTC", "must not be empty; give a cron expression such as '*/5 * * * *'"},
		{"* * *", "UTC", `"* * *" has 3 fields; use 5 (minute hour day-of-month month day-of-week) or 6 with a leading seconds field`},
		{"* * * * * * *", "UTC", `"* * * * * * *" has 7 fields; use 5 (minute hour day-of-month month day-of-week) or 6 with a leading seconds field`},
		{"0 0 * * * 2026", "UTC", "day-of-week: 2026 is out of range 0-7 (arbiter has no year field)"},
		{"60 * * * *", "UTC", "minute: 60 is out of range 0-59"},
		{"60 * * * * *", "UTC", "second: 60 is out of range 0-59"},
		{"* 24 * * *", "UTC", "hour: 24 is out of range 0-23"},
		{"* * 0 * *", "UTC", "day-of-month: 0 is out of range 1-31"},
		{"* * 32 * *", "UTC", "day-of-month: 32 is out of range 1-31"},
		{"* * * 0 *", "UTC", "month: 0 is out of range 1-12"},
		{"* * * 13 *", "UTC", "month: 13 is out of range 1-12"},
		{"* * * * 8", "UTC", "day-of-week: 8 is out of range 0-7"},
		{"99999999999999999999 * * * *", "UTC", "minute: 99999999999999999999 is out of range 0-59"},
		{"* 5-3 * * *", "UTC", "hour: range 5-3 is not ascending"},
		{"* * * * FRI-MON", "UTC", "day-of-week: range FRI-MON is not ascending"},
		{"* * * * 5-0", "UTC", "day-of-week: range 5-0 is not ascending"},
		{"* * * * */0", "UTC", "day-of-week: step 0 must be at least 1"},
		{"*/60 * * * *", "UTC", "minute: step 60 is out of range 1-59"},
		{"*/5/2 * * * *", "UTC", `minute: "*/5/2" has more than one step`},
		{"*/x * * * *", "UTC", `minute: step "x" is not a number`},
		{"*/ * * * *", "UTC", `minute: step "" is not a number`},
		{"5/10 * * * *", "UTC", `minute: "5/10" steps from a single value; write 5-59/10 or */10`},
		{"1-2-3 * * * *", "UTC", `minute: "1-2-3" is not a range; write it as a-b, e.g. 1-5`},
		{"-5 * * * *", "UTC", `minute: "-5" is not a range; write it as a-b, e.g. 1-5`},
		{"*-5 * * * *", "UTC", `minute: "*-5" is not a range; write it as a-b, e.g. 1-5`},
		{"+5 * * * *", "UTC", `minute: "+5" is not a number 0-59`},
		{"٣ * * * *", "UTC", `minute: "٣" is not a number 0-59`},
		{"1,,2 * * * *", "UTC", `minute: "1,,2" has an empty item in its list`},
		{"1, * * * *", "UTC", `minute: "1," has an empty item in its list`},
		{"* * * MON *", "UTC", `month: "MON" is a day name, not a month`},
		{"* * * * jan", "UTC", `day-of-week: "jan" is a month name, not a day`},
		{"MON * * * *", "UTC", `minute: "MON" is a day name; names work only in the day-of-week field`},
		{"* * JAN * *", "UTC", `day-of-month: "JAN" is a month name; names work only in the month field`},
		{"* * * JANUARY *", "UTC", `month: "JANUARY" is not a number 1-12 or a month name (JAN-DEC)`},
		{"* * * * MONDAY", "UTC", `day-of-week: "MONDAY" is not a number 0-7 or a day name (SUN-SAT)`},
		{"* * ? * *", "UTC", `day-of-month: "?" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"* * L * *", "UTC", `day-of-month: "L" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"* * 15W * *", "UTC", `day-of-month: "15W" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"* * * * 5L", "UTC", `day-of-week: "5L" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"* * * * 5#3", "UTC", `day-of-week: "5#3" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"H * * * *", "UTC", `minute: "H" is Quartz/Jenkins syntax (? L W # H), which arbiter does not support`},
		{"@reboot", "UTC", `unknown macro "@reboot"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION or @at TIME`},
		{"@daily 5", "UTC", `unknown macro "@daily 5"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION or @at TIME`},
		{"@every", "UTC", `@every needs a duration such as 90s or 1h30m, got ""`},
		{"@every soon", "UTC", `@every needs a duration such as 90s or 1h30m, got "soon"`},
		{"@every 500ms", "UTC", "@every 500ms is shorter than the minimum of 1s"},
		{"@every -1h", "UTC", "@every -1h0m0s is shorter than the minimum of 1s"},
		{"@at tomorrow", "UTC", `@at needs a time such as 2026-12-01T09:00:00+01:00, 2026-12-01T08:00:00Z or 2026-12-01 09:00 (local to the job's zone), got "tomorrow"`},
		{"@at 2026-13-01T09:00", "UTC", `@at needs a time such as 2026-12-01T09:00:00+01:00, 2026-12-01T08:00:00Z or 2026-12-01 09:00 (local to the job's zone), got "2026-13-01T09:00"`},
		{"@at 2026-12-01T09:00:00.5Z", "UTC", "@at 2026-12-01T09:00:00.5Z: give whole seconds"},
		{"@at 2026-03-29 02:30", "Europe/Berlin", "@at 2026-03-29 02:30 does not exist in Europe/Berlin: the clocks jump from 02:00 to 03:00 that day; pick a time outside the gap"},
		{"@at 2026-03-08T02:15:30", "America/New_York", "@at 2026-03-08 02:15:30 does not exist in America/New_York: the clocks jump from 02:00 to 03:00 that day; pick a time outside the gap"},
		{"@at 2011-12-30 12:00", "Pacific/Apia", "@at 2011-12-30 12:00 does not exist in Pacific/Apia: the clocks jump from 2011-12-30 00:00 to 2011-12-31 00:00 that day; pick a time outside the gap"},
		{"@at 2026-10-04 02:10", "Australia/Lord_Howe", "@at 2026-10-04 02:10 does not exist in Australia/Lord_Howe: the clocks jump from 02:00 to 02:30 that day; pick a time outside the gap"},
	}
	for _, c := range cases {
		_, err := arbiter.ParseSchedule(c.expr, zone(t, c.zone))
		var inv *arbiter.InvalidError
		if !errors.As(err, &inv) || inv.Field != "schedule" {
			t.Errorf("ParseSchedule(%q) = %v; want an *InvalidError for field schedule", c.expr, err)
			continue
		}
		if inv.Message != c.want {
			t.Errorf("ParseSchedule(%q):\n got %s\nwant %s", c.expr, inv.Message, c.want)
		}
		if !errors.Is(err, arbiter.ErrInvalid) {
			t.Errorf("ParseSchedule(%q) does not match ErrInvalid", c.expr)
		}
	}
}
