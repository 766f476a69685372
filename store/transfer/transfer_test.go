package transfer_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/datadir"
	"github.com/arbiterd/arbiter/internal/pgtest"
	"github.com/arbiterd/arbiter/internal/secretbox"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/pgstore"
	"github.com/arbiterd/arbiter/store/sqlitestore"
	"github.com/arbiterd/arbiter/store/transfer"
)

// pg is the PostgreSQL server of these tests: a throwaway cluster, or the server in
// ARBITER_TEST_POSTGRES. Without one the tests fail; they never skip.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "transfer tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "transfer tests:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "transfer tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// t0 is the fixture's clock: times with nanoseconds, which both stores must keep.
var t0 = time.Date(2026, 3, 29, 0, 59, 58, 123456789, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// must(f()).or(t) is f's value, or the end of test t when f failed.
func must[T any](v T, err error) checked[T] { return checked[T]{v, err} }

type checked[T any] struct {
	v   T
	err error
}

func (c checked[T]) or(t testing.TB) T {
	t.Helper()
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.v
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func intp(n int) *int { return &n }

// fixture is a SQLite installation with something of everything, in a data dir of its own.
type fixture struct {
	dir, db string
	key     *secretbox.Key
	// purgedRun and purgedEvent are the newest run and event, deleted from the file behind the
	// store's back as a purge would: their ids must never be handed out again.
	purgedRun, purgedEvent int64
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := t.Context()
	f := fixture{dir: t.TempDir()}
	f.db = filepath.Join(f.dir, "arbiter.db")
	s := must(sqlitestore.Open(ctx, f.db, sqlitestore.Options{})).or(t)
	defer s.Close()

	jobs := []arbiter.Job{
		{Name: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin", Shell: "pg_dump app | gzip > /b/$(date +%F).gz",
			Dir: "/srv", Env: map[string]string{"PGPASSWORD": "secret:pg", "LANG": "C.UTF-8", "QUOTE": `a "b" \c`},
			Labels: []string{"db", "eu"}, Timeout: time.Hour, KillGrace: 30 * time.Second, Overlap: arbiter.OverlapQueue,
			Catchup: 10 * time.Minute, Retries: 3, RetryDelay: 15 * time.Second, Jitter: 2 * time.Second, Source: "/etc/arbiter/jobs/backup.toml",
			Drifted: true},
		{Name: "argv", Schedule: "@every 90s", Command: []string{"/usr/bin/env", "echo", "héllo wörld", `"quoted"`, "", "tab\there"},
			Overlap: arbiter.OverlapAllow, Source: arbiter.SourceCLI},
		{Name: "paused.one", Schedule: "*/5 * * * *", Shell: "true", Overlap: arbiter.OverlapSkip, Paused: true,
			Source: "/etc/arbiter/jobs/p.toml"},
		{Name: "gone", Schedule: "* * * * *", Shell: "false", Overlap: arbiter.OverlapReplace, Source: arbiter.SourceCLI},
	}
	for i, j := range jobs {
		must(s.CreateJob(ctx, store.JobCreateParams{Job: j, Now: at(time.Duration(i) * time.Second), Actor: "uid:1000"})).or(t)
	}
	j := jobs[1]
	j.Env = map[string]string{"X": "1"}
	must(s.UpdateJob(ctx, store.JobUpdateParams{Job: j, Now: at(time.Minute), Actor: "uid:0"})).or(t)

	// A fire that ran and succeeded, with output; part of it dropped by the cap.
	ok1 := fire(t, s, "backup", at(time.Hour), arbiter.StateQueued)
	must(s.StartRun(ctx, store.RunStartParams{ID: ok1.ID, PID: 4242, Worker: "box", Now: at(time.Hour + time.Second)})).or(t)
	for seq := int64(1); seq <= 6; seq++ {
		data := fmt.Appendf(nil, "line %d: ünïcode\n", seq)
		if seq == 4 {
			data = []byte{0, 1, 2, 0xff, 0xfe, '\n'} // not text: bytes as the job wrote them
		}
		ok(t, s.AppendOutput(ctx, store.OutputAppendParams{RunID: ok1.ID, Seq: seq, Data: data, Now: at(time.Hour + time.Duration(seq)*time.Millisecond)}))
	}
	ok(t, s.DropOutput(ctx, store.OutputDropParams{RunID: ok1.ID, FromSeq: 2, ThroughSeq: 3, Bytes: 100}))
	must(s.FinishRun(ctx, store.RunFinishParams{ID: ok1.ID, State: arbiter.StateSucceeded, ExitCode: intp(0), Now: at(time.Hour + time.Minute), Actor: "daemon"})).or(t)

	// Skipped, missed (several fires in one record), catch-up.
	must2(t, s, store.FireInsertParams{Job: "backup", ScheduledAt: at(2 * time.Hour), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateSkipped, Reason: "skipped: previous run 1 still running", Now: at(2 * time.Hour)})
	must2(t, s, store.FireInsertParams{Job: "argv", ScheduledAt: at(3 * time.Hour), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateMissed, Reason: "missed 3 fires while the daemon was down", MissedCount: 3,
		MissedUntil: at(3*time.Hour + 3*time.Minute), Now: at(4 * time.Hour)})
	catchup := must2(t, s, store.FireInsertParams{Job: "argv", ScheduledAt: at(4*time.Hour - time.Minute), Trigger: arbiter.TriggerCatchup,
		State: arbiter.StateQueued, NotBefore: at(4*time.Hour + time.Second), Jitter: 1500 * time.Millisecond, Now: at(4 * time.Hour)})

	// A manual run that failed, its retry queued with a backoff.
	failed := must(s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: at(5 * time.Hour), Now: at(5 * time.Hour), Actor: "uid:1000"})).or(t)
	must(s.StartRun(ctx, store.RunStartParams{ID: failed.ID, PID: 99, Worker: "box", Now: at(5 * time.Hour)})).or(t)
	must(s.FinishRun(ctx, store.RunFinishParams{ID: failed.ID, State: arbiter.StateFailed, ExitCode: intp(2), Reason: "exit code 2", Now: at(5*time.Hour + time.Second)})).or(t)
	must(s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5 * time.Hour),
		Attempt: 2, RetryOf: failed.ID, NotBefore: at(5*time.Hour + 15*time.Second), Now: at(5*time.Hour + time.Second)})).or(t)

	// Killed by a signal; one still running with a cancellation requested; one lost.
	killed := fire(t, s, "gone", at(6*time.Hour), arbiter.StateQueued)
	must(s.StartRun(ctx, store.RunStartParams{ID: killed.ID, PID: 7, Worker: "box", Now: at(6 * time.Hour)})).or(t)
	must(s.FinishRun(ctx, store.RunFinishParams{ID: killed.ID, State: arbiter.StateTimedOut, Signal: "SIGKILL", Reason: "timed out after 1h", Now: at(7 * time.Hour)})).or(t)
	running := fire(t, s, "gone", at(8*time.Hour), arbiter.StateQueued)
	must(s.StartRun(ctx, store.RunStartParams{ID: running.ID, PID: 8, Worker: "box", Now: at(8 * time.Hour)})).or(t)
	must(s.CancelRun(ctx, store.RunCancelParams{ID: running.ID, Reason: "replaced by run 12", Now: at(8*time.Hour + time.Second), Actor: "uid:1000"})).or(t)
	ok(t, s.AppendOutput(ctx, store.OutputAppendParams{RunID: running.ID, Seq: 1, Data: []byte("still going\n"), Now: at(8 * time.Hour)}))
	lost := fire(t, s, "gone", at(9*time.Hour), arbiter.StateQueued)
	must(s.StartRun(ctx, store.RunStartParams{ID: lost.ID, PID: 9, Worker: "box", Now: at(9 * time.Hour)})).or(t)
	_ = catchup

	// The job "gone" is deleted: its runs stay.
	ok(t, s.DeleteJob(ctx, store.JobDeleteParams{Name: "gone", Now: at(10 * time.Hour), Actor: "uid:1000"}))
	must(s.RecoverRuns(ctx, store.RunRecoverParams{Worker: "", Reason: "the daemon died", Now: at(10 * time.Hour)})).or(t)

	// Secrets, sealed with a real key: the copy must open with it.
	f.key = must(secretbox.CreateKey(filepath.Join(f.dir, "secret.key"))).or(t)
	for i, name := range []string{"pg", "api.token", "dropped"} {
		nonce, ct := seal(t, f.key, name, []byte("value of "+name))
		must(s.PutSecret(ctx, store.SecretPutParams{Secret: arbiter.Secret{Name: name, KeyID: f.key.ID(), Nonce: nonce, Ciphertext: ct,
			Size: len("value of " + name)}, Now: at(11*time.Hour + time.Duration(i)*time.Second), Actor: "uid:1000"})).or(t)
	}
	ok(t, s.DeleteSecret(ctx, store.SecretDeleteParams{Name: "dropped", Now: at(12 * time.Hour), Actor: "uid:1000"}))
	ok(t, s.AppendEvent(ctx, arbiter.Event{At: at(13 * time.Hour), Kind: "secret.read", Job: "backup", RunID: ok1.ID, Actor: "daemon", Detail: "pg"}))

	// The newest run (with its output) and event, purged.
	purged := fire(t, s, "argv", at(20*time.Hour), arbiter.StateQueued)
	ok(t, s.AppendOutput(ctx, store.OutputAppendParams{RunID: purged.ID, Seq: 1, Data: []byte("x"), Now: at(20 * time.Hour)}))
	ok(t, s.AppendEvent(ctx, arbiter.Event{At: at(21 * time.Hour), Kind: "test.purged", Actor: "daemon"}))
	ok(t, s.Close())
	f.purgedRun = purged.ID
	raw := openRaw(t, f.db)
	ok(t, raw.QueryRow(`SELECT max(id) FROM events`).Scan(&f.purgedEvent))
	for _, q := range []string{`DELETE FROM run_output WHERE run_id = ?`, `DELETE FROM runs WHERE id = ?`} {
		must(raw.Exec(q, f.purgedRun)).or(t)
	}
	must(raw.Exec(`DELETE FROM events WHERE id = ?`, f.purgedEvent)).or(t)
	ok(t, raw.Close())
	return f
}

func fire(t *testing.T, s store.Store, job string, when time.Time, state arbiter.RunState) arbiter.Run {
	t.Helper()
	return must2(t, s, store.FireInsertParams{Job: job, ScheduledAt: when, Trigger: arbiter.TriggerSchedule, State: state, Now: when})
}

func must2(t *testing.T, s store.Store, p store.FireInsertParams) arbiter.Run {
	t.Helper()
	r, inserted, err := s.InsertFire(t.Context(), p)
	if err != nil || !inserted {
		t.Fatalf("InsertFire(%+v) = %v, %v", p, inserted, err)
	}
	return r
}

func seal(t *testing.T, k *secretbox.Key, name string, value []byte) ([]byte, []byte) {
	t.Helper()
	nonce, ct, err := k.Seal(name, value)
	if err != nil {
		t.Fatal(err)
	}
	return nonce, ct
}

// openRaw opens a SQLite file without the store, to change it behind its back.
func openRaw(t testing.TB, path string) *sql.DB {
	t.Helper()
	db := must(sql.Open("sqlite", path)).or(t)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// contents is everything a store holds, as store.Store returns it.
type contents struct {
	Jobs       []arbiter.Job
	Runs       []arbiter.Run // newest first, every one
	ByID       map[int64]arbiter.Run
	Output     map[int64][]arbiter.OutputChunk
	Events     []arbiter.Event
	Secrets    []arbiter.Secret
	SecretByID map[string]arbiter.Secret
	LastFires  map[string]time.Time
	Latest     map[string]arbiter.Run
	Counts     store.Counts
}

func read(t *testing.T, s store.Store) contents {
	t.Helper()
	ctx := t.Context()
	c := contents{ByID: map[int64]arbiter.Run{}, Output: map[int64][]arbiter.OutputChunk{}, SecretByID: map[string]arbiter.Secret{}}
	c.Jobs = must(s.ListJobs(ctx)).or(t)
	for before := int64(0); ; {
		page := must(s.ListRuns(ctx, store.RunListParams{BeforeID: before, Limit: 3})).or(t)
		if len(page) == 0 {
			break
		}
		c.Runs = append(c.Runs, page...)
		before = page[len(page)-1].ID
	}
	for _, r := range c.Runs {
		c.ByID[r.ID] = must(s.GetRun(ctx, r.ID)).or(t)
		c.Output[r.ID] = must(s.ReadOutput(ctx, store.OutputReadParams{RunID: r.ID})).or(t)
	}
	for after := int64(0); ; {
		page := must(s.ListEvents(ctx, store.EventListParams{AfterID: after, Limit: 5})).or(t)
		if len(page) == 0 {
			break
		}
		c.Events = append(c.Events, page...)
		after = page[len(page)-1].ID
	}
	c.Secrets = must(s.ListSecrets(ctx)).or(t)
	for _, sec := range c.Secrets {
		c.SecretByID[sec.Name] = must(s.GetSecret(ctx, sec.Name)).or(t)
	}
	c.LastFires = must(s.LastFires(ctx)).or(t)
	c.Latest = must(s.LatestRuns(ctx, nil)).or(t)
	c.Counts = must(s.Counts(ctx)).or(t)
	return c
}

func readSQLite(t *testing.T, path string) contents {
	t.Helper()
	s := must(sqlitestore.Open(t.Context(), path, sqlitestore.Options{})).or(t)
	defer s.Close()
	return read(t, s)
}

func openPG(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	s := must(pgstore.Open(t.Context(), dsn, pgstore.Options{})).or(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// compare fails for each part of got that differs from want.
func compare(t *testing.T, got, want contents) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s differ:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, e := range must(os.ReadDir(dir)).or(t) {
		names = append(names, e.Name())
	}
	return names
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	return sha256.Sum256(must(os.ReadFile(path)).or(t))
}

func TestSQLiteToPostgres(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want := readSQLite(t, f.db)
	if len(want.Runs) < 9 || len(want.Events) < 20 || len(want.Secrets) != 2 || len(want.Jobs) != 3 {
		t.Fatalf("the fixture is thinner than meant: %d jobs, %d runs, %d events, %d secrets",
			len(want.Jobs), len(want.Runs), len(want.Events), len(want.Secrets))
	}
	before := fileHash(t, f.db)

	dsn := pg.NewDatabase(t)
	var mu sync.Mutex
	last := map[string]transfer.Progress{}
	rep, err := transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{Progress: func(p transfer.Progress) {
		mu.Lock()
		defer mu.Unlock()
		last[p.Table] = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	var chunks, outBytes int64
	for _, cs := range want.Output {
		chunks += int64(len(cs))
		for _, c := range cs {
			outBytes += int64(len(c.Data))
		}
	}
	wantRep := transfer.Report{Jobs: 3, Runs: int64(len(want.Runs)), OutputChunks: chunks, OutputBytes: outBytes,
		Events: int64(len(want.Events)), Secrets: 2, LastRunID: f.purgedRun, LastEventID: f.purgedEvent, Took: rep.Took}
	if rep != wantRep || rep.Took <= 0 {
		t.Errorf("report %+v\n  want %+v", rep, wantRep)
	}
	for table, n := range map[string]int64{"jobs": 3, "runs": rep.Runs, "run_output": chunks, "events": rep.Events, "secrets": 2} {
		if p := last[table]; p.Copied != n || p.Total != n {
			t.Errorf("last progress of %s = %+v, want %d of %d", table, p, n, n)
		}
	}
	if after := fileHash(t, f.db); after != before {
		t.Error("the SQLite file changed")
	}
	// Nothing new in the data dir but the lock file (which a daemon would have made already).
	if names := dirNames(t, f.dir); !reflect.DeepEqual(names, []string{"arbiter.db", "arbiter.lock", "secret.key"}) {
		t.Errorf("the data dir holds %v after the copy", names)
	}

	s := openPG(t, dsn)
	got := read(t, s)
	compare(t, got, want)

	// The secrets open with the key file, untouched.
	for _, sec := range got.Secrets {
		v, err := f.key.Open(sec.Name, sec.Nonce, sec.Ciphertext)
		if err != nil || string(v) != "value of "+sec.Name {
			t.Errorf("secret %s opens to %q, %v", sec.Name, v, err)
		}
	}

	// New ids continue after every id SQLite handed out, purged ones included.
	r := must(s.InsertRun(t.Context(), store.RunInsertParams{Job: "argv", Trigger: arbiter.TriggerManual, ScheduledAt: at(30 * time.Hour), Now: at(30 * time.Hour)})).or(t)
	if r.ID != f.purgedRun+1 {
		t.Errorf("the first run after the copy has id %d, want %d", r.ID, f.purgedRun+1)
	}
	ev := must(s.ListEvents(t.Context(), store.EventListParams{Latest: true, Limit: 1})).or(t)
	if len(ev) != 1 || ev[0].ID != f.purgedEvent+1 || ev[0].RunID != r.ID {
		t.Errorf("the first event after the copy is %+v, want id %d", ev, f.purgedEvent+1)
	}

	// The queued runs wait for workers with their jobs' labels: backup's retry for db and eu.
	now := at(40 * time.Hour)
	for _, c := range must(s.ClaimRuns(t.Context(), store.RunClaimParams{Worker: "w1", Limit: 100, Now: now})).or(t) {
		if c.Job == "backup" {
			t.Errorf("a worker without labels claimed run %d of backup, whose job needs db and eu", c.ID)
		}
	}
	c := must(s.ClaimRuns(t.Context(), store.RunClaimParams{Worker: "w2", Labels: []string{"db", "eu"}, Limit: 100, Now: now})).or(t)
	if len(c) != 1 || c[0].Job != "backup" || c[0].Trigger != arbiter.TriggerRetry {
		t.Errorf("a worker with db and eu claimed %+v; want backup's queued retry", c)
	}
}

// TestSQLiteToPostgresAfterCrash: a daemon that died left part of the database in its
// write-ahead log; the copy includes it.
func TestSQLiteToPostgresAfterCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := must(sqlitestore.Open(t.Context(), f.db, sqlitestore.Options{})).or(t)
	defer s.Close()
	must(s.CreateJob(t.Context(), store.JobCreateParams{Job: arbiter.Job{Name: "late", Schedule: "@hourly", Shell: "true",
		Overlap: arbiter.OverlapSkip, Source: "cli"}, Now: at(40 * time.Hour)})).or(t)
	want := read(t, s)
	// The files as a power cut would leave them, the last write still in the log.
	crash := t.TempDir()
	for _, name := range []string{"arbiter.db", "arbiter.db-wal"} {
		b := must(os.ReadFile(filepath.Join(f.dir, name))).or(t)
		if name == "arbiter.db-wal" && len(b) == 0 {
			t.Fatal("the log is empty: nothing to prove")
		}
		ok(t, os.WriteFile(filepath.Join(crash, name), b, 0o600))
	}
	dsn := pg.NewDatabase(t)
	rep := must(transfer.SQLiteToPostgres(t.Context(), filepath.Join(crash, "arbiter.db"), dsn, transfer.Options{})).or(t)
	if rep.Jobs != 4 {
		t.Errorf("copied %d jobs, want 4 with the one in the log", rep.Jobs)
	}
	compare(t, read(t, openPG(t, dsn)), want)
}

// TestSQLiteToPostgresEmpty: a fresh installation copies as nothing, and the target's ids start
// at 1.
func TestSQLiteToPostgresEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "arbiter.db")
	s := must(sqlitestore.Open(t.Context(), db, sqlitestore.Options{})).or(t)
	ok(t, s.Close())
	dsn := pg.NewDatabase(t)
	rep := must(transfer.SQLiteToPostgres(t.Context(), db, dsn, transfer.Options{})).or(t)
	if rep.Jobs+rep.Runs+rep.OutputChunks+rep.Events+rep.Secrets != 0 || rep.LastRunID != 0 {
		t.Errorf("report of an empty file: %+v", rep)
	}
	p := openPG(t, dsn)
	must(p.CreateJob(t.Context(), store.JobCreateParams{Job: arbiter.Job{Name: "a", Schedule: "@daily", Shell: "true", Overlap: arbiter.OverlapSkip, Source: "cli"}, Now: t0})).or(t)
	r := must(p.InsertRun(t.Context(), store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerManual, ScheduledAt: t0, Now: t0})).or(t)
	if r.ID != 1 {
		t.Errorf("first run id %d, want 1", r.ID)
	}
}

// countRows counts the rows of the copied tables and nodes; -1 for a table that does not exist.
func countRows(t *testing.T, dsn string) map[string]int64 {
	t.Helper()
	conn := must(pgx.Connect(t.Context(), dsn)).or(t)
	defer conn.Close(context.Background())
	counts := map[string]int64{}
	for _, table := range []string{"jobs", "runs", "run_output", "events", "secrets", "nodes"} {
		var exists bool
		ok(t, conn.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists))
		counts[table] = -1
		if exists {
			var n int64
			ok(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&n))
			counts[table] = n
		}
	}
	return counts
}

func allZero(counts map[string]int64) bool {
	for _, n := range counts {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestSQLiteToPostgresRefusesNonEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := fileHash(t, f.db)
	for _, tc := range []struct {
		name string
		fill func(t *testing.T, dsn string)
		want string
	}{
		{"a job", func(t *testing.T, dsn string) {
			s := openPG(t, dsn)
			must(s.CreateJob(t.Context(), store.JobCreateParams{Job: arbiter.Job{Name: "other", Schedule: "@daily", Shell: "true",
				Overlap: arbiter.OverlapSkip, Source: "cli"}, Now: t0})).or(t)
		}, "already holds 1 job and 0 runs (and 1 event); migrate into an empty database"},
		{"a node", func(t *testing.T, dsn string) {
			s := openPG(t, dsn)
			ok(t, s.HeartbeatNode(t.Context(), store.NodeHeartbeatParams{Node: arbiter.Node{Name: "n1", ID: "x",
				Roles: []arbiter.Role{arbiter.RoleWorker}, StartedAt: t0, SeenAt: t0, LeaseUntil: t0.Add(time.Hour)}}))
		}, "already holds 0 jobs and 0 runs (and 1 node); migrate"},
		{"a copy already", func(t *testing.T, dsn string) {
			must(transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{})).or(t)
		}, "already holds 3 jobs and "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pg.NewDatabase(t)
			tc.fill(t, dsn)
			held := countRows(t, dsn)
			_, err := transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{})
			var ne *transfer.NotEmptyError
			if !errors.As(err, &ne) || !errors.Is(err, arbiter.ErrConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a NotEmptyError saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "password") {
				t.Errorf("the message shows the DSN's password: %v", err)
			}
			if after := countRows(t, dsn); !reflect.DeepEqual(after, held) {
				t.Errorf("the target changed: %v, was %v", after, held)
			}
		})
	}
	if fileHash(t, f.db) != before {
		t.Error("the SQLite file changed")
	}
}

// TestSQLiteToPostgresInterrupted: a copy cancelled half way, or failing on a row Postgres
// cannot take, leaves the target empty, and a later copy into it works.
func TestSQLiteToPostgresInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want := readSQLite(t, f.db)

	t.Run("cancelled", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err := transfer.SQLiteToPostgres(ctx, f.db, dsn, transfer.Options{Progress: func(p transfer.Progress) {
			if p.Table == "run_output" && p.Copied == 0 { // jobs and runs are in, output is next
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if counts := countRows(t, dsn); !allZero(counts) {
			t.Fatalf("the target holds %v after a cancelled copy", counts)
		}
		must(transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{})).or(t)
		compare(t, read(t, openPG(t, dsn)), want)
	})

	t.Run("bad text", func(t *testing.T) {
		g := newFixture(t)
		raw := openRaw(t, g.db)
		var id int64
		ok(t, raw.QueryRow(`INSERT INTO events (at, kind, actor, detail) VALUES (1, 'test', 'daemon', CAST(X'6F6BFF' AS TEXT)) RETURNING id`).Scan(&id))
		ok(t, raw.Close())
		dsn := pg.NewDatabase(t)
		_, err := transfer.SQLiteToPostgres(t.Context(), g.db, dsn, transfer.Options{})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("event %d: its detail holds invalid UTF-8", id)) {
			t.Fatalf("err = %v, want one naming event %d", err, id)
		}
		if counts := countRows(t, dsn); !allZero(counts) {
			t.Fatalf("the target holds %v after a failed copy", counts)
		}
	})
}

func TestSQLiteToPostgresBadSource(t *testing.T) {
	t.Parallel()
	version := func(v int) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			s := must(sqlitestore.Open(t.Context(), path, sqlitestore.Options{})).or(t)
			ok(t, s.Close())
			raw := openRaw(t, path)
			must(raw.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v))).or(t)
			ok(t, raw.Close())
		}
	}
	known := 7 // schema.sql's; TestKnownVersion keeps this in step
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		want  string
		isErr error
	}{
		{"missing", func(*testing.T, string) {}, "no arbiter database at", fs.ErrNotExist},
		{"empty file", func(t *testing.T, path string) { ok(t, os.WriteFile(path, nil, 0o600)) }, "holds no arbiter database", nil},
		{"not a database", func(t *testing.T, path string) {
			ok(t, os.WriteFile(path, []byte(strings.Repeat("this is not sqlite\n", 300)), 0o600))
		}, "is not an arbiter database, or it is damaged", nil},
		{"another sqlite database", func(t *testing.T, path string) {
			raw := openRaw(t, path)
			must(raw.Exec(`CREATE TABLE notes (x)`)).or(t)
			ok(t, raw.Close())
		}, "is not an arbiter database (it has no schema version)", nil},
		{"older", version(known - 1), "start the daemon of this arbiter on it once", nil},
		{"newer", version(known + 1), "upgrade arbiter", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "arbiter.db")
			tc.make(t, path)
			var before [32]byte
			if _, err := os.Stat(path); err == nil {
				before = fileHash(t, path)
			}
			dsn := pg.NewDatabase(t)
			_, err := transfer.SQLiteToPostgres(t.Context(), path, dsn, transfer.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if _, err := os.Stat(path); err == nil && fileHash(t, path) != before {
				t.Error("the SQLite file changed")
			}
			if counts := countRows(t, dsn); !reflect.DeepEqual(counts, map[string]int64{"jobs": -1, "runs": -1, "run_output": -1, "events": -1, "secrets": -1, "nodes": -1}) {
				t.Errorf("the target was touched: %v", counts)
			}
		})
	}
}

// TestKnownVersion keeps TestSQLiteToPostgresBadSource's version in step with schema.sql.
func TestKnownVersion(t *testing.T) {
	t.Parallel()
	if !strings.Contains(arbiter.Schema, "\nPRAGMA user_version = 7;") {
		t.Error("schema.sql is no longer at version 7: check that store/transfer copies every new column, and update the tests")
	}
}

func TestSQLiteToPostgresDaemonRunning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lock := must(datadir.TryLock(f.dir)).or(t) // as a daemon holds it
	dsn := pg.NewDatabase(t)
	_, err := transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{})
	var dr *transfer.DaemonRunningError
	if !errors.As(err, &dr) || !strings.Contains(err.Error(), fmt.Sprintf("an arbiter daemon (pid %d) is using data dir %s; stop it first", os.Getpid(), f.dir)) {
		t.Fatalf("err = %v, want a DaemonRunningError", err)
	}
	if counts := countRows(t, dsn); counts["jobs"] != -1 {
		t.Errorf("the target was touched: %v", counts)
	}
	ok(t, lock.Release())
	must(transfer.SQLiteToPostgres(t.Context(), f.db, dsn, transfer.Options{})).or(t)
}

func TestSQLiteToPostgresUnreachable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A port nothing listens on (pgtest's server is elsewhere), with a password to hide.
	_, err := transfer.SQLiteToPostgres(t.Context(), f.db, "postgres://arbiter:s3cret-pw@127.0.0.1:1/arbiter?connect_timeout=5", transfer.Options{})
	if err == nil || !strings.Contains(err.Error(), "connect to postgres://arbiter:xxxxx@127.0.0.1:1/arbiter") {
		t.Fatalf("err = %v, want a connect error naming the database", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the message shows the password: %v", err)
	}
}
