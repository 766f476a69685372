package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// The operations that let several nodes share one store: claiming queued runs, cancelling a
// run another node executes, heartbeats. Every store has them, with one meaning.

func claim(t *testing.T, s store.Store, worker string, labels []string, limit int, now time.Time) []arbiter.Run {
	t.Helper()
	runs, err := s.ClaimRuns(t.Context(), store.RunClaimParams{Worker: worker, Labels: labels, Limit: limit, Now: now})
	if err != nil {
		t.Fatalf("ClaimRuns(%s, %v): %v", worker, labels, err)
	}
	return runs
}

func testClaimRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("plain"))
	gpu := newJob("train")
	gpu.Labels = []string{"eu", "gpu"}
	createJob(t, s, gpu)

	p1 := insertFire(t, s, "plain", at(1))
	g1 := insertFire(t, s, "train", at(1))
	p2 := insertFire(t, s, "plain", at(2))
	// Not due before at(30): a retry's backoff.
	later, err := s.InsertRun(ctx, store.RunInsertParams{Job: "plain", Trigger: arbiter.TriggerManual, NotBefore: at(30), Now: at(3)})
	if err != nil {
		t.Fatal(err)
	}

	// A worker without the labels gets the plain runs, oldest first, up to its limit.
	got := claim(t, s, "w1", nil, 1, at(5))
	wantEqual(t, "claimed ids, limit 1", ids(got), []int64{p1.ID})
	want := p1
	want.State, want.StartedAt, want.Worker = arbiter.StateRunning, at(5), "w1"
	wantEqual(t, "claimed run", got[0], want)
	wantEqual(t, "GetRun of the claimed run", getRun(t, s, p1.ID), want)

	// A worker with only one of the two labels does not get the labelled job's run.
	got = claim(t, s, "w2", []string{"gpu"}, 10, at(6))
	wantEqual(t, "claimed ids, one label of two", ids(got), []int64{p2.ID})
	got = claim(t, s, "w3", []string{"eu", "gpu", "ssd"}, 10, at(7))
	wantEqual(t, "claimed ids, every label", ids(got), []int64{g1.ID})
	// Nothing is left that is due; the run held back by NotBefore comes when it is due.
	wantEqual(t, "claimed ids, nothing due", ids(claim(t, s, "w1", []string{"eu", "gpu"}, 10, at(29))), []int64{})
	wantEqual(t, "claimed ids, due", ids(claim(t, s, "w1", nil, 10, at(30))), []int64{later.ID})

	// A claim records no event: the run's start does, once its worker started its process.
	for _, e := range allEvents(t, s) {
		if e.Kind == "run.running" {
			t.Errorf("a claim recorded %+v; the run's start records it", e)
		}
	}

	for _, bad := range []store.RunClaimParams{{Worker: "", Limit: 1, Now: at(40)}, {Worker: "w1", Limit: 0, Now: at(40)}} {
		_, err := s.ClaimRuns(ctx, bad)
		wantErr(t, "ClaimRuns without a worker or a limit", err, arbiter.ErrInvalid)
	}
}

// testClaimRunsConcurrent: claimers racing for the same runs never get one run twice, and
// between them get them all.
func testClaimRunsConcurrent(t *testing.T, s store.Store) {
	createJob(t, s, newJob("many"))
	const n = 120
	for i := range n {
		insertFire(t, s, "many", at(i))
	}
	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
	)
	for w := range 4 {
		worker := "w" + string(rune('a'+w))
		wg.Go(func() {
			for {
				runs, err := s.ClaimRuns(t.Context(), store.RunClaimParams{Worker: worker, Limit: 7, Now: at(n)})
				if err != nil {
					t.Errorf("ClaimRuns(%s): %v", worker, err)
					return
				}
				if len(runs) == 0 {
					return
				}
				mu.Lock()
				for _, r := range runs {
					if other, ok := seen[r.ID]; ok {
						t.Errorf("run %d claimed by %s and %s", r.ID, other, worker)
					}
					seen[r.ID] = worker
					if r.Worker != worker || r.State != arbiter.StateRunning {
						t.Errorf("run %d claimed by %s comes back as %s on %q", r.ID, worker, r.State, r.Worker)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d runs claimed, want %d", len(seen), n)
	}
}

// testClaimRunsOverlap: a job that runs one at a time (queue, replace) has its next run
// claimed only once the older one has ended; the others' runs go side by side.
func testClaimRunsOverlap(t *testing.T, s store.Store) {
	for _, o := range []arbiter.Overlap{arbiter.OverlapQueue, arbiter.OverlapReplace, arbiter.OverlapAllow, arbiter.OverlapSkip} {
		j := newJob("job-" + string(o))
		j.Overlap = o
		createJob(t, s, j)
	}
	first := map[arbiter.Overlap]arbiter.Run{}
	second := map[arbiter.Overlap]arbiter.Run{}
	for _, o := range []arbiter.Overlap{arbiter.OverlapQueue, arbiter.OverlapReplace, arbiter.OverlapAllow, arbiter.OverlapSkip} {
		first[o] = insertFire(t, s, "job-"+string(o), at(1))
		second[o] = insertFire(t, s, "job-"+string(o), at(2))
	}
	got := ids(claim(t, s, "w1", nil, 100, at(3)))
	slices.Sort(got)
	want := []int64{first[arbiter.OverlapQueue].ID, first[arbiter.OverlapReplace].ID,
		first[arbiter.OverlapAllow].ID, second[arbiter.OverlapAllow].ID,
		first[arbiter.OverlapSkip].ID, second[arbiter.OverlapSkip].ID}
	slices.Sort(want)
	wantEqual(t, "claimed with older runs active", got, want)
	// Nothing more while the first runs of queue and replace run.
	wantEqual(t, "claimed while the first run runs", ids(claim(t, s, "w2", nil, 100, at(4))), []int64{})
	finishRun(t, s, first[arbiter.OverlapQueue].ID, arbiter.StateSucceeded, at(5))
	wantEqual(t, "claimed after the first queue run ended", ids(claim(t, s, "w2", nil, 100, at(6))), []int64{second[arbiter.OverlapQueue].ID})
}

// testClaimFollowsJob: a claim asks what the job says now, not what it said when its runs were
// queued: a change of the job's labels or overlap reaches the runs that wait.
func testClaimFollowsJob(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := newJob("train")
	j.Labels, j.Overlap = []string{"gpu"}, arbiter.OverlapAllow
	createJob(t, s, j)
	r1, r2 := insertFire(t, s, "train", at(1)), insertFire(t, s, "train", at(2))
	wantEqual(t, "claimed without the label", ids(claim(t, s, "w1", nil, 10, at(3))), []int64{})

	j.Labels, j.Overlap = nil, arbiter.OverlapQueue
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: j, Now: at(4), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "claimed after the label was dropped, one at a time", ids(claim(t, s, "w1", nil, 10, at(5))), []int64{r1.ID})

	j.Labels = []string{"gpu"}
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: j, Now: at(6), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	finishRun(t, s, r1.ID, arbiter.StateSucceeded, at(7))
	wantEqual(t, "claimed without the label put back", ids(claim(t, s, "w1", nil, 10, at(8))), []int64{})
	wantEqual(t, "claimed with it", ids(claim(t, s, "w2", []string{"gpu"}, 10, at(8))), []int64{r2.ID})
}

// testClaimDeletedJob: a queued run whose job was deleted is claimed like any other, so that a
// worker can end it instead of leaving it queued for ever.
func testClaimDeletedJob(t *testing.T, s store.Store) {
	gone := newJob("gone")
	gone.Labels, gone.Overlap = []string{"gpu", "eu"}, arbiter.OverlapQueue
	createJob(t, s, gone)
	r := insertFire(t, s, "gone", at(1))
	r2 := insertFire(t, s, "gone", at(2))
	if err := s.DeleteJob(t.Context(), store.JobDeleteParams{Name: "gone", Now: at(2), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "claimed", ids(claim(t, s, "w1", nil, 10, at(3))), []int64{r.ID, r2.ID})
}

// testStartClaimed: StartRun records the process of a run its own worker claimed, once, and its
// run.running event.
func testStartClaimed(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	insertFire(t, s, "a", at(1))
	r := claim(t, s, "w1", nil, 1, at(2))
	if len(r) != 1 {
		t.Fatalf("claimed %d runs, want 1", len(r))
	}
	id := r[0].ID
	_, err := s.StartRun(ctx, store.RunStartParams{ID: id, PID: 77, Worker: "w2", Now: at(3)})
	wantErr(t, "StartRun by another worker", err, arbiter.ErrConflict)
	got, err := s.StartRun(ctx, store.RunStartParams{ID: id, PID: 77, Worker: "w1", Now: at(3)})
	if err != nil {
		t.Fatalf("StartRun of a claimed run: %v", err)
	}
	want := r[0]
	want.PID, want.StartedAt = 77, at(3)
	wantEqual(t, "started claimed run", got, want)
	wantEqual(t, "the claimed run's events", runEvents(t, s, id), []arbiter.Event{
		{At: at(1), Kind: "run.queued", Job: "a", RunID: id, Actor: "daemon"},
		{At: at(3), Kind: "run.running", Job: "a", RunID: id, Actor: "daemon", Detail: "pid 77 on w1"},
	})
	_, err = s.StartRun(ctx, store.RunStartParams{ID: id, PID: 78, Worker: "w1", Now: at(4)})
	wantErr(t, "StartRun twice", err, arbiter.ErrConflict)
}

func testCancelRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	queued := insertFire(t, s, "a", at(1))
	running := startRun(t, s, insertFire(t, s, "a", at(2)).ID, at(2))
	done := finishRun(t, s, startRun(t, s, insertFire(t, s, "a", at(3)).ID, at(3)).ID, arbiter.StateSucceeded, at(4))

	got, err := s.CancelRun(ctx, store.RunCancelParams{ID: queued.ID, Reason: "cancelled by uid:1000", Now: at(5), Actor: "uid:1000"})
	if err != nil {
		t.Fatal(err)
	}
	want := queued
	want.State, want.Reason, want.FinishedAt = arbiter.StateCancelled, "cancelled by uid:1000", at(5)
	wantEqual(t, "cancelled queued run", got, want)

	got, err = s.CancelRun(ctx, store.RunCancelParams{ID: running.ID, Reason: "replaced by run 9", Now: at(6), Actor: "daemon"})
	if err != nil {
		t.Fatal(err)
	}
	want = running
	want.CancelRequested = "replaced by run 9"
	wantEqual(t, "running run asked to cancel", got, want)
	list, err := s.ListRuns(ctx, store.RunListParams{Worker: running.Worker, States: []arbiter.RunState{arbiter.StateRunning}})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "the worker's running runs", list, []arbiter.Run{want})
	// The worker ends it; the request stays on the record.
	ended := finishRun(t, s, running.ID, arbiter.StateCancelled, at(7))
	if ended.CancelRequested != "replaced by run 9" {
		t.Errorf("ended run's CancelRequested = %q", ended.CancelRequested)
	}

	_, err = s.CancelRun(ctx, store.RunCancelParams{ID: done.ID, Reason: "x", Now: at(8)})
	wantErr(t, "CancelRun of an ended run", err, arbiter.ErrConflict)
	_, err = s.CancelRun(ctx, store.RunCancelParams{ID: done.ID + 1000, Reason: "x", Now: at(8)})
	wantErr(t, "CancelRun of a missing run", err, arbiter.ErrNotFound)
	_, err = s.CancelRun(ctx, store.RunCancelParams{ID: queued.ID, Now: at(8)})
	wantErr(t, "CancelRun without a reason", err, arbiter.ErrInvalid)
}

// testRecoverWorker: recovery limited to one node loses only that node's runs.
func testRecoverWorker(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	insertFire(t, s, "a", at(1))
	insertFire(t, s, "a", at(2))
	ra := claim(t, s, "node-a", nil, 1, at(3))
	rb := claim(t, s, "node-b", nil, 1, at(3))
	if len(ra) != 1 || len(rb) != 1 {
		t.Fatalf("claimed %d and %d runs, want 1 each", len(ra), len(rb))
	}
	got, err := s.RecoverRuns(ctx, store.RunRecoverParams{Worker: "node-a", Reason: "lost: node-a stopped", Now: at(4)})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "recovered", ids(got), ids(ra))
	if r := getRun(t, s, ra[0].ID); r.State != arbiter.StateLost {
		t.Errorf("node-a's run is %s, want lost", r.State)
	}
	if r := getRun(t, s, rb[0].ID); r.State != arbiter.StateRunning {
		t.Errorf("node-b's run is %s, want running", r.State)
	}
}

func testNodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	beat := func(n arbiter.Node) error {
		return s.HeartbeatNode(ctx, store.NodeHeartbeatParams{Node: n})
	}
	a := arbiter.Node{Name: "alpha", ID: "id-a", Roles: []arbiter.Role{arbiter.RoleScheduler, arbiter.RoleWorker},
		Labels: []string{"gpu"}, Leader: true, Running: 2, Version: "1.2.3", KeyID: "k1",
		StartedAt: at(0), SeenAt: at(1), LeaseUntil: at(2)}
	b := arbiter.Node{Name: "beta", ID: "id-b", Roles: []arbiter.Role{arbiter.RoleWorker},
		StartedAt: at(0), SeenAt: at(1), LeaseUntil: at(2)}
	for _, n := range []arbiter.Node{b, a} {
		if err := beat(n); err != nil {
			t.Fatalf("HeartbeatNode(%s): %v", n.Name, err)
		}
	}
	list, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "ListNodes", list, []arbiter.Node{a, b})

	// A later heartbeat replaces what the node reported.
	a.Leader, a.Running, a.SeenAt, a.LeaseUntil = false, 0, at(1).Add(time.Second), at(3)
	if err := beat(a); err != nil {
		t.Fatal(err)
	}
	// Another node may not take a live node's name, but may once its lease ran out.
	thief := b
	thief.ID, thief.SeenAt, thief.LeaseUntil = "id-c", at(1), at(5)
	wantErr(t, "HeartbeatNode of a live name", beat(thief), arbiter.ErrConflict)
	thief.SeenAt, thief.LeaseUntil = at(2), at(5)
	if err := beat(thief); err != nil {
		t.Errorf("HeartbeatNode after the lease ran out: %v", err)
	}
	list, err = s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "ListNodes after", list, []arbiter.Node{a, thief})

	for _, bad := range []arbiter.Node{
		{Name: "Bad Name", ID: "x", Roles: []arbiter.Role{arbiter.RoleWorker}, SeenAt: at(1), LeaseUntil: at(2)},
		{Name: "ok", ID: "", Roles: []arbiter.Role{arbiter.RoleWorker}, SeenAt: at(1), LeaseUntil: at(2)},
		{Name: "ok", ID: "x", SeenAt: at(1), LeaseUntil: at(2)},
		{Name: "ok", ID: "x", Roles: []arbiter.Role{arbiter.RoleWorker}, SeenAt: at(2), LeaseUntil: at(1)},
	} {
		wantErr(t, "HeartbeatNode "+bad.Name, beat(bad), arbiter.ErrInvalid)
	}
}
