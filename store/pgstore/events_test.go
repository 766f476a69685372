package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// A transaction that records events blocks every other one that does from its event inserts to
// its commit: the second's ids are taken after the first committed.
func TestEventLockOrdersCommits(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	ctx := t.Context()

	// The first writer takes the lock and inserts its event, as commit does, and stops short of
	// committing (which commit sends in the same batch).
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, eventLockKey); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, insertEventSQL, ns(t0), "test.first", "", nil, "daemon", ""); err != nil {
		t.Fatal(err)
	}

	// The second waits for the lock.
	second := make(chan error, 1)
	go func() {
		second <- s.AppendEvent(ctx, arbiter.Event{At: t0, Kind: "test.second"})
	}()
	raw := rawConn(t, dsn)
	eventually(t, "the second writer to wait for the event lock", func() bool {
		var waiting int
		err := raw.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND (classid::bigint << 32 | objid::bigint) = $1`, eventLockKey).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		return waiting == 1
	})
	select {
	case err := <-second:
		t.Fatalf("the second writer finished while the first held the lock: %v", err)
	default:
	}
	if events, err := s.ListEvents(ctx, store.EventListParams{}); err != nil || len(events) != 0 {
		t.Fatalf("ListEvents before any commit = %+v, %v; want nothing", events, err)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	events, err := s.ListEvents(ctx, store.EventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Kind != "test.first" || events[1].Kind != "test.second" || events[0].ID >= events[1].ID {
		t.Errorf("events = %+v; want test.first, then test.second with a greater id", events)
	}
}

// Many writers on several nodes record events while a follower pages through the log by id, as
// `arbiter events -f` does: the follower sees every event exactly once, in id order.
func TestEventsNeverSkipped(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	const (
		nodes   = 3
		writers = 8 // goroutines per node... in all, spread over the nodes
		each    = 40
	)
	var stores [nodes]*Store
	for i := range stores {
		stores[i] = openAt(t, dsn, Options{})
	}
	ctx := t.Context()
	mustJob(t, stores[0], "shared")

	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		failure = make(chan error, writers)
	)
	for w := range writers {
		s := stores[w%nodes]
		wg.Go(func() {
			for i := range each {
				now := t0.Add(time.Duration(w*each+i) * time.Second)
				var err error
				switch i % 5 {
				case 0: // one event
					err = s.AppendEvent(ctx, arbiter.Event{At: now, Kind: "test.append", Detail: fmt.Sprint(w, i)})
				case 1: // three events in one transaction
					_, err = s.ApplyJobs(ctx, store.JobApplyParams{Now: now, Create: []arbiter.Job{
						job(fmt.Sprintf("w%d-%d-a", w, i)), job(fmt.Sprintf("w%d-%d-b", w, i)), job(fmt.Sprintf("w%d-%d-c", w, i))}})
				case 2: // a run, on a row every writer shares a job with
					_, err = s.InsertRun(ctx, store.RunInsertParams{Job: "shared", Trigger: arbiter.TriggerManual, Now: now})
				case 3: // a fire: an insert and an event
					_, _, err = s.InsertFire(ctx, store.FireInsertParams{Job: "shared", ScheduledAt: now,
						Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: now})
				case 4: // a run's life: its start and end are one statement each (changeRunSQL)
					var r arbiter.Run
					r, err = s.InsertRun(ctx, store.RunInsertParams{Job: "shared", Trigger: arbiter.TriggerManual, Now: now})
					if err == nil {
						_, err = s.StartRun(ctx, store.RunStartParams{ID: r.ID, PID: 1, Worker: "w", Now: now})
					}
					if err == nil {
						_, err = s.FinishRun(ctx, store.RunFinishParams{ID: r.ID, State: arbiter.StateSucceeded, Now: now})
					}
				}
				if err != nil {
					failure <- err
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		done.Store(true)
	}()

	// The follower, on a node of its own: small pages, as fast as it can.
	follower := openAt(t, dsn, Options{})
	var (
		seen  []int64
		after int64
	)
	for {
		finished := done.Load() // read before the page: a page read after the last commit is complete
		page, err := follower.ListEvents(ctx, store.EventListParams{AfterID: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			seen = append(seen, e.ID)
			after = e.ID
		}
		if finished && len(page) == 0 {
			break
		}
	}
	close(failure)
	for err := range failure {
		t.Fatal(err)
	}

	var all []int64
	for after := int64(0); ; {
		page, err := follower.ListEvents(ctx, store.EventListParams{AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			all = append(all, e.ID)
		}
		after = page[len(page)-1].ID
	}
	// 1 job.created, then per writer each/5 of: 1 append, 3 job.created, 1 run.queued, 1 run.queued,
	// and run.queued, run.running and run.succeeded.
	if want := 1 + writers*each/5*9; len(all) != want {
		t.Fatalf("%d events in the log, want %d", len(all), want)
	}
	if !slices.Equal(seen, all) {
		missing := 0
		for _, id := range all {
			if !slices.Contains(seen, id) {
				missing++
			}
		}
		t.Errorf("the follower saw %d events, the log holds %d; %d skipped", len(seen), len(all), missing)
	}
}

// The events that StartRun and FinishRun record in their statement say what store.RunEventDetail
// says of the run.
func TestRunDetailSQL(t *testing.T) {
	t.Parallel()
	s := openAt(t, pg.NewDatabase(t), Options{})
	runs := []arbiter.Run{
		{State: arbiter.StateRunning, PID: 31337, Worker: "node-1"},
		{State: arbiter.StateRunning, Worker: "node-2"},
		{State: arbiter.StateRunning, PID: 7},
		{State: arbiter.StateSucceeded, ExitCode: intp(0)},
		{State: arbiter.StateFailed, ExitCode: intp(-3)},
		{State: arbiter.StateFailed, ExitCode: intp(1), Reason: "exit status 1: no such file"},
		{State: arbiter.StateTimedOut, Signal: "SIGKILL"},
		{State: arbiter.StateTimedOut, Signal: "SIGTERM", Reason: "timed out after 1s"},
		{State: arbiter.StateCancelled, Reason: "cancelled by uid:1000"},
		{State: arbiter.StateLost},
		{State: arbiter.StateRunning, PID: 1, Worker: "ünï ✓", Reason: "retry 2 of 3"},
	}
	for _, r := range runs {
		var got string
		err := s.pool.QueryRow(t.Context(), `SELECT `+runDetailSQL+`
			FROM (VALUES ($1::text, $2::text, $3::integer, $4::text, $5::integer, $6::text)) AS c (state, reason, exit_code, signal, pid, worker)`,
			string(r.State), r.Reason, r.ExitCode, r.Signal, r.PID, r.Worker).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if want := store.RunEventDetail(r); got != want {
			t.Errorf("detail of %+v = %q; store.RunEventDetail says %q", r, got, want)
		}
	}
}

func intp(n int) *int { return &n }
