package pgstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// Claiming queued runs, as the workers of a cluster do, beside a raw baseline: the same table
// and the same rows, drained at the same concurrency and batch size by the bare
// FOR UPDATE SKIP LOCKED statement (rawClaimSQL). Each claimer is a worker of its own name, on
// a connection of its own; the queue holds b.N runs, so its depth is the -benchtime count.
//
//	go test -run '^$' -bench Claim -benchtime 5000x ./store/pgstore/
//
// ns/op is per run (wall time over b.N runs); runs/s is the same figure the other way up.
// go-cpu-µs/run and pg-cpu-µs/run are the CPU time per run of this process and of the test
// server, which share the machine: where the time goes.
// The test server runs with fsync and synchronous_commit off (internal/pgtest), which lowers
// the cost of a commit on both sides alike. Nothing here is asserted: BENCHMARKS.md, section
// 7, has the figures and what bounds them.

// benchJobs is how many jobs the queued runs are spread over (default overlap, no labels).
const benchJobs = 100

// benchClaimers are the concurrencies measured, the highest last: both pools have a connection
// for each of its claimers.
var benchClaimers = []int{1, 4, 16}

var benchBatches = []int{1, 16}

// benchHistory is how many finished runs the table holds before the queue: a table with a
// history, as every arbiter database soon has.
const benchHistory = 100_000

// benchDB opens a store on a new database with benchJobs jobs and benchHistory finished runs,
// and a plain pool on the same database for the raw baselines and the set-up; both pools have
// room for every claimer. It returns the highest id of the history.
//
// The table is analyzed with its history only, and autovacuum is off for it, so that every
// measurement plans with the same statistics: those of a database whose queue was empty when
// it was last analyzed, as a backlog finds it (a backlog grows faster than autovacuum
// re-analyzes). With statistics that count the queued runs, the planner's choice between
// runs_pkey and runs_state_id depends on the queue's depth, for the raw claim too; see
// BENCHMARKS.md.
func benchDB(b *testing.B) (*Store, *pgxpool.Pool, int64) {
	b.Helper()
	dsn := pg.NewDatabase(b) + fmt.Sprintf("&pool_max_conns=%d", benchClaimers[len(benchClaimers)-1])
	s := openAt(b, dsn, Options{})
	for i := range benchJobs {
		mustJob(b, s, benchJobName(i))
	}
	raw, err := pgxpool.New(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	var last int64
	err = raw.QueryRow(b.Context(), `WITH h AS (`+insertRunsSQL("succeeded", benchHistory)+` RETURNING id) SELECT max(id) FROM h`).Scan(&last)
	if err != nil {
		b.Fatal(err)
	}
	benchExec(b, raw, `ALTER TABLE runs SET (autovacuum_enabled = off)`, `VACUUM ANALYZE runs`)
	return s, raw, last
}

func benchJobName(i int) string { return fmt.Sprintf("bench-%03d", i) }

// insertRunsSQL inserts n runs in state, spread over the jobs.
func insertRunsSQL(state string, n int) string {
	return fmt.Sprintf(`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at)
		SELECT 'bench-' || lpad((i %% %d)::text, 3, '0'), 'manual', %d + i, 1, '%s', %d
		FROM generate_series(1, %d) AS i`, benchJobs, ns(t0), state, ns(t0), n)
}

func benchExec(b *testing.B, raw *pgxpool.Pool, stmts ...string) {
	b.Helper()
	for _, q := range stmts {
		if _, err := raw.Exec(b.Context(), q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// fillQueue deletes every run after the history and every event, queues n runs spread over
// the jobs, and vacuums the table (without analyzing it), so that every measurement starts
// from the same table. Outside the timer.
func fillQueue(b *testing.B, raw *pgxpool.Pool, history int64, n int) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	benchExec(b, raw,
		fmt.Sprintf(`DELETE FROM runs WHERE id > %d`, history),
		`TRUNCATE events`,
		insertRunsSQL("queued", n),
		`VACUUM runs`)
}

// drainQueue starts claimers goroutines, each calling claim with its own worker name until claim
// finds nothing left, and times them from the first call to the last return. It fails unless
// they claimed the b.N queued runs between them, and reports runs/s.
func drainQueue(b *testing.B, raw *pgxpool.Pool, history int64, claimers int, claim func(ctx context.Context, worker string) (int, error)) {
	fillQueue(b, raw, history, b.N)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		claimed atomic.Int64
	)
	for w := range claimers {
		worker := fmt.Sprintf("worker-%02d", w)
		wg.Go(func() {
			<-start
			for {
				n, err := claim(b.Context(), worker)
				if err != nil {
					b.Error(err)
					return
				}
				if n == 0 {
					return
				}
				claimed.Add(int64(n))
			}
		})
	}
	goCPU := processCPU()
	pgCPU, pgOK := serverCPU()
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	if got := claimed.Load(); got != int64(b.N) {
		b.Fatalf("claimed %d runs of %d queued", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
	b.ReportMetric(float64((processCPU()-goCPU).Microseconds())/float64(b.N), "go-cpu-µs/run")
	if pgEnd, ok := serverCPU(); ok && pgOK {
		b.ReportMetric(float64((pgEnd-pgCPU).Microseconds())/float64(b.N), "pg-cpu-µs/run")
	}
}

// processCPU is the CPU time this process has used: the claimers, the pools, the runtime.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time the test server has used: its postmaster, the postmaster's children
// (the backends, the background processes) and the children it has reaped, from /proc. ok is
// false when it cannot tell: a server it did not start (ARBITER_TEST_POSTGRES), or no /proc.
func serverCPU() (cpu time.Duration, ok bool) {
	if pg.SocketDir() == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(pg.SocketDir(), "data", "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	postmaster, _, _ := strings.Cut(string(b), "\n")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ, 100 on Linux
	for _, e := range ents {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or one that just ended
		}
		// pid (comm) state ppid ... utime stime cutime cstime: fields 14 to 17 of proc(5),
		// counted after the comm, which may hold spaces.
		_, rest, found := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		if !found || len(f) < 15 || (e.Name() != postmaster && f[1] != postmaster) {
			continue
		}
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			cpu += time.Duration(n) * tick
		}
	}
	return cpu, true
}

// eachShape runs bench for every concurrency and batch size.
func eachShape(b *testing.B, bench func(b *testing.B, claimers, batch int)) {
	for _, c := range benchClaimers {
		for _, batch := range benchBatches {
			b.Run(fmt.Sprintf("claimers=%d/batch=%d", c, batch), func(b *testing.B) { bench(b, c, batch) })
		}
	}
}

// rawClaimSQL is the baseline's claim: no labels, no overlap check, no not_before, no event,
// only the id returned, and autocommit (one round trip). The pick is a MATERIALIZED CTE, as in
// claimRunsSQL (a plain WHERE id IN (subquery) may run the subquery more than once), so that
// the two differ only in what arbiter adds.
const rawClaimSQL = `WITH picked AS MATERIALIZED (
		SELECT id FROM runs WHERE state = 'queued' ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
	UPDATE runs SET state = 'running', started_at = $1, worker = $2
	FROM picked WHERE runs.id = picked.id
	RETURNING runs.id`

// rawClaim claims up to batch runs for worker with rawClaimSQL.
func rawClaim(ctx context.Context, raw *pgxpool.Pool, worker string, batch int) ([]int64, error) {
	rows, err := raw.Query(ctx, rawClaimSQL, ns(t0), worker, batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// BenchmarkClaim drains the queue through Store.ClaimRuns: the pick with not_before, labels and
// overlap, and the move to running, every column returned, in one statement.
func BenchmarkClaim(b *testing.B) {
	s, raw, history := benchDB(b)
	eachShape(b, func(b *testing.B, claimers, batch int) {
		drainQueue(b, raw, history, claimers, func(ctx context.Context, worker string) (int, error) {
			runs, err := s.ClaimRuns(ctx, store.RunClaimParams{Worker: worker, Limit: batch, Now: t0})
			return len(runs), err
		})
	})
}

// BenchmarkClaimRaw drains the same queue with rawClaimSQL.
func BenchmarkClaimRaw(b *testing.B) {
	_, raw, history := benchDB(b)
	eachShape(b, func(b *testing.B, claimers, batch int) {
		drainQueue(b, raw, history, claimers, func(ctx context.Context, worker string) (int, error) {
			ids, err := rawClaim(ctx, raw, worker, batch)
			return len(ids), err
		})
	})
}

// BenchmarkClaimCycle is what a worker records per run: the claim, the start of its process
// (StartRun) and its end (FinishRun), each of the last two with its event.
func BenchmarkClaimCycle(b *testing.B) {
	s, raw, history := benchDB(b)
	zero := 0
	eachShape(b, func(b *testing.B, claimers, batch int) {
		drainQueue(b, raw, history, claimers, func(ctx context.Context, worker string) (int, error) {
			runs, err := s.ClaimRuns(ctx, store.RunClaimParams{Worker: worker, Limit: batch, Now: t0})
			if err != nil {
				return 0, err
			}
			for _, r := range runs {
				if _, err := s.StartRun(ctx, store.RunStartParams{ID: r.ID, PID: 4242, Worker: worker, Now: t0}); err != nil {
					return 0, err
				}
				if _, err := s.FinishRun(ctx, store.RunFinishParams{ID: r.ID, State: arbiter.StateSucceeded, ExitCode: &zero, Now: t0}); err != nil {
					return 0, err
				}
			}
			return len(runs), nil
		})
	})
}

// BenchmarkClaimCycleRaw is the raw claim and two plain autocommit UPDATEs per run, with the
// same state conditions as the store's.
func BenchmarkClaimCycleRaw(b *testing.B) {
	_, raw, history := benchDB(b)
	eachShape(b, func(b *testing.B, claimers, batch int) {
		drainQueue(b, raw, history, claimers, func(ctx context.Context, worker string) (int, error) {
			ids, err := rawClaim(ctx, raw, worker, batch)
			if err != nil {
				return 0, err
			}
			for _, id := range ids {
				tag, err := raw.Exec(ctx, `UPDATE runs SET started_at = $1, pid = 4242
					WHERE id = $2 AND state = 'running' AND worker = $3`, ns(t0), id, worker)
				if err == nil && tag.RowsAffected() != 1 {
					err = fmt.Errorf("start run %d: %d rows changed", id, tag.RowsAffected())
				}
				if err != nil {
					return 0, err
				}
				tag, err = raw.Exec(ctx, `UPDATE runs SET state = 'succeeded', finished_at = $1, exit_code = 0
					WHERE id = $2 AND state = 'running'`, ns(t0), id)
				if err == nil && tag.RowsAffected() != 1 {
					err = fmt.Errorf("finish run %d: %d rows changed", id, tag.RowsAffected())
				}
				if err != nil {
					return 0, err
				}
			}
			return len(ids), nil
		})
	})
}
