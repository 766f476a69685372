package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite" // schema.sql, to compare with

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/pgtest"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/storetest"
)

// pg is the PostgreSQL server of this package's tests: a throwaway cluster, or the server in
// ARBITER_TEST_POSTGRES. Without one the tests fail; they never skip.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "pgstore tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgstore tests:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "pgstore tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// openAt opens a store on dsn, closed when t ends.
func openAt(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
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

// openEmpty opens a store on a new empty database, and returns the database's DSN too.
func openEmpty(t testing.TB) (*Store, string) {
	t.Helper()
	dsn := pg.NewDatabase(t)
	return openAt(t, dsn, Options{}), dsn
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		s, _ := openEmpty(t)
		return s
	})
}

// job is a valid job for tests that need one.
func job(name string) arbiter.Job {
	j := arbiter.Job{Name: name, Schedule: "@every 1h", Command: []string{"true"}}
	j.Normalize()
	return j
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func mustJob(t testing.TB, s *Store, name string) {
	t.Helper()
	if _, err := s.CreateJob(context.Background(), store.JobCreateParams{Job: job(name), Now: t0}); err != nil {
		t.Fatal(err)
	}
}

// rawConn connects to dsn without the store, for poking at the database.
func rawConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func knownVersion(t testing.TB) int {
	t.Helper()
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// lockedBuffer is an io.Writer for loggers that several goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Nodes starting together on an empty database both open it, and the schema is built once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	const nodes = 4
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores [nodes]*Store
		errs   [nodes]error
	)
	for i := range nodes {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), dsn, Options{Logger: log})
		})
	}
	close(start)
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	known := knownVersion(t)
	if n := strings.Count(logs.String(), "migrated database"); n != known {
		t.Errorf("%d migrations applied by %d nodes, want %d (each once):\n%s", n, nodes, known, logs.String())
	}
	rows, err := rawConn(t, dsn).Query(t.Context(), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	for rows.Next() {
		var (
			v    int
			name string
		)
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(versions) != known || versions[len(versions)-1] != known {
		t.Errorf("schema_migrations versions %v, want 1 to %d", versions, known)
	}
	// Every node works on the one schema.
	for i, s := range stores {
		mustJob(t, s, fmt.Sprintf("from-node-%d", i))
	}
	if jobs, err := stores[0].ListJobs(t.Context()); err != nil || len(jobs) != nodes {
		t.Errorf("ListJobs = %d jobs, %v; want %d", len(jobs), err, nodes)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	mustJob(t, s, "backup")
	run, _, err := s.InsertFire(t.Context(), store.FireInsertParams{Job: "backup", ScheduledAt: t0,
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.GetJob(t.Context(), "backup"); err == nil {
		t.Error("GetJob after Close succeeded")
	}
	if err := s.AppendEvent(t.Context(), arbiter.Event{Kind: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("a write after Close: %v, want ErrClosed", err)
	}

	s = openAt(t, dsn, Options{})
	if got, err := s.GetRun(t.Context(), run.ID); err != nil || got != run {
		t.Errorf("GetRun after reopen = %+v, %v; want %+v", got, err, run)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	s.Close()
	newer := knownVersion(t) + 1
	if _, err := rawConn(t, dsn).Exec(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, '999_future.sql', 0)`, newer); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{})
	want := fmt.Sprintf("database schema is at version %d, this arbiter knows up to %d: upgrade arbiter", newer, knownVersion(t))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer database: %v; want %q", err, want)
	}
}

// TestSchemaMatchesSQLite proves that the migrations build the tables, columns and indexes of the
// root schema.sql (the SQLite schema everyone reads), in Postgres' types: a SQLite migration
// without its Postgres counterpart fails here.
func TestSchemaMatchesSQLite(t *testing.T) {
	t.Parallel()
	_, dsn := openEmpty(t)
	got := postgresSchema(t, rawConn(t, dsn))
	want := sqliteSchema(t)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("schema.sql has %s; the Postgres schema does not (add a migration)", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) && !slices.Contains(postgresOnly, g) {
			t.Errorf("the Postgres schema has %s; schema.sql does not", g)
		}
	}
	if len(want) < 15 {
		t.Errorf("schema.sql describes only %d things: %v", len(want), want)
	}
}

// postgresOnly is what the Postgres schema has beyond schema.sql: the copies of the job that a
// claim reads on the run (migration 002), which the single SQLite daemon has no use for.
var postgresOnly = []string{
	"column runs.job_labels",
	"column runs.job_serial",
}

// postgresSchema describes the public tables (but schema_migrations, this store's own): one line
// per column, primary key and index, sorted.
func postgresSchema(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	ctx := t.Context()
	var out []string
	rows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("column %s.%s", table, column))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(ctx, `SELECT i.relname, t.relname, ix.indisprimary, ix.indisunique, ix.indpred IS NOT NULL,
			array(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
				JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)
		FROM pg_index ix
		JOIN pg_class i ON i.oid = ix.indexrelid
		JOIN pg_class t ON t.oid = ix.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND t.relname <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			index, table             string
			primary, unique, partial bool
			columns                  []string
		)
		if err := rows.Scan(&index, &table, &primary, &unique, &partial, &columns); err != nil {
			t.Fatal(err)
		}
		if primary {
			out = append(out, fmt.Sprintf("primary key %s (%s)", table, strings.Join(columns, ", ")))
			continue
		}
		out = append(out, indexLine(index, table, unique, partial, columns))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func indexLine(index, table string, unique, partial bool, columns []string) string {
	kind := "index"
	if unique {
		kind = "unique index"
	}
	if partial {
		kind = "partial " + kind
	}
	return fmt.Sprintf("%s %s on %s (%s)", kind, index, table, strings.Join(columns, ", "))
}

// sqliteSchema describes schema.sql as postgresSchema describes a Postgres database.
func sqliteSchema(t *testing.T) []string {
	t.Helper()
	ctx := t.Context()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	if _, err := db.ExecContext(ctx, arbiter.Schema); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
	strs := func(q string, args ...any) [][]string {
		t.Helper()
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			row := make([]string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var out []string
	for _, table := range strs(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`) {
		var pk []string
		for _, c := range strs(`SELECT name, pk FROM pragma_table_info(?) ORDER BY pk`, table[0]) {
			out = append(out, fmt.Sprintf("column %s.%s", table[0], c[0]))
			if c[1] != "0" {
				pk = append(pk, c[0])
			}
		}
		out = append(out, fmt.Sprintf("primary key %s (%s)", table[0], strings.Join(pk, ", ")))
		for _, ix := range strs(`SELECT name, "unique", partial FROM pragma_index_list(?) WHERE origin = 'c'`, table[0]) {
			var columns []string
			for _, c := range strs(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix[0]) {
				columns = append(columns, c[0])
			}
			out = append(out, indexLine(ix[0], table[0], ix[1] == "1", ix[2] == "1", columns))
		}
	}
	slices.Sort(out)
	return out
}

// TestRunIDsNeverReused: run ids name runs in logs and scripts; a purge must not recycle them.
func TestRunIDsNeverReused(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	mustJob(t, s, "backup")
	insert := func() int64 {
		r, err := s.InsertRun(t.Context(), store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	first := insert()
	if _, err := rawConn(t, dsn).Exec(t.Context(), `DELETE FROM runs`); err != nil {
		t.Fatal(err)
	}
	if second := insert(); second <= first {
		t.Errorf("run id %d reused after a delete (first was %d)", second, first)
	}
}

// Text that Postgres cannot store (a NUL byte, invalid UTF-8), which SQLite would take, is
// refused as invalid input, with nothing written.
func TestUnstorableText(t *testing.T) {
	t.Parallel()
	s, _ := openEmpty(t)
	for name, edit := range map[string]func(j *arbiter.Job){
		"nul in shell":         func(j *arbiter.Job) { j.Command, j.Shell = nil, "echo a\x00b" },
		"invalid utf-8 in dir": func(j *arbiter.Job) { j.Dir = "/srv/\xff" },
		"nul in an argument":   func(j *arbiter.Job) { j.Command = []string{"echo", "\x00"} },
		"nul in an env value":  func(j *arbiter.Job) { j.Env = map[string]string{"A": "x\x00y"} },
	} {
		j := job("j")
		edit(&j)
		_, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: j, Now: t0})
		if !errors.Is(err, arbiter.ErrInvalid) {
			t.Errorf("%s: CreateJob = %v, want ErrInvalid", name, err)
		}
	}
	if jobs, err := s.ListJobs(t.Context()); err != nil || len(jobs) != 0 {
		t.Errorf("ListJobs = %v, %v; want nothing", jobs, err)
	}
}

// A write that fails on a serialization failure or a deadlock runs again; other errors do not.
func TestWriteRetries(t *testing.T) {
	t.Parallel()
	s, _ := openEmpty(t)
	for _, tt := range []struct {
		code     string
		attempts int
	}{
		{"40001", 2}, // serialization_failure
		{"40P01", 2}, // deadlock_detected
		{"23505", 1}, // unique_violation: running again cannot help
	} {
		attempts := 0
		err := s.write(t.Context(), func(tx *wtx) error {
			attempts++
			tx.event(t0, "test.retry", "", 0, "", tt.code)
			if attempts == 1 {
				return &pgconn.PgError{Code: tt.code}
			}
			return nil
		})
		if attempts != tt.attempts || (tt.attempts > 1) != (err == nil) {
			t.Errorf("error %s: %d attempts, %v; want %d", tt.code, attempts, err, tt.attempts)
		}
	}
	// The retried writes recorded their events once each, the failed one none.
	events, err := s.ListEvents(t.Context(), store.EventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range events {
		details = append(details, e.Detail)
	}
	if !slices.Equal(details, []string{"40001", "40P01"}) {
		t.Errorf("events %v, want one of each retried write", details)
	}

	// Always failing: it gives up after maxAttempts.
	attempts := 0
	err = s.write(t.Context(), func(tx *wtx) error {
		attempts++
		return &pgconn.PgError{Code: "40001"}
	})
	if attempts != maxAttempts || err == nil {
		t.Errorf("a write that always fails: %d attempts, %v; want %d and the error", attempts, err, maxAttempts)
	}
}

// Connection errors say what could not be reached, and never the password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	missing, err := withDatabase(pg.DSN(), "no_such_database")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dsn string
		want      []string
		target    error
	}{
		{"refused URL", "postgres://arbiter:hunter2@127.0.0.1:1/arbiter?connect_timeout=5",
			[]string{"connect to postgres://arbiter:xxxxx@127.0.0.1:1/arbiter", "refused"}, nil},
		{"refused keywords", "host=127.0.0.1 port=1 user=arbiter password=hunter2 dbname=arbiter connect_timeout=5",
			[]string{"connect to host=127.0.0.1 port=1 user=arbiter password=xxxxx dbname=arbiter", "refused"}, nil},
		{"no such database", missing, []string{"connect to ", `database "no_such_database" does not exist`}, nil},
		{"malformed", "postgres://arbiter:hunter2@127.0.0.1:notaport/arbiter", []string{"open postgres://arbiter:xxxxx@"}, arbiter.ErrInvalid},
	}
	for _, tt := range tests {
		_, err := Open(t.Context(), tt.dsn, Options{})
		if err == nil {
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", tt.name, msg, w)
			}
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%s: error %q holds the password", tt.name, msg)
		}
		if tt.target != nil && !errors.Is(err, tt.target) {
			t.Errorf("%s: error %v is not %v", tt.name, err, tt.target)
		}
	}
}

// withDatabase returns a URL DSN with its database replaced.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Every session of the pool ends a transaction left idle by a node that went silent, unless the
// DSN says otherwise.
func TestIdleTransactionTimeout(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	for _, c := range []struct{ dsn, want string }{
		{dsn, "10s"},
		{dsn + "&idle_in_transaction_session_timeout=90000", "90s"},
	} {
		var got string
		if err := openAt(t, c.dsn, Options{}).pool.QueryRow(t.Context(), `SHOW idle_in_transaction_session_timeout`).Scan(&got); err != nil || got != c.want {
			t.Errorf("idle_in_transaction_session_timeout with %s = %q, %v; want %s", c.dsn, got, err, c.want)
		}
	}
}

// A write whose transaction failed on the way commits nothing, its events included, even when
// fn did not pass the failure on.
func TestWriteRolledBack(t *testing.T) {
	t.Parallel()
	s, _ := openEmpty(t)
	for _, withEvent := range []bool{false, true} {
		err := s.write(t.Context(), func(tx *wtx) error {
			if _, err := tx.Exec(t.Context(), `INSERT INTO nodes (name, id, roles, labels, leader, running, version, key_id, started_at, seen_at, lease_until)
				VALUES ('n', 'id', '{}', '{}', false, 0, '', '', 0, 0, 0)`); err != nil {
				return err
			}
			if withEvent {
				tx.event(t0, "test.event", "", 0, "", "")
			}
			tx.Exec(t.Context(), `SELECT 1/0`) // fails, and fn goes on as if it had not
			return nil
		})
		if err == nil {
			t.Errorf("a write whose transaction failed (event %v) returned no error", withEvent)
		}
	}
	var nodes, events int
	if err := s.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM events)`).Scan(&nodes, &events); err != nil {
		t.Fatal(err)
	}
	if nodes != 0 || events != 0 {
		t.Errorf("after two failed writes: %d nodes, %d events; want none", nodes, events)
	}
}
