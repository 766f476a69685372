package arbiter

import (
	"math"
	"math/bits"
	"time"
)

// The searches below work on two scales of whole seconds: instants (Unix seconds) and civil
// times (the wall clock read as if it were UTC, i.e. instant + UTC offset). A zone is walked
// span by span, a span being a run of instants with one offset (time.Time.ZoneBounds); inside a
// span civil = instant + offset is monotonic, so each span is one search on the civil scale.
//
// Fires of a wild schedule are the instants whose wall clock matches. Fires of a wall-clock
// schedule are, for each matching civil time, its first instant; civil times a spring-forward
// gap swallowed all fire at the first instant after the gap. Both rules map civil order onto
// instant order, which is why Next, the reverse search and Count can agree span by span.

const (
	daySecs = 86400
	minUnix = -62135596800 // 0001-01-01T00:00:00Z; no fires are computed before it
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z; nor after it
	// horizon bounds a search for the next fire. Schedules that can never fire are caught at
	// parse time; the longest wait of any other, Feb 29 on one weekday, is under 50 years. The
	// horizon only stops wild schedules whose every fire falls into DST gaps, so it can be
	// generous: one Gregorian cycle.
	horizon = 401 * 366 * daySecs
)

// zoneSpan is a run of instants [start, end) with one UTC offset. prevOff is the offset before
// start; open ends are math.MinInt64 and math.MaxInt64 (then prevOff == off).
type zoneSpan struct {
	start, end   int64
	off, prevOff int64
}

// spanAt is the span containing x. The caller looks no earlier than near: when start is more than
// two days before that, the offset change at start cannot matter (offsets differ by less than a
// day), so prevOff is set to off without a third zone lookup, which costs about 150ns.
func spanAt(loc *time.Location, x, near int64) zoneSpan {
	t := time.Unix(x, 0).In(loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	z := zoneSpan{start: math.MinInt64, end: math.MaxInt64, off: int64(off), prevOff: int64(off)}
	if !start.IsZero() {
		z.start = min(start.Unix(), x) // a start after x would be a lie; x itself is always safe
		if z.start > near-2*daySecs {
			z.prevOff = int64(offsetAt(loc, z.start-1))
		}
	}
	if !end.IsZero() {
		z.end = end.Unix()
	}
	if z.end <= x {
		// Go's ZoneBounds ends the span before x on the last UTC day of a leap year in the
		// range of a zone's POSIX TZ rule (golang/go#81583), which would stall the walk. Zones
		// do not change offset twice within two days: bisect (x, x+2d] for the next change.
		lo, hi := x, x+2*daySecs
		if offsetAt(loc, hi) == off {
			lo = hi
		}
		for hi-lo > 1 {
			if mid := lo + (hi-lo)/2; offsetAt(loc, mid) == off {
				lo = mid
			} else {
				hi = mid
			}
		}
		z.end = hi
	}
	return z
}

// firstCivil is where the civil times of span z start being new. After a fall-back, the civil
// times before start+prevOff already happened in the previous span; a wall-clock schedule fired
// them there.
func (c *cronSpec) firstCivil(z zoneSpan) int64 {
	if c.wild || z.start == math.MinInt64 || z.prevOff <= z.off {
		return math.MinInt64
	}
	return z.start + z.prevOff
}

// gapFire reports whether a wall-clock schedule fires at z.start for civil times that the
// spring-forward gap before it swallowed, and the first of them.
func (c *cronSpec) gapFire(z zoneSpan) (int64, bool) {
	if c.wild || z.start == math.MinInt64 || z.prevOff >= z.off {
		return 0, false
	}
	return c.nextCivil(z.start+z.prevOff, z.start+z.off)
}

// cronFire is a fire: its instant, the civil time the expression named, and whether a gap moved it.
type cronFire struct {
	at, nominal int64
	shifted     bool
}

// next is the first fire in [lo, end).
func (c *cronSpec) next(loc *time.Location, lo, end int64) (cronFire, bool) {
	if c.never {
		return cronFire{}, false
	}
	lo, end = max(lo, minUnix), min(end, maxUnix+1)
	for x := lo; x < end; {
		z := spanAt(loc, x, x)
		if z.start == x {
			if n, ok := c.gapFire(z); ok {
				return cronFire{at: x, nominal: n, shifted: true}, true
			}
		}
		stop := min(z.end, end)
		if n, ok := c.nextCivil(max(x+z.off, c.firstCivil(z)), stop+z.off); ok {
			return cronFire{at: n - z.off, nominal: n}, true
		}
		x = stop
	}
	return cronFire{}, false
}

// prev is the last fire in [lo, hi].
func (c *cronSpec) prev(loc *time.Location, lo, hi int64) (int64, bool) {
	if c.never {
		return 0, false
	}
	lo, hi = max(lo, minUnix), min(hi, maxUnix)
	for x := hi; x >= lo; {
		z := spanAt(loc, x, lo)
		from := max(max(z.start, lo)+z.off, c.firstCivil(z))
		if n, ok := c.prevCivil(x+z.off, from); ok {
			return n - z.off, true
		}
		if z.start < lo {
			break
		}
		if _, ok := c.gapFire(z); ok {
			return z.start, true
		}
		x = z.start - 1
	}
	return 0, false
}

// count is the number of fires in [lo, hi].
func (c *cronSpec) count(loc *time.Location, lo, hi int64) int64 {
	if c.never {
		return 0
	}
	lo, hi = max(lo, minUnix), min(hi, maxUnix)
	var n int64
	for x := lo; x <= hi; {
		z := spanAt(loc, x, x)
		stop := min(z.end, hi+1)
		n += c.countCivil(max(x+z.off, c.firstCivil(z)), stop+z.off)
		if z.start == x && !c.matchesCivil(x+z.off) {
			if _, ok := c.gapFire(z); ok {
				n++ // the gap's fire, unless the span's first civil time fires at that instant anyway
			}
		}
		x = stop
	}
	return n
}

// nextCivil is the first matching civil time in [from, end).
func (c *cronSpec) nextCivil(from, end int64) (int64, bool) {
	if from >= end {
		return 0, false
	}
	day, sod := floorDiv(from, daySecs)
	y, m, d := civilFromDays(day)
	first := day - int64(d-1) // the month's first day
	for first*daySecs < end {
		mask := c.monthDays(y, m, first) &^ (uint32(1)<<d - 1)
		for ; mask != 0; mask &= mask - 1 {
			dd := bits.TrailingZeros32(mask)
			if dd != d {
				sod = 0
			}
			if tod, ok := c.nextTOD(sod); ok {
				n := (first+int64(dd-1))*daySecs + tod
				return n, n < end
			}
		}
		first += int64(daysIn(y, m))
		y, m, d, sod = nextMonth(y, m)
	}
	return 0, false
}

// prevCivil is the last matching civil time in [from, to].
func (c *cronSpec) prevCivil(to, from int64) (int64, bool) {
	if to < from {
		return 0, false
	}
	day, sod := floorDiv(to, daySecs)
	y, m, d := civilFromDays(day)
	first := day - int64(d-1)
	for (first+int64(daysIn(y, m)))*daySecs > from {
		mask := c.monthDays(y, m, first) & (uint32(2)<<d - 1) // uint32(2)<<31 wraps to 0: all days
		for mask != 0 {
			dd := 31 - bits.LeadingZeros32(mask)
			if dd != d {
				sod = daySecs - 1
			}
			if tod, ok := c.prevTOD(sod); ok {
				n := (first+int64(dd-1))*daySecs + tod
				return n, n >= from
			}
			mask &^= 1 << dd
		}
		if m == 1 {
			y, m = y-1, 12
		} else {
			m--
		}
		d = daysIn(y, m)
		first -= int64(d)
		sod = daySecs - 1
	}
	return 0, false
}

// countCivil is the number of matching civil times in [from, end), computed per day.
func (c *cronSpec) countCivil(from, end int64) int64 {
	if from >= end {
		return 0
	}
	d0, s0 := floorDiv(from, daySecs)
	d1, s1 := floorDiv(end, daySecs)
	if d0 == d1 {
		if c.matchesDay(d0) {
			return c.countTOD(s1) - c.countTOD(s0)
		}
		return 0
	}
	var n int64
	if c.matchesDay(d0) {
		n += c.perDay - c.countTOD(s0)
	}
	n += c.countDays(d0+1, d1) * c.perDay
	if c.matchesDay(d1) {
		n += c.countTOD(s1)
	}
	return n
}

func (c *cronSpec) matchesCivil(n int64) bool {
	_, ok := c.nextCivil(n, n+1)
	return ok
}

func (c *cronSpec) matchesDay(day int64) bool {
	y, m, d := civilFromDays(day)
	return c.monthDays(y, m, day-int64(d-1))&(1<<d) != 0
}

// countDays is the number of matching days in [d0, d1).
func (c *cronSpec) countDays(d0, d1 int64) int64 {
	var n int64
	y, m, d := civilFromDays(d0)
	first := d0 - int64(d-1)
	for first < d1 {
		mask := c.monthDays(y, m, first) &^ (uint32(1)<<d - 1)
		if last := d1 - first; last < 31 { // only days 1..last are before d1
			mask &= uint32(2)<<last - 1
		}
		n += int64(bits.OnesCount32(mask))
		first += int64(daysIn(y, m))
		y, m, d, _ = nextMonth(y, m)
	}
	return n
}

// monthDays are the days (bits 1-31) of month m of year y that fire; first is the month's
// first day (days since 1970-01-01).
func (c *cronSpec) monthDays(y int64, m int, first int64) uint32 {
	if c.month&(1<<m) == 0 {
		return 0
	}
	valid := uint32(1)<<(daysIn(y, m)+1) - 2
	dom := uint32(c.dom) & valid
	dow := c.dowDays[mod(first+4, 7)] & valid // 1970-01-01 was a Thursday
	if c.dayOr {
		return dom | dow
	}
	return dom & dow
}

// nextTOD is the first matching time of day (seconds since midnight) at or after sod.
func (c *cronSpec) nextTOD(sod int64) (int64, bool) {
	h, m, s := int(sod/3600), int(sod/60%60), int(sod%60)
	for {
		nh, ok := nextBit(c.hour, h)
		if !ok {
			return 0, false
		}
		if nh != h {
			h, m, s = nh, 0, 0
		}
		for {
			nm, ok := nextBit(c.min, m)
			if !ok {
				break
			}
			if nm != m {
				m, s = nm, 0
			}
			if ns, ok := nextBit(c.sec, s); ok {
				return int64(h*3600 + m*60 + ns), true
			}
			m, s = m+1, 0
		}
		h, m, s = h+1, 0, 0
	}
}

// prevTOD is the last matching time of day at or before sod.
func (c *cronSpec) prevTOD(sod int64) (int64, bool) {
	h, m, s := int(sod/3600), int(sod/60%60), int(sod%60)
	for {
		ph, ok := prevBit(c.hour, h)
		if !ok {
			return 0, false
		}
		if ph != h {
			h, m, s = ph, 59, 59
		}
		for {
			pm, ok := prevBit(c.min, m)
			if !ok {
				break
			}
			if pm != m {
				m, s = pm, 59
			}
			if ps, ok := prevBit(c.sec, s); ok {
				return int64(h*3600 + m*60 + ps), true
			}
			m, s = m-1, 59
		}
		h, m, s = h-1, 59, 59
	}
}

// countTOD is the number of matching times of day before sod (0 ≤ sod ≤ 86400).
func (c *cronSpec) countTOD(sod int64) int64 {
	if sod >= daySecs {
		return c.perDay
	}
	h, m, s := uint(sod/3600), uint(sod/60%60), uint(sod%60)
	below := func(set uint64, v uint) int64 { return int64(bits.OnesCount64(set & (1<<v - 1))) }
	mins, secs := int64(bits.OnesCount64(c.min)), int64(bits.OnesCount64(c.sec))
	n := below(c.hour, h) * mins * secs
	if c.hour&(1<<h) != 0 {
		n += below(c.min, m) * secs
		if c.min&(1<<m) != 0 {
			n += below(c.sec, s)
		}
	}
	return n
}

// nextBit is the lowest set bit of set at or above v.
func nextBit(set uint64, v int) (int, bool) {
	if v > 63 {
		return 0, false
	}
	set &= ^uint64(0) << v
	return bits.TrailingZeros64(set), set != 0
}

// prevBit is the highest set bit of set at or below v.
func prevBit(set uint64, v int) (int, bool) {
	if v < 0 {
		return 0, false
	}
	set &= uint64(2)<<v - 1
	return 63 - bits.LeadingZeros64(set), set != 0
}

// floorDiv splits n into n/d rounded down and the non-negative remainder.
func floorDiv(n, d int64) (int64, int64) {
	q, r := n/d, n%d
	if r < 0 {
		q, r = q-1, r+d
	}
	return q, r
}

func mod(n, d int64) int { _, r := floorDiv(n, d); return int(r) }

func nextMonth(y int64, m int) (int64, int, int, int64) {
	if m == 12 {
		return y + 1, 1, 1, 0
	}
	return y, m + 1, 1, 0
}

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm: exact, no loops, no time.Time).
func civilFromDays(z int64) (y int64, m, d int) {
	era, doe := floorDiv(z+719468, 146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}
