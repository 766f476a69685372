package arbiter

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/adhocore/gronx"
)

// gronx decides which values a cron field matches; arbiter decides which syntax is allowed
// (cronField.validate refuses everything gronx would accept beyond crontab(5)) and what the
// matched wall-clock times mean in a zone (cron_time.go).

var sunEndsRange = regexp.MustCompile(`(?i)-sun`)

// fieldSets caches the value set of each (field, text): jobs share most of their fields ("*",
// "0", "*/5"), so loading many jobs asks gronx about each distinct field once.
var fieldSets sync.Map // fieldKey → uint64

type fieldKey struct {
	field int
	text  string
}

// gronxSet returns the set of values (bit v: value v) that gronx matches for field i (seconds
// first) written as text, which must already be valid.
func gronxSet(i int, text string) uint64 {
	key := fieldKey{i, text}
	if set, ok := fieldSets.Load(key); ok {
		return set.(uint64)
	}
	probe := []string{"*", "*", "*", "*", "*", "*"}
	probe[i] = text
	if i == 5 {
		// SUN ending a range is 7 (FRI-SUN); gronx would read it as 0 and the range as empty.
		probe[i] = sunEndsRange.ReplaceAllString(text, "-7")
	}
	expr := strings.Join(probe, " ")
	g := gronx.New()
	f := cronFields[i]
	var set uint64
	for v := f.lo; v <= f.hi; v++ {
		if due, err := g.IsDue(expr, probeTime(i, v)); err == nil && due {
			set |= 1 << v
		}
	}
	fieldSets.Store(key, set)
	return set
}

// probeTime is a time whose field i has value v. January 2000 has 31 days, and its 2nd is a
// Sunday, so day-of-week v falls on the (2+v)th.
func probeTime(i, v int) time.Time {
	sec, min, hour, day, month := 0, 0, 0, 1, time.January
	switch i {
	case 0:
		sec = v
	case 1:
		min = v
	case 2:
		hour = v
	case 3:
		day = v
	case 4:
		month = time.Month(v)
	case 5:
		day = 2 + v%7 // 7 is Sunday too
	}
	return time.Date(2000, month, day, hour, min, sec, 0, time.UTC)
}
