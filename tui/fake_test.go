package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// t0 is the fixed "now" of every test: 2026-11-22 19:02:17 UTC.
var t0 = time.Date(2026, 11, 22, 19, 2, 17, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }
func code(c int) *int               { return &c }

// fakeSource is an in-memory daemon. Its event stream is fed through events; watchErr, when
// set, breaks the stream after the snapshot the way a daemon restart does.
type fakeSource struct {
	mu      sync.Mutex
	status  api.Status
	jobs    map[string]api.Job
	runs    map[int64]api.Run
	output  map[int64]string
	calls   []string
	events  chan api.Event
	watches int
	// watchErr breaks the first len(watchErr) streams with these errors.
	watchErr []error
}

func newFakeSource() *fakeSource {
	f := &fakeSource{
		status: api.Status{Version: "v1.4.0", StartedAt: t0.Add(-3*time.Hour - 12*time.Minute), Store: "sqlite"},
		jobs:   map[string]api.Job{},
		runs:   map[int64]api.Run{},
		output: map[int64]string{},
		events: make(chan api.Event, 16),
	}
	add := func(j api.Job, runs ...api.Run) {
		for _, r := range runs {
			r.Job = j.Name
			f.runs[r.ID] = r
			if j.LastRun == nil || r.ID > j.LastRun.ID {
				j.LastRun = &api.RunRef{ID: r.ID, State: r.State, ScheduledAt: r.ScheduledAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ExitCode: r.ExitCode}
			}
		}
		f.jobs[j.Name] = j
	}
	id := int64(0)
	run := func(state string, start, dur time.Duration, extra ...func(*api.Run)) api.Run {
		id++
		r := api.Run{ID: id, State: state, Trigger: "schedule", Attempt: 1, ScheduledAt: t0.Add(start), StartedAt: at(start)}
		if state != "running" && state != "queued" {
			r.FinishedAt = at(start + dur)
			r.ExitCode = code(0)
		}
		for _, e := range extra {
			e(&r)
		}
		return r
	}
	failed := func(r *api.Run) { r.ExitCode = code(1); r.Reason = "exit status 1" }
	timedOut := func(r *api.Run) {
		r.ExitCode = nil
		r.Signal = "SIGTERM"
		r.Reason = "timed out after 2s; no attempts left (2 of 2)"
	}
	skipped := func(r *api.Run) {
		r.StartedAt, r.FinishedAt, r.ExitCode = nil, nil, nil
		r.Reason = "skipped: previous run 9 still running"
	}

	add(api.Job{Name: "backup", Schedule: "0 3 * * *", NextRun: at(7*time.Hour + 57*time.Minute + 43*time.Second)},
		run("succeeded", -40*time.Hour, 40*time.Second), run("succeeded", -16*time.Hour, 42*time.Second))
	add(api.Job{Name: "disk-usage", Schedule: "*/5 * * * *", NextRun: at(2*time.Minute + 43*time.Second)},
		run("succeeded", -12*time.Minute, 10*time.Millisecond), run("succeeded", -7*time.Minute, 30*time.Millisecond),
		run("failed", -2*time.Minute-8*time.Second, 12*time.Millisecond, failed))
	add(api.Job{Name: "flaky", Schedule: "0 * * * *", Drifted: true, NextRun: at(57*time.Minute + 43*time.Second)},
		run("succeeded", -2*time.Hour, time.Second), run("timed_out", -time.Hour, 2*time.Second, timedOut))
	add(api.Job{Name: "heartbeat", Schedule: "*/10 * * * * *", NextRun: at(3 * time.Second)},
		run("succeeded", -27*time.Second, 6*time.Millisecond), run("skipped", -17*time.Second, 0, skipped),
		run("running", -7*time.Second, 0))
	add(api.Job{Name: "morning-report", Schedule: "30 7 * * MON-FRI", Paused: true})
	add(api.Job{Name: "sync", Schedule: "@every 90s", Labels: []string{"eu", "gpu"}, NextRun: at(61 * time.Second)},
		run("cancelled", -200*time.Second, 20*time.Second, func(r *api.Run) { r.Trigger = "manual"; r.ExitCode = nil; r.Signal = "SIGTERM" }))
	f.output[7] = "checking\nretrying with backoff\nchecking again\nTimeout after 2s\n"
	f.output[10] = "heartbeat 1\n"
	return f
}

func (f *fakeSource) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSource) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeSource) Status(ctx context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeSource) ListJobs(ctx context.Context) ([]api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Job
	for _, j := range f.jobs {
		out = append(out, j)
	}
	return out, nil
}

func (f *fakeSource) GetJob(ctx context.Context, name string) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[name]
	if !ok {
		return api.Job{}, arbiter.ErrNotFound
	}
	return j, nil
}

func (f *fakeSource) ListRuns(ctx context.Context, q api.RunsQuery) ([]api.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Run
	for _, r := range f.runs {
		if (q.Job == "" || r.Job == q.Job) && (len(q.States) == 0 || slices.Contains(q.States, arbiter.RunState(r.State))) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b api.Run) int { return int(b.ID - a.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (f *fakeSource) GetRun(ctx context.Context, id int64) (api.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return api.Run{}, arbiter.ErrNotFound
	}
	return r, nil
}

func (f *fakeSource) Output(ctx context.Context, id, after int64, follow bool) (io.ReadCloser, error) {
	f.record("output %d follow=%v", id, follow)
	f.mu.Lock()
	defer f.mu.Unlock()
	return io.NopCloser(strings.NewReader(f.output[id])), nil
}

func (f *fakeSource) TriggerJob(ctx context.Context, name string) (api.Run, error) {
	f.record("trigger %s", name)
	f.mu.Lock()
	defer f.mu.Unlock()
	r := api.Run{ID: 100, Job: name, State: "queued", Trigger: "manual", Attempt: 1, ScheduledAt: t0}
	f.runs[r.ID] = r
	return r, nil
}

func (f *fakeSource) PauseJob(ctx context.Context, name string, force bool) (api.Job, error) {
	f.record("pause %s", name)
	return f.setPaused(name, true)
}

func (f *fakeSource) ResumeJob(ctx context.Context, name string, force bool) (api.Job, error) {
	f.record("resume %s", name)
	return f.setPaused(name, false)
}

func (f *fakeSource) setPaused(name string, paused bool) (api.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[name]
	if !ok {
		return api.Job{}, arbiter.ErrNotFound
	}
	j.Paused = paused
	f.jobs[name] = j
	return j, nil
}

func (f *fakeSource) DeleteJob(ctx context.Context, name string, force bool) error {
	f.record("delete %s", name)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.jobs, name)
	return nil
}

func (f *fakeSource) CancelRun(ctx context.Context, id int64) (api.Run, error) {
	f.record("cancel %d", id)
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return api.Run{}, arbiter.ErrNotFound
	}
	return r, nil
}

func (f *fakeSource) WatchEvents(ctx context.Context, after int64, fn func(api.Event) error) error {
	f.record("watch after=%d", after)
	f.mu.Lock()
	n := f.watches
	f.watches++
	var broken error
	if n < len(f.watchErr) {
		broken = f.watchErr[n]
	}
	f.mu.Unlock()
	if broken != nil {
		return broken
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-f.events:
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

var errRestarted = errors.New("daemon restarted")

// loadedState is the state after the fake's snapshot, with every history fetched, sized w×h.
func loadedState(f *fakeSource, opts Options, w, h int) state {
	s := newState(opts, t0, time.UTC)
	snap, err := newFeed(f, nil).snapshot(context.Background())
	if err != nil {
		panic(err)
	}
	s.snapshot(snap.status, snap.jobs, snap.active, snap.failed)
	s.resize(w, h)
	for name := range s.jobs {
		s.history[name], _ = f.ListRuns(context.Background(), api.RunsQuery{Job: name, Limit: historyLen})
	}
	return s
}
