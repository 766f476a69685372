package sqlitestore

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// The prepared reads are prepared on each reader connection the first time they run there, and
// ListRuns' statements on its first call of each shape: many readers at once, beside writes, each
// see the rows they asked for.
func TestPreparedReadsConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	mustJob(t, s, "j")
	ctx := t.Context()
	const runs = 8
	var ids []int64
	for i := range runs {
		r, err := s.InsertRun(ctx, store.RunInsertParams{Job: "j", Trigger: arbiter.TriggerManual, Now: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*readConns+1)
	for g := range 4 * readConns {
		wg.Go(func() {
			for i := range 25 {
				id := ids[(g+i)%runs]
				r, err := s.GetRun(ctx, id)
				if err == nil && r.ID != id {
					err = errors.New("GetRun returned another run")
				}
				if err == nil {
					_, err = s.GetJob(ctx, "j")
				}
				if err == nil {
					// Two shapes of ListRuns' query, one per goroutine parity: its statement
					// cache is filled by several callers at once.
					p := store.RunListParams{Job: "j"}
					if g%2 == 1 {
						p.States = []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
					}
					var list []arbiter.Run
					if list, err = s.ListRuns(ctx, p); err == nil && len(list) != runs {
						err = fmt.Errorf("ListRuns(%+v) returned %d runs, want %d", p, len(list), runs)
					}
				}
				if err == nil {
					_, err = s.GetJob(ctx, "missing")
					if errors.Is(err, arbiter.ErrNotFound) {
						err = nil
					} else if err == nil {
						err = errors.New("GetJob found a missing job")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() { // the writer changes the rows being read
		for _, id := range ids {
			if _, err := s.StartRun(ctx, store.RunStartParams{ID: id, PID: 1, Worker: "w", Now: t0}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A statement that failed (here the guard of StartRun, then a constraint) leaves its prepared
// statement ready for the next write.
func TestPreparedWritesAfterFailure(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	mustJob(t, s, "j")
	ctx := t.Context()
	run, err := s.InsertRun(ctx, store.RunInsertParams{Job: "j", Trigger: arbiter.TriggerManual, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishRun(ctx, store.RunFinishParams{ID: run.ID + 100, State: arbiter.StateSucceeded, Now: t0}); !errors.Is(err, arbiter.ErrNotFound) {
		t.Fatalf("finish a missing run: err = %v, want ErrNotFound", err)
	}
	if _, err := s.StartRun(ctx, store.RunStartParams{ID: run.ID, PID: 1, Worker: "w", Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartRun(ctx, store.RunStartParams{ID: run.ID, PID: 1, Worker: "w", Now: t0}); !errors.Is(err, arbiter.ErrConflict) {
		t.Fatalf("start a running run: err = %v, want ErrConflict", err)
	}
	if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 1, Data: []byte("x"), Now: t0}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 1, Data: []byte("x"), Now: t0})
		if !errors.Is(err, arbiter.ErrConflict) {
			t.Fatalf("append seq 1 again: err = %v, want ErrConflict", err)
		}
	}
	if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 2, Data: []byte("y"), Now: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: arbiter.StateSucceeded, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != arbiter.StateSucceeded || got.OutputBytes != 2 {
		t.Errorf("finished run: state %s, %d output bytes; want succeeded, 2", got.State, got.OutputBytes)
	}
}

// Close closes the statements it prepared, not just the pools.
func TestCloseClosesStatements(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), t.TempDir()+"/a.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListRuns(t.Context(), store.RunListParams{Job: "j"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	prepared := append(s.ws.list(), s.rs.list()...)
	for q, st := range s.lists.stmts {
		prepared = append(prepared, stmtDef{&st, q})
	}
	if len(prepared) != len(s.ws.list())+len(s.rs.list())+1 {
		t.Fatalf("%d statements prepared, want one for ListRuns besides those of Open", len(prepared))
	}
	for _, d := range prepared {
		_, err := (*d.stmt).ExecContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), "statement is closed") {
			t.Errorf("%s after Close: err = %v, want the statement closed", oneLine(d.sql), err)
		}
	}
	// A shape not seen before Close is not prepared after it.
	if _, err := s.ListRuns(t.Context(), store.RunListParams{}); !errors.Is(err, ErrClosed) {
		t.Errorf("ListRuns of a new shape after Close: err = %v, want ErrClosed", err)
	}
}
