package daemon

import (
	"context"
	"slices"
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
