package transfer_test

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/arbiterd/arbiter/store/sqlitestore"
	"github.com/arbiterd/arbiter/store/transfer"
)

// BenchmarkSQLiteToPostgres copies a busy machine's year: 1,000 jobs, 100,000 runs with two
// chunks of output each (20 MB), 300,000 events.
//
//	go test -run '^$' -bench SQLiteToPostgres -benchtime 3x ./store/transfer/
func BenchmarkSQLiteToPostgres(b *testing.B) {
	const jobs, runs, events = 1_000, 100_000, 300_000
	path := filepath.Join(b.TempDir(), "arbiter.db")
	s := must(sqlitestore.Open(b.Context(), path, sqlitestore.Options{})).or(b)
	ok(b, s.Close())
	raw := openRaw(b, path)
	for _, q := range []string{
		`BEGIN`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + itoa(jobs) + `)
		 INSERT INTO jobs (name, schedule, shell, overlap, source, created_at, updated_at)
		 SELECT 'job-' || i, '*/5 * * * *', 'echo ' || i, 'skip', 'cli', 1, 1 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + itoa(runs) + `)
		 INSERT INTO runs (id, job, trigger, scheduled_at, state, created_at, started_at, finished_at, exit_code, worker, output_bytes)
		 SELECT i, 'job-' || (i % ` + itoa(jobs) + ` + 1), 'schedule', i * 1000000000, 'succeeded', i, i, i + 1, 0, 'box', 200 FROM n`,
		`INSERT INTO run_output (run_id, seq, at, data) SELECT id, 1, id, randomblob(100) FROM runs`,
		`INSERT INTO run_output (run_id, seq, at, data) SELECT id, 2, id, randomblob(100) FROM runs`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + itoa(events) + `)
		 INSERT INTO events (at, kind, job, run_id, actor, detail)
		 SELECT i, 'run.succeeded', 'job-' || (i % ` + itoa(jobs) + ` + 1), i / 3 + 1, 'daemon', 'exit code 0' FROM n`,
		`COMMIT`,
	} {
		must(raw.Exec(q)).or(b)
	}
	ok(b, raw.Close())

	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dsn := pg.NewDatabase(b)
		b.StartTimer()
		rep := must(transfer.SQLiteToPostgres(b.Context(), path, dsn, transfer.Options{})).or(b)
		if rep.Runs != runs || rep.OutputChunks != 2*runs || rep.Events != events {
			b.Fatalf("copied %+v", rep)
		}
		b.ReportMetric(float64(runs)/rep.Took.Seconds(), "runs/s")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
