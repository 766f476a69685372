package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/pgstore"
)

// unnoticedLock is the scheduler lock of a node that does not notice losing it: its lost channel
// never closes, as for a leader that froze between two pings of its lock's session and has not
// pinged since. The lock itself is the real one, on the real server.
type unnoticedLock struct{ *pgstore.SchedulerLock }

func (l unnoticedLock) TryLead(ctx context.Context) (string, <-chan struct{}, bool, error) {
	term, _, ok, err := l.SchedulerLock.TryLead(ctx)
	return term, nil, ok, err
}

// TestClusterLeaderFencedAfterItsSessionEnds: the server ends the session of a leader's lock
// behind its back (as it does to a holder that went silent), another node takes the lock, and
// the leader, which has not noticed, fires. The store refuses the fire, which carries the
// leader's old term: nothing is recorded. The node stops leading at once, does not try the fire
// again, and stands again: once the other node resigns, it leads with a new term, whose fires
// are recorded.
func TestClusterLeaderFencedAfterItsSessionEnds(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	ctx := t.Context()
	fc := clock.NewFake(t0)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		cfg: Config{OutputCap: 1 << 20}, log: log, clock: fc, runner: &fakeRunner{started: make(chan *fakeProc, 16)},
		outputs: newBroadcaster[int64](), commits: newBroadcaster[struct{}](),
		nodeID: "test", worker: "node-1", store: st,
	}
	d.runs = newDispatcher(d, 8)
	d.sched = newScheduler(fc, log, d.fire) // planned by each new term, never run: the test fires
	c := &cluster{d: d, node: arbiter.Node{Name: "node-1", ID: "test", Roles: arbiter.Roles},
		lock: unnoticedLock{st.SchedulerLock()}, beat: time.Second, lease: 10 * time.Second,
		poke: make(chan struct{}, 1)}
	d.cluster = c
	electCtx, stopElect := context.WithCancel(ctx)
	var elect sync.WaitGroup
	elect.Go(func() { c.elect(electCtx) })
	t.Cleanup(func() {
		stopElect()
		elect.Wait()
		d.runs.shutdown(nil, 0)
		st.Close()
	})

	other, err := pgstore.Open(ctx, dsn, pgstore.Options{}) // another node
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())

	j := job("tick", "@yearly")
	j.Normalize()
	if _, err := st.CreateJob(ctx, store.JobCreateParams{Job: j, Now: t0}); err != nil {
		t.Fatal(err)
	}
	fire := func(sec int) {
		d.fire(ctx, dueFire{job: "tick", loc: time.UTC, at: t0.Add(time.Duration(sec) * time.Second), trigger: arbiter.TriggerSchedule})
	}
	fired := func() []int {
		t.Helper()
		runs, err := st.ListRuns(ctx, store.RunListParams{Job: "tick"})
		if err != nil {
			t.Fatal(err)
		}
		var secs []int
		for i := len(runs) - 1; i >= 0; i-- {
			secs = append(secs, int(runs[i].ScheduledAt.Sub(t0)/time.Second))
		}
		return secs
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; the node's log:\n%s", what, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// holder is the pid of the session that holds the scheduler lock of the test's database, 0
	// when none does.
	holder := func() int32 {
		t.Helper()
		var pid int32
		if err := raw.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_locks
			WHERE locktype = 'advisory' AND objsubid = 1 AND granted
				AND (classid::bigint << 32 | objid::bigint) = $1
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			int64(0x6172626974657203)).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}

	waitFor("the node to lead", d.isLeader)
	old := c.term.Load()
	fire(1)
	if got := fired(); fmt.Sprint(got) != "[1]" {
		t.Fatalf("fires recorded by the leader: %v, want [1]", got)
	}

	pid := holder()
	if pid == 0 || !strings.HasPrefix(old.id, fmt.Sprint(pid, "@")) {
		t.Fatalf("the lock is held by pid %d; the node's term is %q", pid, old.id)
	}
	if _, err := raw.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	otherLock := other.SchedulerLock()
	defer otherLock.Resign()
	waitFor("the other node to take the lock", func() bool {
		_, _, ok, err := otherLock.TryLead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if !d.isLeader() {
		t.Fatal("the node noticed that it lost the lock: nothing left to fence")
	}

	fire(2)
	if d.isLeader() {
		t.Error("the node still leads after the store refused its fire")
	}
	if got := fired(); fmt.Sprint(got) != "[1]" {
		t.Errorf("fires recorded after the lock's session ended: %v, want [1]", got)
	}
	if c.replan.Load() {
		t.Error("the refused fire is to be planned again by the node that no longer leads")
	}
	waitFor("the node to end its term", func() bool {
		return strings.Contains(logs.String(), "no longer the scheduler: the store refused a fire")
	})
	fire(3) // a standby's fire: not even tried
	if got := fired(); fmt.Sprint(got) != "[1]" {
		t.Errorf("fires recorded by the standby: %v, want [1]", got)
	}

	otherLock.Resign()
	waitFor("the node to lead again", d.isLeader)
	if c.term.Load() == old || c.term.Load().id == old.id {
		t.Fatalf("the node leads again in its old term %q", old.id)
	}
	fire(4)
	if got := fired(); fmt.Sprint(got) != "[1 4]" {
		t.Errorf("fires recorded: %v, want [1 4]", got)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
	if testing.Verbose() {
		t.Logf("the node's log:\n%s", logs.String())
	}
}
