package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
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
	ms, err := loadMigrations(migrationFS)
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

func TestLoadMigrationsNumbering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"in order", []string{"001_a.sql", "002_b.sql", "003_c.sql"}, true},
		{"gap", []string{"001_a.sql", "003_c.sql"}, false},
		{"not from one", []string{"002_b.sql"}, false},
		{"duplicate number", []string{"001_a.sql", "001_b.sql"}, false},
		{"bad name", []string{"001_a.sql", "2_b.sql"}, false},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{}
		for _, f := range tt.files {
			fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		ms, err := loadMigrations(fsys)
		if (err == nil) != tt.ok {
			t.Errorf("%s: loadMigrations = %v, %v; ok want %v", tt.name, ms, err, tt.ok)
		}
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
