// Package sqlitestore is the store.Store of a single-node arbiter: one SQLite file in WAL mode,
// written through a single connection and read through a small pool.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

var _ store.Store = (*Store)(nil)

// Options tune Open.
type Options struct {
	// Logger receives the store's rare notices (migrations applied). nil discards them.
	Logger *slog.Logger
	// Committed, when set, is called after each write transaction commits, from the committer
	// goroutine: followers of the event log wake on it instead of polling. It must not block.
	Committed func()
}

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	// SQLite allows one writer at a time. Funnelling every write through one connection means our
	// own writers queue in database/sql instead of failing each other with SQLITE_BUSY, and each
	// write transaction can BEGIN IMMEDIATE (take the write lock up front) without deadlocking a
	// reader that tries to upgrade. WAL lets the readers in rd proceed alongside the writer, each
	// seeing the last committed state.
	wr *sql.DB
	rd *sql.DB

	ws    writeStmts // prepared on wr; see stmts.go
	rs    readStmts  // prepared on rd
	lists stmtCache  // on rd, by SQL text

	// Every write goes to the committer, which runs whatever writes are waiting in one
	// transaction: with synchronous=FULL each commit costs an fsync, so sixty runs finishing
	// together share one instead of queueing for sixty (see commit).
	writes chan *writeReq
	quit   chan struct{} // closed by Close: no new writes
	done   chan struct{} // closed when the committer has returned

	commits   atomic.Int64 // transactions committed, for the group-commit tests
	committed func()       // Options.Committed
}

// writeReq is one caller's write waiting for the committer.
type writeReq struct {
	ctx    context.Context
	fn     func(tx *sql.Tx) error
	result chan error // buffered: the committer never waits for the caller
}

// maxBatch bounds how many writes share a transaction, so one batch cannot hold the others'
// results back for long.
const maxBatch = 256

// batchWindow is how long a busy committer waits for more writes before it commits, and
// busyGap how soon after the previous commit (of more than one write) a write must come for the
// committer to count as busy. A quiet store, or a single writer, never waits.
const (
	batchWindow = 2 * time.Millisecond
	busyGap     = 5 * time.Millisecond
)

// ErrClosed is returned by writes after Close, and by a ListRuns that would need a statement
// not yet prepared.
var ErrClosed = errors.New("the store is closed")

// readConns is the size of the read pool: enough for the API, the TUI and the scheduler to read
// side by side.
const readConns = 4

// Open opens (creating it when missing) the database at path and migrates it to the current
// schema. It refuses a database written by a newer arbiter.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.ContainsRune(path, '?') {
		// The driver reads everything after '?' as DSN parameters.
		return nil, fmt.Errorf("open database: %w", arbiter.Invalidf("path", "%q is not a usable database path", path))
	}
	// The database will hold encrypted secrets and everything jobs print: create it private.
	// SQLite gives its -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}

	wr, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	wr.SetMaxOpenConns(1)
	wr.SetConnMaxLifetime(0)
	wr.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wr, log); err != nil {
		wr.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	rd, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		wr.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rd.SetMaxOpenConns(readConns)
	rd.SetMaxIdleConns(readConns)
	if err := rd.PingContext(ctx); err != nil {
		wr.Close()
		rd.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{
		wr:     wr,
		rd:     rd,
		writes: make(chan *writeReq),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		lists:  stmtCache{db: rd},

		committed: opts.Committed,
	}
	// Before the committer starts: preparing on wr needs its one connection (see stmts.go).
	// After migrate: a statement cannot name a table that does not exist yet.
	if err := prepareStmts(ctx, wr, s.ws.list()); err != nil {
		wr.Close()
		rd.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := prepareStmts(ctx, rd, s.rs.list()); err != nil {
		closeStmts(s.ws.list())
		wr.Close()
		rd.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

// dsn builds the driver's data source name. The pragmas travel in the DSN so that every
// connection the pools open gets them, not just the first.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)") // waits out other processes (a backup, the sqlite3 shell)
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL syncs the WAL on every commit: once a state change is reported it survives a power
	// cut. Do not lower it for speed; batch changes into fewer transactions instead.
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)") // a write through the read pool is a bug: make it fail
	} else {
		q.Set("_txlock", "immediate") // BEGIN IMMEDIATE: take the write lock when the tx starts
	}
	return path + "?" + q.Encode()
}

// Close stops taking writes, waits for the batch being committed, and closes the prepared
// statements and both pools.
func (s *Store) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	// Statements after the committer, which uses them; closing a closed one does nothing, so a
	// second Close is harmless.
	return errors.Join(s.lists.close(), closeStmts(s.rs.list()), closeStmts(s.ws.list()), s.rd.Close(), s.wr.Close())
}

// write runs fn in a write transaction and returns once that transaction is durably committed,
// or with fn's error (and none of fn's changes) when fn fails. fn may share its transaction with
// other callers' writes, so it must not depend on running alone (it does not, as long as it only
// reads and writes through tx), and it must not call write itself.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, result: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.result
}

// commitLoop is the committer: it takes the first waiting write, then every other write already
// waiting (up to maxBatch), and commits them together. Writes that arrive while a commit syncs
// wait and form the next batch; when the store is busy (see busy) the committer also lingers up
// to batchWindow for more. So an idle store, or a lone writer, commits each write at once, and a
// busy one pays one fsync per batch.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var (
		lastEnd  time.Time
		lastSize int
	)
	for {
		select {
		case <-s.quit:
			return
		case req := <-s.writes:
			batch = append(batch[:0], req)
		}
		// Busy: several writers shared the previous commit, which ended moments ago, so more
		// writes are on their way. Wait a little for them rather than pay a whole fsync for the
		// few already here. A lone writer (one write after another) never waits.
		var window <-chan time.Time
		if busy(lastSize, time.Since(lastEnd)) {
			linger.Reset(batchWindow)
			window = linger.C
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
				continue
			default:
			}
			if window == nil {
				break
			}
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			case <-window:
				window = nil
				break collect
			}
		}
		if window != nil && !linger.Stop() {
			<-linger.C
		}
		s.commit(batch)
		lastEnd, lastSize = time.Now(), len(batch)
		clear(batch) // drop the finished requests' closures
	}
}

// busy reports whether the committer should wait for more writes, given the size of the
// previous batch and how long ago it was committed.
func busy(lastSize int, since time.Duration) bool {
	return lastSize > 1 && since < busyGap
}

// commit runs a batch of writes in one transaction. Each write runs inside its own savepoint, so
// one that fails is rolled back alone and the others still commit. Results are sent only after
// the commit: no caller hears "done" for a change that is not yet durable.
func (s *Store) commit(batch []*writeReq) {
	errs := make([]error, len(batch))
	err := s.commitTx(batch, errs)
	for i, req := range batch {
		if errs[i] == nil {
			errs[i] = err
		}
		req.result <- errs[i]
	}
}

// commitTx fills errs with each write's own failure and returns what failed the whole
// transaction, if anything.
func (s *Store) commitTx(batch []*writeReq, errs []error) error {
	ctx := context.Background() // each write's own ctx governs its statements
	tx, err := s.wr.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if len(batch) == 1 {
		// The common case on a quiet daemon: no savepoint needed.
		if errs[0] = runWrite(tx, batch[0]); errs[0] != nil {
			return nil
		}
		return s.commitOnce(tx)
	}
	// Bound to tx once for the batch: three statements per write, parsed at Open (see stmts.go).
	savepoint := tx.StmtContext(ctx, s.ws.savepoint)
	rollbackTo := tx.StmtContext(ctx, s.ws.rollbackTo)
	release := tx.StmtContext(ctx, s.ws.release)
	for i, req := range batch {
		if _, err := savepoint.ExecContext(ctx); err != nil {
			return err
		}
		if errs[i] = runWrite(tx, req); errs[i] != nil {
			// Undo this write alone. When even that fails, the transaction is unusable (a full
			// disk, an I/O error): nothing in the batch commits, and every write says so.
			if _, err := rollbackTo.ExecContext(ctx); err != nil {
				return err
			}
		}
		if _, err := release.ExecContext(ctx); err != nil {
			return err
		}
	}
	return s.commitOnce(tx)
}

func (s *Store) commitOnce(tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return err
	}
	s.commits.Add(1)
	if s.committed != nil {
		s.committed()
	}
	return nil
}

// runWrite runs one write's function unless its caller has already given up.
func runWrite(tx *sql.Tx, req *writeReq) error {
	if err := req.ctx.Err(); err != nil {
		return err
	}
	return req.fn(tx)
}

// interpretError maps driver errors onto the arbiter sentinels. Callers wrap the result with the
// operation's name.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return arbiter.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", arbiter.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%w: %v", arbiter.ErrInvalid, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", arbiter.ErrNotFound, err)
		}
	}
	return err
}

const insertEventSQL = `INSERT INTO events (at, kind, job, run_id, actor, detail) VALUES (?, ?, ?, ?, ?, ?)`

// event appends one row to the event log inside tx, so the log never disagrees with the change.
func (s *Store) event(ctx context.Context, tx *sql.Tx, at time.Time, kind, job string, runID int64, actor, detail string) error {
	if actor == "" {
		actor = "daemon"
	}
	var run sql.NullInt64
	if runID != 0 {
		run = sql.NullInt64{Int64: runID, Valid: true}
	}
	_, err := tx.StmtContext(ctx, s.ws.insertEvent).ExecContext(ctx, ns(at), kind, job, run, actor, detail)
	return err
}

// ns converts a time to the stored form: UTC unix nanoseconds.
func ns(t time.Time) int64 { return t.UnixNano() }

// nullNS stores the zero time as NULL ("not yet").
func nullNS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNS(n.Int64)
}

// clampLimit applies a list operation's default and maximum page size.
func clampLimit(limit, def, max int) int {
	switch {
	case limit <= 0:
		return def
	case limit > max:
		return max
	}
	return limit
}

// placeholders returns n comma-separated bind parameters.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan, then closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	return collectInto(nil, rows, scan)
}

// collectInto is collect appending to out.
func collectInto[T any](out []T, rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
