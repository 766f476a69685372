package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arbiter.db")
	return openAt(t, path), path
}

// openRaw opens a database file without the store, for poking at it.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

func pragma[T any](t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) T {
	t.Helper()
	var v T
	if err := q.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// TestPragmas checks every connection of both pools, since the pragmas other than journal_mode
// are per connection.
func TestPragmas(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := t.Context()

	conns := map[string]*sql.Conn{}
	w, err := s.wr.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conns["writer"] = w
	for i := range readConns { // hold them all at once, so each is a distinct connection
		c, err := s.rd.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[fmt.Sprintf("reader %d", i)] = c
	}
	for name, c := range conns {
		if got := pragma[string](t, c, "journal_mode"); got != "wal" {
			t.Errorf("%s: journal_mode = %s, want wal", name, got)
		}
		if got := pragma[int](t, c, "synchronous"); got != 2 {
			t.Errorf("%s: synchronous = %d, want 2 (FULL)", name, got)
		}
		if got := pragma[int](t, c, "foreign_keys"); got != 1 {
			t.Errorf("%s: foreign_keys = %d, want 1", name, got)
		}
		if got := pragma[int](t, c, "busy_timeout"); got != 5000 {
			t.Errorf("%s: busy_timeout = %d, want 5000", name, got)
		}
		wantQueryOnly := 1
		if name == "writer" {
			wantQueryOnly = 0
		}
		if got := pragma[int](t, c, "query_only"); got != wantQueryOnly {
			t.Errorf("%s: query_only = %d, want %d", name, got, wantQueryOnly)
		}
		c.Close()
	}

	if _, err := s.rd.ExecContext(ctx, `DELETE FROM jobs`); err == nil {
		t.Error("a write through the read pool succeeded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arbiter.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	job := arbiter.Job{Name: "backup", Schedule: "@daily", Shell: "true"}
	job.Normalize()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	if _, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: job, Now: now}); err != nil {
		t.Fatal(err)
	}
	run, _, err := s.InsertFire(t.Context(), store.FireInsertParams{Job: "backup", ScheduledAt: now,
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	got, err := s.GetJob(t.Context(), "backup")
	if err != nil || got.Shell != "true" || !got.CreatedAt.Equal(now) {
		t.Errorf("GetJob after reopen = %+v, %v", got, err)
	}
	if r, err := s.GetRun(t.Context(), run.ID); err != nil || r != run {
		t.Errorf("GetRun after reopen = %+v, %v; want %+v", r, err, run)
	}
	if v := pragma[int](t, s.rd, "user_version"); v != knownVersion(t) {
		t.Errorf("user_version = %d, want %d", v, knownVersion(t))
	}
}

func knownVersion(t *testing.T) int {
	t.Helper()
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	spaces     = regexp.MustCompile(`\s+`)
	padding    = regexp.MustCompile(`\s*([(),])\s*`)
)

// schemaOf describes a database's schema: every sqlite_master row with its SQL normalized
// (comments and layout removed, since ALTER TABLE and CREATE text differ in spacing), and the
// user_version.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(),
		`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, tbl, text string
		if err := rows.Scan(&typ, &name, &tbl, &text); err != nil {
			t.Fatal(err)
		}
		text = sqlComment.ReplaceAllString(text, "")
		text = strings.TrimSpace(spaces.ReplaceAllString(text, " "))
		text = padding.ReplaceAllString(text, "$1")
		out = append(out, strings.Join([]string{typ, name, tbl, text}, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return append(out, fmt.Sprintf("user_version = %d", pragma[int](t, db, "user_version")))
}

// TestMigrationsMatchSchema proves that the numbered migrations build exactly the schema of the
// root schema.sql, which is what people read.
func TestMigrationsMatchSchema(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	migrated := schemaOf(t, s.rd)

	direct := openRaw(t, filepath.Join(t.TempDir(), "direct.db"))
	if _, err := direct.ExecContext(t.Context(), arbiter.Schema); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
	want := schemaOf(t, direct)

	if strings.Join(migrated, "\n") != strings.Join(want, "\n") {
		t.Errorf("migrated schema differs from schema.sql\nmigrated:\n%s\n\nschema.sql:\n%s",
			strings.Join(migrated, "\n"), strings.Join(want, "\n"))
	}
	if len(want) < 6 {
		t.Errorf("schema.sql describes only %d objects: %v", len(want), want)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arbiter.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw := openRaw(t, path)
	newer := knownVersion(t) + 1
	if _, err := raw.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	_, err = Open(t.Context(), path, Options{})
	want := fmt.Sprintf("database schema version %d is newer than this arbiter (knows up to %d); upgrade arbiter", newer, knownVersion(t))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer database: %v; want %q", err, want)
	}
}

// TestFileMode: the database will hold secrets (encrypted) and all job output.
func TestFileMode(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	job := arbiter.Job{Name: "backup", Schedule: "@daily", Shell: "true"}
	job.Normalize()
	if _, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: job, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), mode)
		}
	}
}

func TestIntegrity(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := t.Context()
	job := arbiter.Job{Name: "backup", Schedule: "@daily", Shell: "true"}
	job.Normalize()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	if _, err := s.CreateJob(ctx, store.JobCreateParams{Job: job, Now: now}); err != nil {
		t.Fatal(err)
	}
	run, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: now,
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 1, Data: []byte("hi"), Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := pragma[string](t, s.rd, "integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %s", got)
	}
	var violations int
	if err := s.rd.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations != 0 {
		t.Errorf("foreign_key_check = %d violations, %v", violations, err)
	}
}

// TestRunIDsNeverReused: run ids name runs in logs and scripts; a purge must not recycle them.
func TestRunIDsNeverReused(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := t.Context()
	job := arbiter.Job{Name: "backup", Schedule: "@daily", Shell: "true"}
	job.Normalize()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	if _, err := s.CreateJob(ctx, store.JobCreateParams{Job: job, Now: now}); err != nil {
		t.Fatal(err)
	}
	insert := func() int64 {
		r, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	first := insert()
	if _, err := s.wr.ExecContext(ctx, `DELETE FROM runs`); err != nil {
		t.Fatal(err)
	}
	if second := insert(); second <= first {
		t.Errorf("run id %d reused after a delete (first was %d)", second, first)
	}
}

func TestOpenRefusesQueryInPath(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "a?mode=ro"), Options{})
	if !errors.Is(err, arbiter.ErrInvalid) {
		t.Errorf("Open with '?' in the path: %v, want ErrInvalid", err)
	}
}

// TestQueryPlans pins the index each query of migration 002 relies on, so that a schema change
// that silently turns one into a scan of every run fails here. The expected strings are SQLite's
// EXPLAIN QUERY PLAN output, which the pinned driver version keeps stable.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	from, to := time.Unix(100, 0), time.Unix(200, 0)
	active := []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
	type query struct {
		q    string
		args []any
	}
	listRuns := func(p store.RunListParams) query {
		q, args, err := listRunsQuery(p)
		if err != nil {
			t.Fatal(err)
		}
		return query{q, args}
	}
	listEvents := func(p store.EventListParams) query {
		q, args := listEventsQuery(p)
		return query{q, args}
	}
	tests := []struct {
		name  string
		query query
		want  []string // substrings of the plan
	}{
		{"LastFires", query{lastFiresQuery, nil}, []string{
			"SEARCH runs USING INDEX runs_fire (job=?)",
			"SEARCH runs USING COVERING INDEX runs_missed (job=? AND missed_until>?)",
		}},
		{"ListRuns job and range", listRuns(store.RunListParams{Job: "a", ScheduledFrom: from, ScheduledTo: to}),
			[]string{"SEARCH runs USING INDEX runs_job_scheduled (job=? AND scheduled_at>? AND scheduled_at<?)"}},
		{"ListRuns job and from", listRuns(store.RunListParams{Job: "a", ScheduledFrom: from}),
			[]string{"runs_job_scheduled (job=? AND scheduled_at>?)"}},
		{"ListRuns job, states and range", listRuns(store.RunListParams{Job: "a", States: active, ScheduledFrom: from, ScheduledTo: to}),
			[]string{"runs_job_scheduled (job=? AND scheduled_at>? AND scheduled_at<?)"}},
		// Without a range, a job's runs are still read newest first from runs_job_id.
		{"ListRuns job", listRuns(store.RunListParams{Job: "a"}), []string{"SEARCH runs USING INDEX runs_job_id (job=?)"}},
		{"ListRuns job before", listRuns(store.RunListParams{Job: "a", BeforeID: 10}),
			[]string{"SEARCH runs USING INDEX runs_job_id (job=? AND id<?)"}},
		{"ListEvents job", listEvents(store.EventListParams{Job: "a", AfterID: 5}),
			[]string{"SEARCH events USING INDEX events_job_id (job=? AND id>?)"}},
		{"Counts jobs", query{countJobsQuery, nil},
			[]string{"SCAN jobs USING COVERING INDEX sqlite_autoindex_jobs_1", "SCAN jobs USING COVERING INDEX jobs_paused"}},
	}
	for _, tt := range tests {
		rows, err := s.rd.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query.q, tt.query.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: plan lacks %q:\n%s", tt.name, w, text)
			}
		}
		if strings.Contains(text, "SCAN runs") || strings.Contains(text, "SCAN events") ||
			slices.Contains(plan, "SCAN jobs") {
			t.Errorf("%s: plan scans a whole table:\n%s", tt.name, text)
		}
	}
}

// dumpRows renders every row q returns, NULLs included, for comparing table contents.
func dumpRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%#v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateFromV1WithData: a database that version 1 wrote, with jobs, runs, output and events,
// keeps every row and value through the migrations, and gains the defaults its jobs ran with.
func TestMigrateFromV1WithData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "arbiter.db")

	raw := openRaw(t, path)
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := apply(ctx, raw, ms[0]); err != nil || !applied {
		t.Fatalf("apply %s = %v, %v", ms[0].Name, applied, err)
	}
	const t0 = int64(1743296523456789012) // 2025-03-30T01:02:03.456789012Z
	if _, err := raw.ExecContext(ctx, `
		INSERT INTO jobs (name, schedule, timezone, command, shell, dir, env, timeout_ns, kill_grace_ns,
			overlap, paused, source, created_at, updated_at) VALUES
			('backup', '0 3 * * *', 'Europe/Berlin', '["/usr/bin/backup","--all"]', '', '/srv', '{"A":"1"}',
				3600000000000, 10000000000, 'skip', 0, 'cli', ?1, ?1 + 1),
			('report', '@every 90s', '', NULL, 'make report', '', '{}', 0, 30000000000,
				'skip', 1, '/etc/arbiter/report.toml', ?1, ?1);
		INSERT INTO runs (job, trigger, scheduled_at, attempt, state, reason, created_at, started_at,
			finished_at, exit_code, signal, pid, worker, output_bytes, output_dropped) VALUES
			('backup', 'schedule', ?1, 1, 'succeeded', '', ?1, ?1 + 5, ?1 + 9, 0, '', 101, 'node-1', 4, 0),
			('backup', 'manual', ?1 + 60, 1, 'timed_out', 'timeout after 1h', ?1 + 60, ?1 + 61, ?1 + 99, NULL, 'SIGKILL', 102, 'node-1', 10, 6),
			('report', 'schedule', ?1 + 90, 1, 'skipped', 'previous run still running', ?1 + 90, NULL, ?1 + 90, NULL, '', 0, '', 0, 0),
			('report', 'schedule', ?1 + 180, 1, 'missed', 'missed while down', ?1 + 200, NULL, ?1 + 200, NULL, '', 0, '', 0, 0),
			('report', 'retry', ?1 + 90, 2, 'queued', '', ?1 + 300, NULL, NULL, NULL, '', 0, '', 0, 0),
			('gone', 'schedule', ?1 - 60, 1, 'lost', 'daemon restarted', ?1 - 60, ?1 - 59, ?1 - 1, NULL, '', 99, 'node-0', 0, 0);
		INSERT INTO run_output (run_id, seq, at, data) VALUES
			(1, 1, ?1 + 6, X'6F6B0A00'), (2, 1, ?1 + 62, X'68656164'), (2, 3, ?1 + 70, X'');
		INSERT INTO events (at, kind, job, run_id, actor, detail) VALUES
			(?1, 'job.created', 'backup', NULL, 'uid:1000', '0 3 * * *'),
			(?1 + 9, 'run.succeeded', 'backup', 1, 'daemon', 'exit code 0'),
			(?1 + 10, 'job.deleted', 'gone', NULL, 'uid:0', '');`, t0); err != nil {
		t.Fatal(err)
	}

	// The columns version 1 had, so the same query reads them before and after.
	v1 := map[string]string{
		"jobs": `SELECT name, schedule, timezone, command, shell, dir, env, timeout_ns, kill_grace_ns,
			overlap, paused, source, created_at, updated_at FROM jobs ORDER BY name`,
		"runs": `SELECT id, job, trigger, scheduled_at, attempt, state, reason, created_at, started_at,
			finished_at, exit_code, signal, pid, worker, output_bytes, output_dropped FROM runs ORDER BY id`,
		"run_output":      `SELECT run_id, seq, at, data FROM run_output ORDER BY run_id, seq`,
		"events":          `SELECT id, at, kind, job, run_id, actor, detail FROM events ORDER BY id`,
		"sqlite_sequence": `SELECT name, seq FROM sqlite_sequence ORDER BY name`,
	}
	before := map[string][]string{}
	for table, q := range v1 {
		before[table] = dumpRows(t, raw, q)
	}
	if len(before["jobs"]) != 2 || len(before["runs"]) != 6 || len(before["run_output"]) != 3 || len(before["events"]) != 3 {
		t.Fatalf("fixture not stored: %v", before)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	for table, q := range v1 {
		if after := dumpRows(t, s.rd, q); strings.Join(after, "\n") != strings.Join(before[table], "\n") {
			t.Errorf("%s changed in the migration\nbefore:\n%s\nafter:\n%s", table,
				strings.Join(before[table], "\n"), strings.Join(after, "\n"))
		}
	}

	// The jobs ran with these before the fields existed.
	jobs, err := s.ListJobs(ctx)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ListJobs = %+v, %v", jobs, err)
	}
	for _, j := range jobs {
		if j.Catchup != arbiter.DefaultCatchup || j.RetryDelay != arbiter.DefaultRetryDelay || j.Retries != 0 || j.Jitter != 0 {
			t.Errorf("job %s: catch-up %s, retries %d, retry delay %s, jitter %s; want %s, 0, %s, 0",
				j.Name, j.Catchup, j.Retries, j.RetryDelay, j.Jitter, arbiter.DefaultCatchup, arbiter.DefaultRetryDelay)
		}
		if j.Labels != nil { // migration 006: no job had labels
			t.Errorf("job %s: labels %q, want none", j.Name, j.Labels)
		}
	}
	if jobs[0].Name != "backup" || !reflect.DeepEqual(jobs[0].Command, []string{"/usr/bin/backup", "--all"}) ||
		jobs[0].Timeout != time.Hour || !jobs[1].Paused || jobs[1].Shell != "make report" {
		t.Errorf("jobs after the migration = %+v", jobs)
	}

	runs, err := s.ListRuns(ctx, store.RunListParams{})
	if err != nil || len(runs) != 6 {
		t.Fatalf("ListRuns = %d runs, %v; want 6", len(runs), err)
	}
	for _, r := range runs {
		wantCount, wantUntil := 0, time.Time{}
		if r.State == arbiter.StateMissed {
			// A record of its own fire, as the store now writes them.
			wantCount, wantUntil = 1, r.ScheduledAt
		}
		if r.RetryOf != 0 || !r.NotBefore.IsZero() || r.Jitter != 0 || r.MissedCount != wantCount || !r.MissedUntil.Equal(wantUntil) {
			t.Errorf("run %d (%s): RetryOf %d, NotBefore %s, Jitter %s, missed %d until %s; want 0, zero, 0, %d until %s",
				r.ID, r.State, r.RetryOf, r.NotBefore, r.Jitter, r.MissedCount, r.MissedUntil, wantCount, wantUntil)
		}
	}

	last, err := s.LastFires(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLast := map[string]time.Time{"backup": fromNS(t0), "report": fromNS(t0 + 180)}
	if !reflect.DeepEqual(last, wantLast) {
		t.Errorf("LastFires after the migration = %v, want %v", last, wantLast)
	}

	// The old fires still claim their fire times, and run ids keep growing past the old ones.
	again, inserted, err := s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: fromNS(t0),
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: fromNS(t0 + 1000)})
	if err != nil || inserted || again.ID != 1 {
		t.Errorf("InsertFire of an old fire = run %d, inserted %v, %v; want run 1", again.ID, inserted, err)
	}
	retry, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 2,
		RetryOf: 1, Now: fromNS(t0 + 1000)})
	if err != nil || retry.ID <= 6 || !retry.ScheduledAt.Equal(fromNS(t0)) {
		t.Errorf("retry of an old run = %+v, %v; want an id after 6, at the old fire time", retry, err)
	}

	if v := pragma[int](t, s.rd, "user_version"); v != knownVersion(t) {
		t.Errorf("user_version = %d, want %d", v, knownVersion(t))
	}
	direct := openRaw(t, filepath.Join(t.TempDir(), "direct.db"))
	if _, err := direct.ExecContext(ctx, arbiter.Schema); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
	if got, want := schemaOf(t, s.rd), schemaOf(t, direct); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("schema migrated with data differs from schema.sql\nmigrated:\n%s\n\nschema.sql:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := pragma[string](t, s.rd, "integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %s", got)
	}
}
