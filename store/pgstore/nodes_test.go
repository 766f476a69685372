package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// Schedulers on several nodes materialize one fire once: one insert, every other call gets the
// same run back.
func TestInsertFireAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	const nodes, callers = 4, 12
	var stores [nodes]*Store
	for i := range stores {
		stores[i] = openAt(t, dsn, Options{})
	}
	mustJob(t, stores[0], "backup")
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		runs     [callers]arbiter.Run
		inserted [callers]bool
		errs     [callers]error
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			trigger := []arbiter.Trigger{arbiter.TriggerSchedule, arbiter.TriggerCatchup}[i%2]
			runs[i], inserted[i], errs[i] = stores[i%nodes].InsertFire(t.Context(), store.FireInsertParams{
				Job: "backup", ScheduledAt: t0, Trigger: trigger, State: arbiter.StateQueued, Now: t0})
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("InsertFire %d: %v", i, errs[i])
		}
		if inserted[i] {
			n++
		}
		if runs[i] != runs[0] {
			t.Errorf("InsertFire %d returned %+v, InsertFire 0 %+v", i, runs[i], runs[0])
		}
	}
	if n != 1 {
		t.Errorf("%d of %d InsertFire calls inserted; want 1", n, callers)
	}
	events, err := stores[0].ListEvents(t.Context(), store.EventListParams{Job: "backup"})
	if err != nil || len(events) != 2 { // job.created, run.queued
		t.Errorf("events = %+v, %v; want the job's creation and one run.queued", events, err)
	}
}

// A rotation cannot miss a secret that another node creates while it runs: it waits for that
// node's transaction, then finds the set changed and changes nothing.
func TestReplaceSecretsWaitsForPuts(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	ctx := t.Context()
	old := arbiter.Secret{Name: "a", KeyID: "old", Nonce: []byte("nonce-a-0001"), Ciphertext: []byte("sealed a under old"), Size: 1}
	if _, err := s.PutSecret(ctx, store.SecretPutParams{Secret: old, Now: t0}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Another node is creating b, not yet committed.
	other := rawConn(t, dsn)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `INSERT INTO secrets (name, key_id, nonce, ciphertext, size, created_at, updated_at)
		VALUES ('b', 'old', '\x00', '\x01', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}

	next := stored[0]
	next.KeyID, next.Nonce, next.Ciphertext = "new", []byte("nonce-a-0002"), []byte("sealed a under new")
	rotated := make(chan error, 1)
	go func() {
		rotated <- s.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: []arbiter.Secret{next}, Now: t0})
	}()
	raw := rawConn(t, dsn)
	eventually(t, "the rotation to wait for the insert", func() bool {
		var waiting int
		if err := raw.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'relation' AND relation = 'secrets'::regclass AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting == 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-rotated; !errors.Is(err, arbiter.ErrConflict) {
		t.Fatalf("ReplaceSecrets with a secret created meanwhile: %v, want ErrConflict", err)
	}
	if got, err := s.GetSecret(ctx, "a"); err != nil || got.KeyID != "old" {
		t.Errorf("secret a after the refused rotation = %+v, %v; want it under key old", got, err)
	}
}

// One node at a time holds the scheduler lock; its session carries the idle timeout that lets
// the server end it when the holder goes silent, and Resign frees it for another node.
func TestSchedulerLock(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	a, b := openAt(t, dsn, Options{}).SchedulerLock(), openAt(t, dsn, Options{}).SchedulerLock()
	_, lost, ok, err := a.TryLead(t.Context())
	if err != nil || !ok {
		t.Fatalf("TryLead of a free lock = %v, %v; want it taken", ok, err)
	}
	if _, _, ok, err := b.TryLead(t.Context()); err != nil || ok {
		t.Fatalf("TryLead of a held lock = %v, %v; want false, nil", ok, err)
	}
	var timeout string
	if err := a.conn.QueryRow(t.Context(), `SHOW idle_session_timeout`).Scan(&timeout); err != nil || timeout != "10s" {
		t.Errorf("the lock session's idle_session_timeout = %q, %v; want 10s", timeout, err)
	}
	a.Resign()
	select {
	case <-lost:
	default:
		t.Error("Resign did not close the lost channel")
	}
	if _, _, ok, err := b.TryLead(t.Context()); err != nil || !ok {
		t.Fatalf("TryLead after the holder resigned = %v, %v; want it taken", ok, err)
	}

	// A holder that goes silent, as a frozen node does, keeping its socket: the server ends its
	// session and another node takes the lock.
	close(b.stop)
	<-b.done
	c := openAt(t, dsn, Options{}).SchedulerLock()
	deadline := time.Now().Add(time.Minute)
	for {
		_, _, ok, err := c.TryLead(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock of a silent holder was still held a minute later")
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Resign()
	b.conn.Close(context.Background())
}
