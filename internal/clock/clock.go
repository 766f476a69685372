// Package clock lets the scheduler's notion of time be replaced in tests, so timing behaviour is
// proven without sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the scheduler uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }

// Reset relies on Go 1.23 timer semantics: Reset and Stop discard a pending tick, so no stale
// value is read after a reset.
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }

// Fake is a manual clock: time moves only when Advance or Set is called, and timers whose time
// has come fire then.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a fake clock set to now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{clock: f, c: make(chan time.Time, 1)}
	t.resetLocked(d)
	f.timers = append(f.timers, t)
	return t
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t (backwards too, as a wall-clock step would) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
	for _, tm := range f.timers {
		if tm.armed && !tm.when.After(t) {
			tm.armed = false
			select {
			case tm.c <- t:
			default:
			}
		}
	}
}

// Armed reports how many timers are waiting; tests use it to know the scheduler is asleep.
func (f *Fake) Armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tm := range f.timers {
		if tm.armed {
			n++
		}
	}
	return n
}

type fakeTimer struct {
	clock *Fake
	c     chan time.Time
	when  time.Time
	armed bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.resetLocked(d)
}

func (t *fakeTimer) resetLocked(d time.Duration) {
	select { // drop a pending tick, as real timers do since Go 1.23
	case <-t.c:
	default:
	}
	t.when = t.clock.now.Add(d)
	t.armed = true
	if d <= 0 {
		t.armed = false
		t.c <- t.clock.now
	}
}

func (t *fakeTimer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.armed = false
	select {
	case <-t.c:
	default:
	}
}
