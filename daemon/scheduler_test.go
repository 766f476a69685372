package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testScheduler(c clock.Clock, fire fireFunc) *scheduler {
	return newScheduler(c, slog.New(slog.NewTextHandler(io.Discard, nil)), fire)
}

func job(name, sched string) arbiter.Job {
	return arbiter.Job{Name: name, Schedule: sched, Timezone: "UTC", Command: []string{"true"}}
}

func withCatchup(j arbiter.Job, d time.Duration) arbiter.Job {
	j.Catchup = d
	return j
}

// describe renders due fires compactly: "a@10:01:00", "a catchup@03:00:00",
// "a missed 29 10:01:00-10:29:00".
func describe(fs []dueFire) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		at := f.at.UTC().Format(time.TimeOnly)
		switch {
		case f.missed > 0:
			out[i] = fmt.Sprintf("%s missed %d %s-%s", f.job, f.missed, at, f.until.UTC().Format(time.TimeOnly))
		case f.trigger == arbiter.TriggerCatchup:
			out[i] = fmt.Sprintf("%s catchup@%s", f.job, at)
		default:
			out[i] = fmt.Sprintf("%s@%s", f.job, at)
		}
	}
	return out
}

func TestSchedulerTakeDue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		jobs    []arbiter.Job
		advance time.Duration
		step    time.Duration // how far time moves between two looks; default 1s
		want    []string
	}{
		{
			name:    "nothing due before the first fire",
			jobs:    []arbiter.Job{job("a", "*/5 * * * *")},
			advance: 4*time.Minute + 59*time.Second,
		},
		{
			name:    "fires in time order, ties by name",
			jobs:    []arbiter.Job{job("b", "* * * * *"), job("a", "* * * * *"), job("c", "*/2 * * * *")},
			advance: 2 * time.Minute,
			want:    []string{"a@10:01:00", "b@10:01:00", "a@10:02:00", "b@10:02:00", "c@10:02:00"},
		},
		{
			name:    "seconds field",
			jobs:    []arbiter.Job{job("sec", "*/20 * * * * *")},
			advance: 45 * time.Second,
			want:    []string{"sec@10:00:20", "sec@10:00:40"},
		},
		{
			name:    "paused jobs do not fire",
			jobs:    []arbiter.Job{{Name: "p", Schedule: "* * * * * *", Timezone: "UTC", Paused: true}},
			advance: time.Minute,
		},
		{
			name:    "the job's zone decides the wall clock",
			jobs:    []arbiter.Job{{Name: "tz", Schedule: "0 11 * * *", Timezone: "Europe/Berlin"}},
			advance: 24 * time.Hour,
			step:    time.Minute,
			want:    []string{"tz@10:00:00"},
		},
		{
			name:    "a little late is still on time",
			jobs:    []arbiter.Job{job("late", "* * * * * *")},
			advance: 5 * time.Second,
			step:    5 * time.Second,
			want:    []string{"late@10:00:01", "late@10:00:02", "late@10:00:03", "late@10:00:04", "late@10:00:05"},
		},
		{
			name:    "a stall: the recent fires run, older ones are one missed record, not a storm",
			jobs:    []arbiter.Job{withCatchup(job("s", "* * * * * *"), 5*time.Minute)},
			advance: time.Hour,
			step:    time.Hour,
			want: append([]string{"s missed 3589 10:00:01-10:59:49"},
				"s@10:59:50", "s@10:59:51", "s@10:59:52", "s@10:59:53", "s@10:59:54", "s@10:59:55",
				"s@10:59:56", "s@10:59:57", "s@10:59:58", "s@10:59:59", "s@11:00:00"),
		},
		{
			name:    "missed within the catch-up window runs once",
			jobs:    []arbiter.Job{withCatchup(job("d", "0 3 * * *"), 5*time.Minute)},
			advance: 17*time.Hour + 4*time.Minute, // to 03:04 the next day, in one step (a suspend)
			step:    24 * time.Hour,
			want:    []string{"d catchup@03:00:00"},
		},
		{
			name:    "missed beyond the catch-up window is recorded",
			jobs:    []arbiter.Job{withCatchup(job("d", "0 3 * * *"), 5*time.Minute)},
			advance: 17*time.Hour + 6*time.Minute,
			step:    24 * time.Hour,
			want:    []string{"d missed 1 03:00:00-03:00:00"},
		},
		{
			name:    "catch-up off records every missed fire",
			jobs:    []arbiter.Job{job("d", "0 3 * * *")},
			advance: 17*time.Hour + time.Minute,
			step:    24 * time.Hour,
			want:    []string{"d missed 1 03:00:00-03:00:00"},
		},
		{
			name:    "several missed: the latest in the window runs, the rest are one record",
			jobs:    []arbiter.Job{withCatchup(job("m", "*/2 * * * *"), 5*time.Minute)},
			advance: 30*time.Minute + 30*time.Second,
			step:    time.Hour,
			want:    []string{"m missed 14 10:02:00-10:28:00", "m catchup@10:30:00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clock.NewFake(t0)
			s := testScheduler(c, nil)
			for _, j := range tt.jobs {
				if err := s.Set(j); err != nil {
					t.Fatal(err)
				}
			}
			var got []dueFire
			// Step through time the way the loop would: one look per step.
			for elapsed := time.Duration(0); elapsed < tt.advance; {
				d := time.Second
				if tt.step > 0 {
					d = tt.step
				}
				d = min(d, tt.advance-elapsed)
				c.Advance(d)
				elapsed += d
				due, _ := s.takeDue()
				got = append(got, due...)
			}
			if g := describe(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("fires:\n got %v\nwant %v", g, tt.want)
			}
		})
	}
}

func TestSchedulerResumeCatchesUpAfterDowntime(t *testing.T) {
	t.Parallel()
	// The daemon starts at 10:00; the job last fired at 09:30 and fires every 10 minutes.
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	j := withCatchup(job("r", "*/10 * * * *"), 15*time.Minute)
	if err := s.Resume(j, t0.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	due, _ := s.takeDue()
	if got, want := fmt.Sprint(describe(due)), "[r missed 2 09:40:00-09:50:00 r@10:00:00]"; got != want {
		t.Fatalf("after downtime: %s, want %s", got, want)
	}
	if due[0].cause != "the daemon was not running" {
		t.Errorf("cause = %q", due[0].cause)
	}

	// Down from 09:25 to 10:03: the 10:00 fire is 3 minutes late, within the window.
	c2 := clock.NewFake(t0.Add(3 * time.Minute))
	s2 := testScheduler(c2, nil)
	if err := s2.Resume(j, t0.Add(-35*time.Minute)); err != nil {
		t.Fatal(err)
	}
	due, _ = s2.takeDue()
	if got, want := fmt.Sprint(describe(due)), "[r missed 3 09:30:00-09:50:00 r catchup@10:00:00]"; got != want {
		t.Fatalf("after downtime: %s, want %s", got, want)
	}
	// Nothing more is due until the next fire.
	if due, _ := s2.takeDue(); len(due) != 0 || !s2.Next("r").Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("then: %v, next %s; want nothing until 10:10", describe(due), s2.Next("r"))
	}
}

func TestSchedulerEveryKeepsItsAnchorThroughDowntime(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	// Last fired at 09:54:30, every minute; down until 10:00:00.
	if err := s.Resume(withCatchup(job("ev", "@every 1m"), 2*time.Minute), t0.Add(-5*time.Minute-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	due, _ := s.takeDue()
	if got, want := fmt.Sprint(describe(due)), "[ev missed 4 09:55:30-09:58:30 ev catchup@09:59:30]"; got != want {
		t.Fatalf("after downtime: %s, want %s", got, want)
	}
	if got, want := s.Next("ev"), t0.Add(30*time.Second); !got.Equal(want) {
		t.Fatalf("next = %s, want %s: the chain keeps its anchor", got, want)
	}
}

func TestSchedulerShortRestartDoesNotReplayEveryFire(t *testing.T) {
	t.Parallel()
	// A per-second job whose daemon was down for 4 seconds: fires due before the start are
	// missed, not replayed, however recent.
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	if err := s.Resume(withCatchup(job("sec", "* * * * * *"), time.Minute), t0.Add(-4*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Advance(500 * time.Millisecond)
	due, _ := s.takeDue()
	if got, want := fmt.Sprint(describe(due)), "[sec missed 3 09:59:57-09:59:59 sec@10:00:00]"; got != want {
		t.Fatalf("after a short restart: %s, want %s", got, want)
	}
}

func TestSchedulerClockStepBackwards(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	if err := s.Set(job("h", "0 * * * *")); err != nil {
		t.Fatal(err)
	}
	c.Advance(30 * time.Minute)
	if due, _ := s.takeDue(); len(due) != 0 {
		t.Fatalf("fired early: %v", describe(due))
	}
	// The clock steps back two hours: the next fire is the next hour on the new timeline,
	// not three hours away.
	c.Set(t0.Add(-90 * time.Minute))
	if due, wait := s.takeDue(); len(due) != 0 || wait != maxSleep {
		t.Fatalf("after the step: %v, sleep %s", describe(due), wait)
	}
	if got, want := s.Next("h"), t0.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("next after a backward step = %s, want %s", got, want)
	}
}

func TestSchedulerSetRemoveNext(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	a := job("a", "*/5 * * * *")
	if err := s.Set(a); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Next("a"), t0.Add(5*time.Minute); !got.Equal(want) {
		t.Fatalf("Next = %s, want %s", got, want)
	}
	// Changing only the command keeps the pending fire.
	c.Advance(time.Minute)
	a.Command = []string{"echo", "changed"}
	if err := s.Set(a); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Next("a"), t0.Add(5*time.Minute); !got.Equal(want) {
		t.Fatalf("Next after command change = %s, want %s", got, want)
	}
	// Changing the schedule recomputes it.
	a.Schedule = "*/2 * * * *"
	if err := s.Set(a); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Next("a"), t0.Add(2*time.Minute); !got.Equal(want) {
		t.Fatalf("Next after schedule change = %s, want %s", got, want)
	}
	a.Paused = true
	if err := s.Set(a); err != nil {
		t.Fatal(err)
	}
	if !s.Next("a").IsZero() {
		t.Fatal("a paused job has a next fire")
	}
	if err := s.Set(job("b", "* * * * *")); err != nil {
		t.Fatal(err)
	}
	s.Remove("b")
	c.Advance(time.Hour)
	if due, _ := s.takeDue(); len(due) != 0 {
		t.Fatalf("removed or paused jobs fired: %v", describe(due))
	}
	if err := s.Set(job("bad", "not a cron")); err == nil {
		t.Fatal("an invalid schedule was accepted")
	}
}

func TestSchedulerOneOffJobFiresOnce(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	s := testScheduler(c, nil)
	if err := s.Set(job("once", "@at "+t0.Add(90*time.Second).Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	c.Advance(90 * time.Second)
	due, _ := s.takeDue()
	if got := fmt.Sprint(describe(due)); got != "[once@10:01:30]" {
		t.Fatalf("fires = %s", got)
	}
	if !s.Next("once").IsZero() {
		t.Fatal("a one-off job has a next fire after it fired")
	}
}

func TestSchedulerRunFiresOnTheRealClock(t *testing.T) {
	t.Parallel()
	fired := make(chan time.Time, 10)
	s := testScheduler(clock.Real{}, func(_ context.Context, f dueFire) { fired <- f.at })
	if err := s.Set(job("every-second", "* * * * * *")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var prev time.Time
	for i := range 2 {
		select {
		case at := <-fired:
			if at.Nanosecond() != 0 || (i > 0 && !at.Equal(prev.Add(time.Second))) {
				t.Fatalf("fire %d at %s after %s: want consecutive whole seconds", i, at, prev)
			}
			if now := time.Now(); now.Before(at) {
				t.Fatalf("fired early: at %s, now %s", at, now)
			}
			prev = at
		case <-time.After(10 * time.Second):
			t.Fatal("no fire within 10s")
		}
	}
}

// fireAll keeps each job's fires in order and lets different jobs' fires proceed side by side.
func TestSchedulerFireAll(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		fired = map[string][]string{}
	)
	bFired := make(chan struct{})
	s := testScheduler(clock.NewFake(t0), func(_ context.Context, f dueFire) {
		if f.job == "a" && f.at.Equal(t0) {
			select { // a sequential fireAll would never get to b
			case <-bFired:
			case <-time.After(10 * time.Second):
				t.Error("b did not fire while a's first fire was in progress")
			}
		}
		mu.Lock()
		fired[f.job] = append(fired[f.job], f.at.Format(time.TimeOnly))
		mu.Unlock()
		if f.job == "b" {
			close(bFired)
		}
	})
	s.fireAll(t.Context(), []dueFire{
		{job: "a", at: t0}, {job: "b", at: t0}, {job: "a", at: t0.Add(time.Minute)},
	})
	want := map[string][]string{"a": {"10:00:00", "10:01:00"}, "b": {"10:00:00"}}
	if !reflect.DeepEqual(fired, want) {
		t.Errorf("fired = %v, want %v", fired, want)
	}
}
