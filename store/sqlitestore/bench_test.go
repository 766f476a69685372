package sqlitestore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// The store's hot paths, each beside a raw baseline: the same table change as one bare SQL
// statement on its own connection with the same pragmas (WAL, synchronous=FULL), so each
// baseline statement is its own transaction and pays its own fsync. The store does more per
// operation (a job check, the RETURNING row, an event in the same transaction); group commit is
// what lets it keep up when many operations come at once.
//
//	go test -run '^$' -bench . -benchmem ./store/sqlitestore/
//
// "serial" is one caller; "parallel" is 64 callers (a busy dispatcher), where the store batches.

const benchParallelism = 32 // × GOMAXPROCS callers in RunParallel

// benchStore opens a store with one job, and a raw connection to a second file of the same
// schema and pragmas with the same job.
func benchStore(b *testing.B) (*Store, *sql.DB) {
	b.Helper()
	dir := b.TempDir()
	s, err := Open(b.Context(), filepath.Join(dir, "store.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	job := arbiter.Job{Name: "j", Schedule: "@every 1h", Command: []string{"true"}}
	job.Normalize()
	if _, err := s.CreateJob(b.Context(), store.JobCreateParams{Job: job, Now: t0}); err != nil {
		b.Fatal(err)
	}

	rawPath := filepath.Join(dir, "raw.db")
	rs, err := Open(b.Context(), rawPath, Options{}) // the same schema, migrated
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rs.CreateJob(b.Context(), store.JobCreateParams{Job: job, Now: t0}); err != nil {
		b.Fatal(err)
	}
	rs.Close()
	raw, err := sql.Open("sqlite", dsn(rawPath, false))
	if err != nil {
		b.Fatal(err)
	}
	raw.SetMaxOpenConns(1) // SQLite has one writer either way
	b.Cleanup(func() { raw.Close() })
	return s, raw
}

// seedRuns inserts n runs in state into both databases in one transaction each, for the
// benchmarks that change existing runs, and returns the first id.
func seedRuns(b *testing.B, s *Store, raw *sql.DB, n int, state string) (storeFirst, rawFirst int64) {
	b.Helper()
	seed := func(db *sql.DB) int64 {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		var first int64
		for i := range n {
			var id int64
			if err := tx.QueryRow(`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at)
				VALUES ('j', 'manual', ?, 1, ?, ?) RETURNING id`, ns(t0)+int64(i), state, ns(t0)).Scan(&id); err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				first = id
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		return first
	}
	return seed(s.wr), seed(raw)
}

// each runs op serially and from many goroutines; op gets an index never given before, across
// the repeated runs the benchmark framework makes.
func each(b *testing.B, op func(i int64) error) {
	var next atomic.Int64
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := op(next.Add(1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(next.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkInsertFire(b *testing.B) {
	s, raw := benchStore(b)
	b.Run("store", func(b *testing.B) {
		each(b, func(i int64) error {
			_, _, err := s.InsertFire(b.Context(), store.FireInsertParams{
				Job: "j", ScheduledAt: t0.Add(time.Duration(i) * time.Second),
				Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: t0})
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		each(b, func(i int64) error {
			_, err := raw.Exec(`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at)
				VALUES ('j', 'schedule', ?, 1, 'queued', ?)`, ns(t0)+i*int64(time.Second), ns(t0))
			return err
		})
	})
}

// BenchmarkStartRun is the single-node claim: a queued run becomes running.
func BenchmarkStartRun(b *testing.B) {
	benchTransition(b, "queued", func(s *Store, id int64) error {
		_, err := s.StartRun(b.Context(), store.RunStartParams{ID: id, PID: 4242, Worker: "bench", Now: t0})
		return err
	}, `UPDATE runs SET state = 'running', started_at = ?, pid = 4242, worker = 'bench' WHERE id = ? AND state = 'queued'`)
}

// BenchmarkFinishRun is completion: a running run becomes succeeded.
func BenchmarkFinishRun(b *testing.B) {
	zero := 0
	benchTransition(b, "running", func(s *Store, id int64) error {
		_, err := s.FinishRun(b.Context(), store.RunFinishParams{ID: id, State: arbiter.StateSucceeded, ExitCode: &zero, Now: t0})
		return err
	}, `UPDATE runs SET state = 'succeeded', finished_at = ?, exit_code = 0 WHERE id = ? AND state IN ('queued', 'running')`)
}

// benchTransition measures a change of one existing run per operation: each sub-benchmark seeds
// enough runs for its iterations first, outside the timer.
func benchTransition(b *testing.B, from string, op func(s *Store, id int64) error, rawSQL string) {
	run := func(b *testing.B, exec func(id int64) error, seeded func(n int) int64) {
		b.Run("serial", func(b *testing.B) {
			b.ReportAllocs()
			first := seeded(b.N)
			b.ResetTimer()
			for i := range b.N {
				if err := exec(first + int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			first := seeded(b.N)
			var next atomic.Int64
			next.Store(first - 1)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := exec(next.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	s, raw := benchStore(b)
	b.Run("store", func(b *testing.B) {
		run(b, func(id int64) error { return op(s, id) }, func(n int) int64 {
			first, _ := seedRuns(b, s, raw, n, from)
			return first
		})
	})
	b.Run("raw", func(b *testing.B) {
		run(b, func(id int64) error {
			res, err := raw.Exec(rawSQL, ns(t0), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("run %d: %d rows changed", id, n)
			}
			return nil
		}, func(n int) int64 {
			_, first := seedRuns(b, s, raw, n, from)
			return first
		})
	})
}

// BenchmarkAppendOutput stores 4 KiB chunks of one running run's output.
func BenchmarkAppendOutput(b *testing.B) {
	s, raw := benchStore(b)
	storeRun, rawRun := seedRuns(b, s, raw, 1, "running")
	chunk := make([]byte, 4096)
	b.Run("store", func(b *testing.B) {
		each(b, func(i int64) error {
			return s.AppendOutput(b.Context(), store.OutputAppendParams{RunID: storeRun, Seq: i + 1, Data: chunk, Now: t0})
		})
	})
	b.Run("raw", func(b *testing.B) {
		each(b, func(i int64) error {
			_, err := raw.Exec(`INSERT INTO run_output (run_id, seq, at, data) VALUES (?, ?, ?, ?)`, rawRun, i+1, ns(t0), chunk)
			return err
		})
	})
}

// BenchmarkGetJob is a point read through the read pool, as the API and the dispatcher make for
// every run they look at.
func BenchmarkGetJob(b *testing.B) {
	s, _ := benchStore(b)
	b.Run("store", func(b *testing.B) {
		each(b, func(int64) error {
			_, err := s.GetJob(b.Context(), "j")
			return err
		})
	})
}

// BenchmarkApplyJobs is an apply of a large job file: one transaction updating 2,000 jobs (each
// an update and its event), the same statements 2,000 times over.
func BenchmarkApplyJobs(b *testing.B) {
	s, _ := benchStore(b)
	const n = 2000
	jobs := make([]arbiter.Job, n)
	for i := range jobs {
		jobs[i] = arbiter.Job{Name: fmt.Sprintf("apply-%04d", i), Schedule: "@every 1h", Command: []string{"true"}}
		jobs[i].Normalize()
	}
	if _, err := s.ApplyJobs(b.Context(), store.JobApplyParams{Create: jobs, Now: t0}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range jobs {
			jobs[j].Timeout = time.Duration(i+1) * time.Second // a real change, so every row is rewritten
		}
		if _, err := s.ApplyJobs(b.Context(), store.JobApplyParams{Update: jobs, Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
}
