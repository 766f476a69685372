package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustJob(t *testing.T, s *Store, name string) {
	t.Helper()
	job := arbiter.Job{Name: name, Schedule: "@every 1h", Command: []string{"true"}}
	job.Normalize()
	if _, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: job, Now: t0}); err != nil {
		t.Fatal(err)
	}
}

// Concurrent writers share transactions, and every one of them is durable when write returns.
func TestGroupCommitBatches(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	mustJob(t, s, "j")
	const writers, each = 32, 20
	before := s.commits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.InsertRun(t.Context(), store.RunInsertParams{
					Job: "j", Trigger: arbiter.TriggerManual, Now: t0.Add(time.Duration(w*each+i) * time.Second)})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	commits := s.commits.Load() - before
	if commits >= writers*each {
		t.Errorf("%d writes took %d commits; concurrent writes should share transactions", writers*each, commits)
	}
	t.Logf("%d writes in %d commits", writers*each, commits)

	// What write reported as done is in the file, seen by a fresh connection.
	var n int
	if err := openRaw(t, path).QueryRow(`SELECT count(*) FROM runs WHERE job = 'j'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Errorf("runs in the file = %d, want %d", n, writers*each)
	}
}

// A write that fails inside a batch is rolled back alone; the others in its transaction commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	mustJob(t, s, "j")
	run, err := s.InsertRun(t.Context(), store.RunInsertParams{Job: "j", Trigger: arbiter.TriggerManual, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	insert := func(seq int64, data string) func(tx *sql.Tx) error {
		return func(tx *sql.Tx) error {
			if err := addOutputCounter(ctx, tx, s.ws.addOutBytes, run.ID, int64(len(data))); err != nil {
				return err
			}
			// The prepared statement, as AppendOutput runs it: a failure must leave it reusable by
			// the next write of the batch.
			_, err := tx.StmtContext(ctx, s.ws.insertOutput).ExecContext(ctx, run.ID, seq, ns(t0), []byte(data))
			return err
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	batch := []*writeReq{
		{ctx: ctx, fn: insert(1, "one "), result: make(chan error, 1)},
		{ctx: ctx, fn: insert(1, "duplicate seq "), result: make(chan error, 1)}, // fails its primary key
		{ctx: cancelled, fn: insert(3, "caller gave up "), result: make(chan error, 1)},
		{ctx: ctx, fn: insert(2, "two"), result: make(chan error, 1)},
	}
	s.commit(batch)
	got := make([]error, len(batch))
	for i, req := range batch {
		got[i] = <-req.result
	}
	if got[0] != nil || got[3] != nil {
		t.Fatalf("good writes failed: %v, %v", got[0], got[3])
	}
	if !errors.Is(interpretError(got[1]), arbiter.ErrConflict) {
		t.Errorf("duplicate seq: err = %v, want a conflict", got[1])
	}
	if !errors.Is(got[2], context.Canceled) {
		t.Errorf("cancelled write: err = %v, want context.Canceled", got[2])
	}
	chunks, err := s.ReadOutput(ctx, store.OutputReadParams{RunID: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, c := range chunks {
		text += string(c.Data)
	}
	if text != "one two" {
		t.Errorf("stored output = %q, want %q", text, "one two")
	}
	r, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputBytes != int64(len("one two")) {
		t.Errorf("output_bytes = %d, want %d: the failed write's counter update must roll back with it", r.OutputBytes, len("one two"))
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), t.TempDir()+"/a.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.InsertRun(t.Context(), store.RunInsertParams{Job: "j", Trigger: arbiter.TriggerManual, Now: t0})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The committer waits for more writes only when several writers shared a recent commit: a lone
// writer, or the first write after a quiet spell, commits at once.
func TestCommitterLingersOnlyWhenBusy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lastSize int
		since    time.Duration
		want     bool
	}{
		{"writers shared the last commit a moment ago", 12, time.Millisecond, true},
		{"one write after another", 1, 0, false},
		{"after a quiet spell", 12, time.Second, false},
		{"the very first write", 0, time.Hour, false},
	}
	for _, tt := range tests {
		if got := busy(tt.lastSize, tt.since); got != tt.want {
			t.Errorf("%s: busy(%d, %s) = %v, want %v", tt.name, tt.lastSize, tt.since, got, tt.want)
		}
	}
}
