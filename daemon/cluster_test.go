package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// TestClusterStopsRunsLostElsewhere: a node that froze and came back finds that the leader
// counted one of its runs lost meanwhile, though none of its heartbeats failed. It stops that
// run rather than run it twice, leaves the store's end as the leader wrote it, and lets its
// other run, still its own, go on.
func TestClusterStopsRunsLostElsewhere(t *testing.T) {
	h := newPolicyHarness(t, true)
	j := job("slow", "* * * * * *")
	j.Overlap = arbiter.OverlapAllow
	j = h.addJob(j)
	h.fire(j, time.Second)
	h.fire(j, 2*time.Second)
	procs := map[int64]*fakeProc{}
	for range 2 {
		p := h.nextStarted()
		procs[p.req.RunID] = p
	}

	// What the leader does to the runs of a node whose lease ran out.
	const reason = "lost: node node-1 stopped sending heartbeats"
	if _, err := h.d.store.FinishRun(context.Background(), store.RunFinishParams{
		ID: 1, State: arbiter.StateLost, Reason: reason, Now: h.clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ids := h.d.runs.activeIDs(); !slices.Equal(ids, []int64{2}); ids = h.d.runs.activeIDs() {
		if time.Now().After(deadline) {
			t.Fatalf("runs active on the node: %v, want only run 2", ids)
		}
		time.Sleep(5 * time.Millisecond)
	}
	procs[2].finish <- ok()
	h.waitRuns("slow", "1 lost: "+reason, "2 succeeded")
}

// answerLost is the store of a node whose connection drops right after the first FinishRun
// committed: the node never hears back, and tries again.
type answerLost struct {
	store.Store
	dropped atomic.Bool
}

func (s *answerLost) FinishRun(ctx context.Context, p store.RunFinishParams) (arbiter.Run, error) {
	r, err := s.Store.FinishRun(ctx, p)
	if err == nil && s.dropped.CompareAndSwap(false, true) {
		return arbiter.Run{}, errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
	}
	return r, err
}

// TestClusterFinishAnswerLost: a run's end whose answer was lost is not taken for an end some
// other node wrote: the second try finds the end this node recorded, and the failed run is
// retried as its job asks.
func TestClusterFinishAnswerLost(t *testing.T) {
	h := newPolicyHarness(t, true, func(d *Daemon) { d.store = &answerLost{Store: d.store} })
	j := job("flaky", "0 0 1 1 *")
	j.Retries, j.RetryDelay = 1, time.Millisecond
	j = h.addJob(j)
	h.fire(j, time.Second)
	h.nextStarted().finish <- fail()
	h.nextStarted().finish <- ok()
	h.waitRuns("flaky", "1 failed: exit status 1; attempt 1 of 2, retrying in 0s", "2 succeeded")
}

// lostBeforeStart is the store of a node whose run the leader counts lost between its claim and
// the start of its process (the node froze in between).
type lostBeforeStart struct{ store.Store }

const lostReason = "lost: node node-1 stopped sending heartbeats"

func (s lostBeforeStart) StartRun(ctx context.Context, p store.RunStartParams) (arbiter.Run, error) {
	if _, err := s.Store.FinishRun(ctx, store.RunFinishParams{ID: p.ID, State: arbiter.StateLost, Reason: lostReason, Now: p.Now}); err != nil {
		return arbiter.Run{}, err
	}
	return s.Store.StartRun(ctx, p)
}

// TestClusterStartOfLostRun: a run that the cluster counted lost between its claim here and the
// start of its process is stopped when its start is refused, with a warning, not an error.
func TestClusterStartOfLostRun(t *testing.T) {
	var log syncBuffer
	h := newPolicyHarness(t, true, func(d *Daemon) {
		d.log = slog.New(slog.NewTextHandler(&log, nil))
		d.store = lostBeforeStart{d.store}
	})
	j := h.addJob(job("late", "0 0 1 1 *"))
	h.fire(j, time.Second)
	h.nextStarted() // never finished: the node must stop it
	h.waitRuns("late", "1 lost: "+lostReason)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "the store had ended the run before its start was recorded") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning that the run had ended before its start; the log:\n%s", log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("errors logged for a run the cluster had ended:\n%s", log.String())
	}
	for ids := h.d.runs.activeIDs(); len(ids) > 0; ids = h.d.runs.activeIDs() {
		if time.Now().After(deadline) {
			t.Fatalf("runs still active on the node: %v", ids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a log sink that the daemon's goroutines write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
