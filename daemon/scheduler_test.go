package daemon

import (
	"context"
	"io"
	"log/slog"
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

func TestSchedulerTakeDue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		jobs    []arbiter.Job
		advance time.Duration
		step    time.Duration // how far time moves between two looks; default 1s
		want    []dueFire     // job names and times
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
			want: []dueFire{
				{job: job("a", ""), at: t0.Add(time.Minute)},
				{job: job("b", ""), at: t0.Add(time.Minute)},
				{job: job("a", ""), at: t0.Add(2 * time.Minute)},
				{job: job("b", ""), at: t0.Add(2 * time.Minute)},
				{job: job("c", ""), at: t0.Add(2 * time.Minute)},
			},
		},
		{
			name:    "a stall fires the overdue time once, not a storm",
			jobs:    []arbiter.Job{job("s", "* * * * * *")},
			advance: time.Hour,
			step:    time.Hour,
			want:    []dueFire{{job: job("s", ""), at: t0.Add(time.Second)}},
		},
		{
			name:    "paused jobs do not fire",
			jobs:    []arbiter.Job{{Name: "p", Schedule: "* * * * * *", Timezone: "UTC", Paused: true}},
			advance: time.Minute,
		},
		{
			name:    "seconds field",
			jobs:    []arbiter.Job{job("sec", "*/20 * * * * *")},
			advance: 45 * time.Second,
			want:    []dueFire{{job: job("sec", ""), at: t0.Add(20 * time.Second)}, {job: job("sec", ""), at: t0.Add(40 * time.Second)}},
		},
		{
			name:    "job zone decides the wall clock",
			jobs:    []arbiter.Job{{Name: "tz", Schedule: "0 11 * * *", Timezone: "Europe/Berlin"}},
			advance: 24 * time.Hour,
			want:    []dueFire{{job: job("tz", ""), at: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(24 * time.Hour)}},
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
			// Step through time the way the loop would: one takeDue per elapsed step.
			for step := time.Duration(0); step < tt.advance; {
				d := time.Second
				if tt.step > 0 {
					d = tt.step
				}
				d = min(d, tt.advance-step)
				c.Advance(d)
				step += d
				due, _ := s.takeDue()
				got = append(got, due...)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d fires %v, want %d %v", len(got), names(got), len(tt.want), names(tt.want))
			}
			for i := range got {
				if got[i].job.Name != tt.want[i].job.Name || !got[i].at.Equal(tt.want[i].at) {
					t.Errorf("fire %d = %s@%s, want %s@%s", i, got[i].job.Name, got[i].at, tt.want[i].job.Name, tt.want[i].at)
				}
			}
		})
	}
}

func names(fs []dueFire) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.job.Name + "@" + f.at.UTC().Format(time.TimeOnly)
	}
	return out
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
		t.Fatalf("removed or paused jobs fired: %v", names(due))
	}
	if err := s.Set(job("bad", "not a cron")); err == nil {
		t.Fatal("an invalid schedule was accepted")
	}
}

func TestSchedulerRunFiresOnTheRealClock(t *testing.T) {
	t.Parallel()
	fired := make(chan time.Time, 10)
	s := testScheduler(clock.Real{}, func(_ context.Context, _ arbiter.Job, at time.Time) { fired <- at })
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
