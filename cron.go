package arbiter

import (
	"math/bits"
	"strconv"
	"strings"
)

// cronSpec is a parsed cron expression: one bitset per field (bit v set: value v fires), plus
// what the searches in cron_time.go need precomputed. It is comparable, so Schedule stays so.
type cronSpec struct {
	sec, min, hour uint64
	dom            uint64 // bits 1-31
	month          uint64 // bits 1-12
	dow            uint64 // bits 0-6, Sunday 0 (a 7 is folded onto 0)
	// dayOr: both day fields are restricted, so a day matching either fires (crontab(5));
	// otherwise a day must match both.
	dayOr bool
	// wild: the seconds, minute or hour field starts with '*', so the schedule follows real
	// time across DST changes instead of the wall clock (cronie's rule).
	wild bool
	// never: no month in the month field has any of the days in the day-of-month field (Feb 30),
	// in intersection mode. Decided at parse time so Next need not search for centuries.
	never bool
	// perDay is the number of fire times in a matching day.
	perDay int64
	// dowDays[w] are the days 1-31 of a month whose 1st is weekday w that fall on a day in dow.
	dowDays [7]uint32
}

// cronField describes one field of a cron expression.
type cronField struct {
	name   string
	lo, hi int
	names  []string // the names the field accepts, indexed by value; nil: numbers only
}

var (
	monthNames = []string{"", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	cronFields = [6]cronField{
		{"second", 0, 59, nil},
		{"minute", 0, 59, nil},
		{"hour", 0, 23, nil},
		{"day-of-month", 1, 31, nil},
		{"month", 1, 12, monthNames},
		{"day-of-week", 0, 7, dayNames},
	}
)

// parseCron parses six fields, seconds first.
func parseCron(fields []string) (cronSpec, error) {
	var sets [6]uint64
	for i, f := range fields {
		if err := cronFields[i].validate(f); err != nil {
			if i == 5 && len(f) == 4 && isDigits(f) {
				// The classic mistake of a Quartz/gronx-style year field.
				err = Invalidf("schedule", "day-of-week: %s is out of range 0-7 (arbiter has no year field)", f)
			}
			return cronSpec{}, err
		}
		sets[i] = gronxSet(i, f)
	}
	c := cronSpec{sec: sets[0], min: sets[1], hour: sets[2], dom: sets[3], month: sets[4], dow: sets[5]}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1 // Sunday is 0 or 7
	}
	c.dayOr = fields[3][0] != '*' && fields[5][0] != '*'
	c.wild = fields[0][0] == '*' || fields[1][0] == '*' || fields[2][0] == '*'
	c.perDay = int64(bits.OnesCount64(c.hour) * bits.OnesCount64(c.min) * bits.OnesCount64(c.sec))
	for w := range 7 {
		for d := 1; d <= 31; d++ {
			if c.dow&(1<<((w+d-1)%7)) != 0 {
				c.dowDays[w] |= 1 << d
			}
		}
	}
	// In union mode every month has days of the week in dow. In intersection mode every
	// (month, day) that exists at all recurs on each weekday within the 400-year Gregorian
	// cycle, so the schedule fires iff some month in the field has some day in the field.
	c.never = !c.dayOr
	for m := 1; m <= 12 && c.never; m++ {
		if c.month&(1<<m) != 0 && c.dom&(uint64(1)<<(daysIn(2000, m)+1)-2) != 0 {
			c.never = false
		}
	}
	return c, nil
}

// validate checks one field against crontab(5): a comma list of *, a value, a range a-b, or a
// step */n or a-b/n.
func (f cronField) validate(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			return f.errorf("%q has an empty item in its list", s)
		}
		base, stepText, hasStep := strings.Cut(item, "/")
		if hasStep {
			if strings.Contains(stepText, "/") {
				return f.errorf("%q has more than one step", item)
			}
			if !isDigits(stepText) {
				return f.errorf("step %q is not a number", stepText)
			}
			n, _ := strconv.Atoi(stepText)
			if len(strings.TrimLeft(stepText, "0")) > 2 || n > f.hi {
				return f.errorf("step %s is out of range 1-%d", stepText, f.hi)
			}
			if n < 1 {
				return f.errorf("step %s must be at least 1", stepText)
			}
		}
		switch {
		case base == "*":
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			if a == "" || b == "" || a == "*" || b == "*" || strings.Contains(b, "-") {
				return f.errorf("%q is not a range; write it as a-b, e.g. 1-5", base)
			}
			lo, err := f.value(a)
			if err != nil {
				return err
			}
			hi, err := f.value(b)
			if err != nil {
				return err
			}
			if f.names != nil && hi == 0 && lo > 0 && strings.EqualFold(b, "SUN") {
				hi = 7 // FRI-SUN: the name of Sunday ends a range as 7
			}
			if lo > hi {
				return f.errorf("range %s-%s is not ascending", a, b)
			}
		default:
			if _, err := f.value(base); err != nil {
				return err
			}
			if hasStep {
				// cronie reads 5/10 as 5-max/10, other crons differently; say what is meant.
				return f.errorf("%q steps from a single value; write %s-%d/%s or */%s", item, base, f.hi, stepText, stepText)
			}
		}
	}
	return nil
}

// value parses one number or name of the field.
func (f cronField) value(tok string) (int, error) {
	if isDigits(tok) {
		n, _ := strconv.Atoi(tok)
		if len(strings.TrimLeft(tok, "0")) > 2 || n < f.lo || n > f.hi { // no field goes past 59
			return 0, f.errorf("%s is out of range %d-%d", tok, f.lo, f.hi)
		}
		return n, nil
	}
	up := strings.ToUpper(tok)
	if i := index(f.names, up); i >= 0 {
		return i, nil
	}
	switch {
	case index(monthNames, up) > 0 && f.name == "day-of-week":
		return 0, f.errorf("%q is a month name, not a day", tok)
	case index(dayNames, up) >= 0 && f.name == "month":
		return 0, f.errorf("%q is a day name, not a month", tok)
	case index(monthNames, up) > 0:
		return 0, f.errorf("%q is a month name; names work only in the month field", tok)
	case index(dayNames, up) >= 0:
		return 0, f.errorf("%q is a day name; names work only in the day-of-week field", tok)
	case isQuartz(up):
		return 0, f.errorf("%q is Quartz/Jenkins syntax (? L W # H), which arbiter does not support", tok)
	case f.name == "month":
		return 0, f.errorf("%q is not a number 1-12 or a month name (JAN-DEC)", tok)
	case f.name == "day-of-week":
		return 0, f.errorf("%q is not a number 0-7 or a day name (SUN-SAT)", tok)
	}
	return 0, f.errorf("%q is not a number %d-%d", tok, f.lo, f.hi)
}

func (f cronField) errorf(format string, args ...any) error {
	return Invalidf("schedule", f.name+": "+format, args...)
}

// isDigits reports whether s is a non-empty run of ASCII digits: no signs, spaces or other
// scripts' digits, which strconv would partly accept.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isQuartz(up string) bool {
	if strings.ContainsAny(up, "?#") || up == "L" || up == "LW" || up == "H" {
		return true
	}
	n := len(up)
	return n > 1 && (up[n-1] == 'L' || up[n-1] == 'W') && isDigits(up[:n-1])
}

func index(names []string, s string) int {
	for i, n := range names {
		if n != "" && n == s {
			return i
		}
	}
	return -1
}
