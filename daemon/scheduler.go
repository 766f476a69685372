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
// monotonic clock, so a step of the wall clock (NTP, a manual date change) is noticed within
// this bound rather than at the next far-away fire.
const maxSleep = time.Minute

// fireFunc materializes one fire of a job. It is called from the scheduler's goroutine, in fire
// time order, and must not block for long.
type fireFunc func(ctx context.Context, job arbiter.Job, at time.Time)

// scheduler keeps the next fire time of every active job in a heap and sleeps on one timer until
// the earliest is due. It never scans all jobs: a change to a job touches only its own entry.
type scheduler struct {
	clock clock.Clock
	log   *slog.Logger
	fire  fireFunc

	mu      sync.Mutex
	entries map[string]*entry
	queue   fireQueue
	wake    chan struct{}
}

type entry struct {
	job   arbiter.Job
	sched arbiter.Schedule
	next  time.Time
	index int // position in the heap
}

func newScheduler(c clock.Clock, log *slog.Logger, fire fireFunc) *scheduler {
	return &scheduler{
		clock:   c,
		log:     log,
		fire:    fire,
		entries: make(map[string]*entry),
		wake:    make(chan struct{}, 1),
	}
}

// Set adds or replaces a job. A paused job, or one whose schedule never fires again, is taken
// out of the heap. When the schedule and zone are unchanged the pending fire time is kept, so
// editing a job's command does not move its @every anchor.
func (s *scheduler) Set(job arbiter.Job) error {
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
	if ok && old.job.Schedule == job.Schedule && old.job.Timezone == job.Timezone {
		old.job = job
		return nil
	}
	s.removeLocked(job.Name)
	next := sched.Next(s.clock.Now())
	if next.IsZero() {
		return nil
	}
	e := &entry{job: job, sched: sched, next: next}
	s.entries[job.Name] = e
	heap.Push(&s.queue, e)
	s.poke()
	return nil
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

type dueFire struct {
	job arbiter.Job
	at  time.Time
}

// Run fires due jobs until ctx is done.
func (s *scheduler) Run(ctx context.Context) {
	timer := s.clock.NewTimer(maxSleep)
	defer timer.Stop()
	for {
		due, wait := s.takeDue()
		for _, f := range due {
			s.fire(ctx, f.job, f.at)
		}
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

// takeDue pops every fire that is due and advances its entry, and says how long to sleep.
func (s *scheduler) takeDue() ([]dueFire, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var due []dueFire
	for s.queue.Len() > 0 && !s.queue[0].next.After(now) {
		e := s.queue[0]
		due = append(due, dueFire{job: e.job, at: e.next})
		next := e.sched.Next(e.next)
		if !next.IsZero() && !next.After(now) {
			// The daemon fell behind by more than one period (a stall, a suspend, a clock step):
			// fire the overdue time once, then resume from now instead of replaying every
			// period in a storm.
			s.log.Warn("scheduler fell behind; resuming from now", "job", e.job.Name, "late_by", now.Sub(e.next))
			next = e.sched.Next(now)
		}
		if next.IsZero() {
			heap.Pop(&s.queue)
			delete(s.entries, e.job.Name)
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

// fireQueue is a min-heap of entries by next fire time, ties broken by name so the firing order
// is deterministic.
type fireQueue []*entry

func (q fireQueue) Len() int { return len(q) }
func (q fireQueue) Less(i, j int) bool {
	if q[i].next.Equal(q[j].next) {
		return q[i].job.Name < q[j].job.Name
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
