package daemon

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
)

// maxSleep bounds how long the scheduler sleeps even with nothing due: timers run on the
// monotonic clock, so a step of the wall clock (NTP, a manual date change) or a suspend is
// noticed within this bound rather than at the next far-away fire.
const maxSleep = time.Minute

// lateTolerance is how late a fire may be and still run as an ordinary scheduled fire. Fires
// later than this were missed (the daemon was down, suspended, or the clock jumped) and follow
// the job's catch-up rule instead.
const lateTolerance = 10 * time.Second

// dueFire is what the scheduler hands to the daemon: a fire to materialize, or a record of
// fires that were missed.
type dueFire struct {
	job     string
	loc     *time.Location  // the job's zone, to word a missed record
	catchup time.Duration   // the job's catch-up window, to word a missed record
	at      time.Time       // the fire time; for a missed record, the first missed fire
	trigger arbiter.Trigger // TriggerSchedule or TriggerCatchup; "" for a missed record
	missed  int             // > 0: a missed record standing for this many fires
	until   time.Time       // the last fire of a missed record
	cause   string          // why fires were missed, for the record's reason
}

// fireFunc materializes one due fire. Fires of one job are handed over one at a time, in fire
// time order; fires of different jobs due together are handed over concurrently, so that their
// store writes share commits.
type fireFunc func(ctx context.Context, f dueFire)

// scheduler keeps the next fire time of every active job in a heap and sleeps on one timer until
// the earliest is due. It never scans all jobs on its own: a change to a job touches only its
// own entry, and only a backwards step of the wall clock recomputes every entry.
type scheduler struct {
	clock   clock.Clock
	log     *slog.Logger
	fire    fireFunc
	started time.Time // fires due before this were missed while the daemon was down

	mu      sync.Mutex
	entries map[string]*entry
	queue   fireQueue
	wake    chan struct{}
	lastNow time.Time // the wall-clock time of the previous look, to notice backward steps
}

// entry is one job in the heap. It keeps only what planning needs, not the whole job: with
// 100,000 jobs every byte here counts a hundred thousand times. The daemon loads the job itself
// when a fire is due.
type entry struct {
	name     string
	schedule string // the job's schedule and zone as given, to tell whether an update moves them
	timezone string
	catchup  time.Duration
	sched    arbiter.Schedule
	next     time.Time
	index    int // position in the heap
}

func newScheduler(c clock.Clock, log *slog.Logger, fire fireFunc) *scheduler {
	return &scheduler{
		clock:   c,
		log:     log,
		fire:    fire,
		started: c.Now(),
		entries: make(map[string]*entry),
		wake:    make(chan struct{}, 1),
	}
}

// Set adds or replaces a job, to fire from now on. A paused job, or one whose schedule never
// fires again, is taken out of the heap. When the schedule and zone are unchanged the pending
// fire time is kept, so editing a job's command does not move its @every anchor.
func (s *scheduler) Set(job arbiter.Job) error {
	return s.set(job, time.Time{})
}

// Resume adds a job at start-up, to fire from its first fire after anchor (the last fire
// accounted for): fires the daemon missed while it was down are then due at once and go
// through the catch-up rule.
func (s *scheduler) Resume(job arbiter.Job, anchor time.Time) error {
	return s.set(job, anchor)
}

func (s *scheduler) set(job arbiter.Job, anchor time.Time) error {
	loc, err := arbiter.LoadZone(job.Timezone)
	if err != nil {
		return err
	}
	sched, err := arbiter.ParseSchedule(job.Schedule, loc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.entries[job.Name]
	if job.Paused {
		s.removeLocked(job.Name)
		return nil
	}
	if ok && anchor.IsZero() && old.schedule == job.Schedule && old.timezone == job.Timezone {
		old.catchup = job.Catchup
		return nil
	}
	s.removeLocked(job.Name)
	if anchor.IsZero() {
		anchor = s.clock.Now()
	}
	next := sched.Next(anchor)
	if next.IsZero() {
		return nil
	}
	e := &entry{name: job.Name, schedule: job.Schedule, timezone: job.Timezone, catchup: job.Catchup, sched: sched, next: next}
	s.entries[job.Name] = e
	heap.Push(&s.queue, e)
	s.poke()
	return nil
}

// restart makes fires due before now count as missed while nothing fired them, as at start-up:
// for a node of a cluster that has just become the scheduler.
func (s *scheduler) restart(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = now
}

// retain forgets every job not in names.
func (s *scheduler) retain(names map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.entries {
		if !names[name] {
			s.removeLocked(name)
		}
	}
}

// Remove forgets a job.
func (s *scheduler) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(name)
}

func (s *scheduler) removeLocked(name string) {
	if e, ok := s.entries[name]; ok {
		heap.Remove(&s.queue, e.index)
		delete(s.entries, name)
		s.poke()
	}
}

// Next is the job's next fire time, or zero when it has none (paused, unknown, never again).
func (s *scheduler) Next(name string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[name]; ok {
		return e.next
	}
	return time.Time{}
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires due jobs until ctx is done.
func (s *scheduler) Run(ctx context.Context) {
	timer := s.clock.NewTimer(maxSleep)
	defer timer.Stop()
	for {
		due, wait := s.takeDue()
		s.fireAll(ctx, due)
		if len(due) > 0 {
			continue // firing took time; look again before sleeping
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// takeDue plans every job whose next fire has come, advances it past now, and says how long to
// sleep.
func (s *scheduler) takeDue() ([]dueFire, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	// Compare wall-clock readings only (Round(0) drops the monotonic one): a backward step means
	// every pending fire is now further away than its schedule says. Start again from now; fires
	// already materialized on the old timeline are kept from running twice by the store's
	// unique (job, fire time) key.
	if wall := now.Round(0); !s.lastNow.IsZero() && wall.Before(s.lastNow.Add(-time.Second)) {
		s.log.Warn("the wall clock stepped backwards; recomputing every job's next fire", "by", s.lastNow.Sub(wall))
		for _, e := range s.entries {
			e.next = e.sched.Next(now)
		}
		heap.Init(&s.queue)
	}
	s.lastNow = now.Round(0)

	var due []dueFire
	for s.queue.Len() > 0 && !s.queue[0].next.After(now) {
		e := s.queue[0]
		fires, latest := s.plan(e, now)
		due = append(due, fires...)
		// From the latest fire, not from now: an @every chain keeps its anchor.
		next := e.sched.Next(latest)
		if next.IsZero() {
			heap.Pop(&s.queue)
			delete(s.entries, e.name)
			continue
		}
		e.next = next
		heap.Fix(&s.queue, 0)
	}
	wait := maxSleep
	if s.queue.Len() > 0 {
		wait = min(s.queue[0].next.Sub(now), maxSleep)
	}
	return due, wait
}

// plan decides what happens to a job's fires from e.next through now. Fires at most
// lateTolerance late (and due since the daemon started) run as scheduled. Older ones were missed: if the job has a catch-up window
// and nothing ran on time, the latest missed fire within the window runs once as a catch-up
// run; every other missed fire is accounted for by one missed record with their count and range.
// It also returns the latest of those fires, where the job's chain of fires continues.
func (s *scheduler) plan(e *entry, now time.Time) (fires []dueFire, latest time.Time) {
	// Fires from onTimeFrom on are on time: at most lateTolerance late, and due since the daemon
	// started (a fire due before the start was missed however recently, so the catch-up rule
	// runs it at most once instead of replaying every fire of a short restart).
	onTimeFrom := now.Add(-lateTolerance)
	if onTimeFrom.Before(s.started) {
		onTimeFrom = s.started
	}
	// Count counts the fires in (from, to] along the schedule's chain, so start just before
	// e.next: for @every, one interval before it (its chain is anchored at the previous fire).
	before := e.next.Add(-time.Nanosecond)
	if every := e.sched.Every(); every > 0 {
		before = e.next.Add(-every)
	}
	missed, first, last := e.sched.Count(before, onTimeFrom.Add(-time.Nanosecond), 0)

	var onTime []dueFire
	latest = before
	if missed > 0 {
		latest = last // continue the chain of fires (an @every anchor) after the last missed one
	}
	for t := e.sched.Next(latest); !t.IsZero() && !t.After(now); t = e.sched.Next(t) {
		onTime = append(onTime, e.due(t, arbiter.TriggerSchedule))
		latest = t
	}
	if missed == 0 {
		return onTime, latest
	}
	cause := "the daemon fell behind (a suspend, a clock jump or overload)"
	if first.Before(s.started) {
		cause = "the daemon was not running"
	}
	var out []dueFire
	var catchup *dueFire
	if len(onTime) == 0 && e.catchup > 0 && now.Sub(last) <= e.catchup {
		f := e.due(last, arbiter.TriggerCatchup)
		f.cause = cause
		catchup = &f
		if missed--; missed > 0 {
			_, _, last = e.sched.Count(before, last.Add(-time.Nanosecond), 0)
		}
	}
	if missed > 0 {
		f := e.due(first, "")
		f.missed, f.until, f.cause = missed, last, cause
		out = append(out, f)
	}
	if catchup != nil {
		out = append(out, *catchup)
	}
	return append(out, onTime...), latest
}

func (e *entry) due(at time.Time, trigger arbiter.Trigger) dueFire {
	return dueFire{job: e.name, loc: e.sched.Location(), catchup: e.catchup, at: at, trigger: trigger}
}

// fireAll hands the due fires over, each job's in order and different jobs' concurrently, and
// returns when all are materialized. A thousand jobs due in the same second then cost a few
// group commits rather than a thousand fsyncs one after the other.
func (s *scheduler) fireAll(ctx context.Context, due []dueFire) {
	if len(due) <= 1 {
		for _, f := range due {
			s.fire(ctx, f)
		}
		return
	}
	byJob := make(map[string][]dueFire)
	var order []string
	for _, f := range due {
		if _, ok := byJob[f.job]; !ok {
			order = append(order, f.job)
		}
		byJob[f.job] = append(byJob[f.job], f)
	}
	var wg sync.WaitGroup
	for _, name := range order {
		wg.Go(func() {
			for _, f := range byJob[name] {
				s.fire(ctx, f)
			}
		})
	}
	wg.Wait()
}

// fireQueue is a min-heap of entries by next fire time, ties broken by name so the firing order
// is deterministic.
type fireQueue []*entry

func (q fireQueue) Len() int { return len(q) }
func (q fireQueue) Less(i, j int) bool {
	if q[i].next.Equal(q[j].next) {
		return q[i].name < q[j].name
	}
	return q[i].next.Before(q[j].next)
}
func (q fireQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *fireQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *fireQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
