package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/pgstore"
	"github.com/arbiterd/arbiter/store/sqlitestore"
)

// The overlap, retry and jitter policies, driven fire by fire on a fake clock against a real
// store, with a runner whose processes end when the test says so.

// fakeProc is one process of the fake runner.
type fakeProc struct {
	req    runners.Request
	finish chan runners.Result
}

type fakeRunner struct {
	started chan *fakeProc
	pids    atomic.Int64
}

func (f *fakeRunner) Run(ctx context.Context, req runners.Request) (runners.Result, error) {
	p := &fakeProc{req: req, finish: make(chan runners.Result, 1)}
	req.Started(int(f.pids.Add(1)) + 1000)
	f.started <- p
	select {
	case res := <-p.finish:
		return res, nil
	case <-ctx.Done():
		return runners.Result{ExitCode: -1, Signal: "SIGTERM"}, nil
	}
}

type policyHarness struct {
	t      *testing.T
	d      *Daemon
	runner *fakeRunner
	clock  *clock.Fake
}

// newPolicyHarness is a daemon on SQLite, or with onPostgres a node of a cluster on Postgres:
// the scheduler and a worker at once, whose runs go through the store's queue and are claimed.
// setup, if any, changes the daemon (its store, its log) before its loops start.
func newPolicyHarness(t *testing.T, onPostgres bool, setup ...func(*Daemon)) *policyHarness {
	t.Helper()
	fc := clock.NewFake(t0)
	fr := &fakeRunner{started: make(chan *fakeProc, 16)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &Daemon{
		cfg:     Config{OutputCap: 1 << 20},
		log:     log,
		clock:   fc,
		runner:  fr,
		outputs: newBroadcaster[int64](),
		commits: newBroadcaster[struct{}](),
		nodeID:  "test",
		worker:  "node-1",
	}
	d.runs = newDispatcher(d, 8)
	if !onPostgres {
		dir, err := os.MkdirTemp("", "arbp")
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "arbiter.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.store = st
		for _, f := range setup {
			f(d)
		}
		t.Cleanup(func() {
			d.runs.shutdown(nil, 0)
			st.Close()
			os.RemoveAll(dir)
		})
		return &policyHarness{t: t, d: d, runner: fr, clock: fc}
	}
	st, err := pgstore.Open(context.Background(), pgServer(t).NewDatabase(t), pgstore.Options{
		Committed: func() { d.commits.Notify(struct{}{}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	d.store = st
	c := &cluster{d: d, node: arbiter.Node{Name: "node-1", ID: "test", Roles: arbiter.Roles},
		beat: time.Second, lease: 10 * time.Second, poke: make(chan struct{}, 1)}
	c.leader.Store(true)
	d.cluster = c
	for _, f := range setup {
		f(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Go(func() { c.claim(ctx) })
	loops.Go(func() { c.watchCancels(ctx) })
	// Claims compare a run's NotBefore with the clock: let the fake one run, a millisecond per
	// millisecond, so that a retry's backoff ends.
	loops.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
				fc.Advance(time.Millisecond)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		loops.Wait()
		d.runs.shutdown(nil, 0)
		st.Close()
	})
	return &policyHarness{t: t, d: d, runner: fr, clock: fc}
}

// bothStores runs a policy test on a daemon on SQLite and on a node of a cluster on Postgres:
// the policies behave the same on both.
func bothStores(t *testing.T, test func(t *testing.T, h *policyHarness)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newPolicyHarness(t, false)) })
	t.Run("postgres", func(t *testing.T) { test(t, newPolicyHarness(t, true)) })
}

func (h *policyHarness) addJob(j arbiter.Job) arbiter.Job {
	h.t.Helper()
	j.Normalize()
	created, err := h.d.store.CreateJob(context.Background(), store.JobCreateParams{Job: j, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return created
}

// fire materializes the job's fire at t0 + offset, as the scheduler would.
func (h *policyHarness) fire(j arbiter.Job, offset time.Duration) {
	h.d.fire(context.Background(), dueFire{job: j.Name, loc: time.UTC, catchup: j.Catchup, at: t0.Add(offset), trigger: arbiter.TriggerSchedule})
}

// nextStarted waits for the runner to start a process.
func (h *policyHarness) nextStarted() *fakeProc {
	h.t.Helper()
	select {
	case p := <-h.runner.started:
		return p
	case <-time.After(10 * time.Second):
		h.t.Fatal("no run started within 10s")
		return nil
	}
}

// noneStarted asserts that no process is starting: the dispatcher decides synchronously after
// a run ends or is cancelled, so a short look is enough to catch a wrong start.
func (h *policyHarness) noneStarted() {
	h.t.Helper()
	select {
	case p := <-h.runner.started:
		h.t.Fatalf("run %d started, want none", p.req.RunID)
	case <-time.After(50 * time.Millisecond):
	}
}

// runs lists the job's runs oldest first, as text: "1 succeeded", "2 skipped: ...".
func (h *policyHarness) runs(job string) []string {
	h.t.Helper()
	runs, err := h.d.store.ListRuns(context.Background(), store.RunListParams{Job: job})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		s := fmt.Sprintf("%d %s", r.ID, r.State)
		if r.Reason != "" {
			s += ": " + r.Reason
		}
		out = append(out, s)
	}
	return out
}

// waitRuns waits until the job's runs read as want.
func (h *policyHarness) waitRuns(job string, want ...string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.runs(job)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("runs of %s:\n got %q\nwant %q", job, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ok() runners.Result   { return runners.Result{} }
func fail() runners.Result { return runners.Result{ExitCode: 1} }

func TestPolicyOverlapSkip(t *testing.T) { bothStores(t, testOverlapSkip) }

func testOverlapSkip(t *testing.T, h *policyHarness) {
	j := h.addJob(job("skip", "* * * * * *"))
	h.fire(j, time.Second)
	first := h.nextStarted()
	h.fire(j, 2*time.Second)
	h.fire(j, 2*time.Second) // the same fire again: materialized once
	h.noneStarted()
	first.finish <- ok()
	h.waitRuns("skip", "1 succeeded", "2 skipped: skipped: previous run 1 still running")
	h.fire(j, 3*time.Second)
	h.nextStarted().finish <- ok()
	h.waitRuns("skip", "1 succeeded", "2 skipped: skipped: previous run 1 still running", "4 succeeded")
}

func TestPolicyOverlapAllow(t *testing.T) { bothStores(t, testOverlapAllow) }

func testOverlapAllow(t *testing.T, h *policyHarness) {
	j := job("allow", "* * * * * *")
	j.Overlap = arbiter.OverlapAllow
	j = h.addJob(j)
	h.fire(j, time.Second)
	a := h.nextStarted()
	h.fire(j, 2*time.Second)
	b := h.nextStarted() // side by side
	a.finish <- ok()
	b.finish <- ok()
	h.waitRuns("allow", "1 succeeded", "2 succeeded")
}

func TestPolicyOverlapQueue(t *testing.T) { bothStores(t, testOverlapQueue) }

func testOverlapQueue(t *testing.T, h *policyHarness) {
	j := job("queue", "* * * * * *")
	j.Overlap = arbiter.OverlapQueue
	j = h.addJob(j)
	h.fire(j, time.Second)
	a := h.nextStarted()
	h.fire(j, 2*time.Second) // waits for a
	h.fire(j, 3*time.Second) // coalesces into the waiting one
	h.noneStarted()
	h.waitRuns("queue", "1 running", "2 queued", "3 skipped: skipped: coalesced into run 2, already waiting for its turn")
	a.finish <- ok()
	b := h.nextStarted()
	if b.req.RunID != 2 {
		t.Fatalf("started run %d, want the queued run 2", b.req.RunID)
	}
	b.finish <- ok()
	h.waitRuns("queue", "1 succeeded", "2 succeeded", "3 skipped: skipped: coalesced into run 2, already waiting for its turn")
}

func TestPolicyOverlapReplace(t *testing.T) { bothStores(t, testOverlapReplace) }

func testOverlapReplace(t *testing.T, h *policyHarness) {
	j := job("replace", "* * * * * *")
	j.Overlap = arbiter.OverlapReplace
	j = h.addJob(j)
	h.fire(j, time.Second)
	h.nextStarted() // runs until cancelled
	h.fire(j, 2*time.Second)
	b := h.nextStarted() // only once the replaced run has ended
	if b.req.RunID != 2 {
		t.Fatalf("started run %d, want 2", b.req.RunID)
	}
	h.waitRuns("replace", "1 cancelled: cancelled: replaced by run 2 (overlap policy replace)", "2 running")
	b.finish <- ok()
	h.waitRuns("replace", "1 cancelled: cancelled: replaced by run 2 (overlap policy replace)", "2 succeeded")
}

func TestPolicyRetries(t *testing.T) { bothStores(t, testRetries) }

func testRetries(t *testing.T, h *policyHarness) {
	j := job("retry", "0 0 1 1 *")
	j.Retries, j.RetryDelay = 2, time.Millisecond
	j = h.addJob(j)
	h.fire(j, time.Second)
	for attempt := 1; attempt <= 3; attempt++ {
		p := h.nextStarted()
		if got := envValue(p.req.Env, "ARBITER_ATTEMPT"); got != fmt.Sprint(attempt) {
			t.Fatalf("attempt %d ran with ARBITER_ATTEMPT=%s", attempt, got)
		}
		if got := envValue(p.req.Env, "ARBITER_SCHEDULED_AT"); got != t0.Add(time.Second).Format(time.RFC3339) {
			t.Fatalf("attempt %d ran with ARBITER_SCHEDULED_AT=%s, want the first attempt's fire time", attempt, got)
		}
		p.finish <- fail()
	}
	h.noneStarted()
	h.waitRuns("retry",
		"1 failed: exit status 1; attempt 1 of 3, retrying in 0s",
		"2 failed: exit status 1; attempt 2 of 3, retrying in 0s",
		"3 failed: exit status 1; no attempts left (3 of 3)")
	runs, _ := h.d.store.ListRuns(context.Background(), store.RunListParams{Job: "retry"})
	for _, r := range runs[:2] {
		if r.RetryOf != 1 || r.Trigger != arbiter.TriggerRetry || !r.ScheduledAt.Equal(t0.Add(time.Second)) {
			t.Errorf("retry %+v: want trigger retry of run 1 with the first attempt's fire time", r)
		}
	}
}

func TestPolicyJitterDelaysAndIsRecorded(t *testing.T) { bothStores(t, testJitterDelaysAndIsRecorded) }

func testJitterDelaysAndIsRecorded(t *testing.T, h *policyHarness) {
	j := job("jitter", "* * * * * *")
	j.Jitter = time.Hour
	j = h.addJob(j)
	h.fire(j, time.Second)
	h.noneStarted() // waiting for its random delay
	runs, _ := h.d.store.ListRuns(context.Background(), store.RunListParams{Job: "jitter"})
	r := runs[0]
	if r.State != arbiter.StateQueued || r.Jitter < 0 || r.Jitter >= time.Hour || !r.NotBefore.Equal(r.ScheduledAt.Add(r.Jitter)) {
		t.Fatalf("jittered run %+v: want queued until its fire time plus a recorded jitter under 1h", r)
	}
	if _, _, err := h.d.cancelRun(context.Background(), r.ID, &cancelledError{actor: "uid:0"}, "uid:0"); err != nil {
		t.Fatalf("cancel the waiting run: %v", err)
	}
	h.waitRuns("jitter", "1 cancelled: cancelled by uid:0")
}

func TestPolicyMissedRecord(t *testing.T) { bothStores(t, testMissedRecord) }

func testMissedRecord(t *testing.T, h *policyHarness) {
	j := withCatchup(job("gap", "*/10 * * * *"), 5*time.Minute)
	j = h.addJob(j)
	h.d.fire(context.Background(), dueFire{job: j.Name, loc: time.UTC, catchup: j.Catchup, at: t0, missed: 3, until: t0.Add(20 * time.Minute), cause: "the daemon was not running"})
	h.noneStarted()
	got := h.runs("gap")
	if len(got) != 1 || !strings.HasPrefix(got[0], "1 missed: missed 3 fires from 2026-11-22T10:00:00Z to 2026-11-22T10:20:00Z: the daemon was not running (older than the catch-up window of 5m0s)") {
		t.Fatalf("runs = %q", got)
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}
