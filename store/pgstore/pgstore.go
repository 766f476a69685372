package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/dsn"
	"github.com/arbiterd/arbiter/store"
)

var _ store.Store = (*Store)(nil)

// The advisory lock keys; see the package comment.
const (
	migrateLockKey int64 = 0x6172626974657201 // "arbiter" 0x01
	eventLockKey   int64 = 0x6172626974657202 // "arbiter" 0x02
	// schedulerLockKey is held by the node of a cluster that fires the schedules, on a
	// connection of its own, for as long as that connection lives.
	schedulerLockKey int64 = 0x6172626974657203 // "arbiter" 0x03
)

// eventChannel is the NOTIFY channel of event log changes.
const eventChannel = "arbiter_events"

// Options tune Open.
type Options struct {
	// Logger receives the store's rare notices (migrations applied, the listener reconnecting).
	// nil discards them.
	Logger *slog.Logger
	// Committed, when set, is called when a write that changed the event log has committed, on
	// this node or any other (see the package comment), from the listener goroutine. It must not
	// block.
	Committed func()
}

// Store is a store.Store on a PostgreSQL database. It is safe for concurrent use, and any
// number of Stores, in any number of processes, may share one database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	dsn  string // redacted, for messages

	closed    atomic.Bool
	closeOnce sync.Once
	stop      context.CancelFunc // ends the listener
	done      sync.WaitGroup     // the listener

	committed  func()
	listenPID  atomic.Uint32 // the listener's backend, for tests
	reconnects atomic.Int64  // how often the listener reconnected, for tests
}

// txIdleTimeout ends, on the server, a transaction whose node stopped sending (it froze, or the
// network cut it off) in the middle of it, with the row locks it holds: the others would wait for
// them until TCP gave up, hours later. arbiter's transactions wait for their node only between
// round trips. A DSN that sets idle_in_transaction_session_timeout keeps its own.
const txIdleTimeout = lockIdleTimeout

// ErrClosed is returned by operations after Close.
var ErrClosed = errors.New("the store is closed")

// Open connects to the database at connString (a postgres:// URL or keyword/value settings, with
// pgxpool's pool_* settings if wanted), migrates it to the current schema, and starts the
// listener when opts.Committed is set. It refuses a database migrated by a newer arbiter.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	safe := dsn.Redact(connString)
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's own message already masks the password; ours names the DSN the same way.
		return nil, fmt.Errorf("open %s: %w", safe, arbiter.Invalidf("dsn", "%v", err))
	}

	if _, set := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(txIdleTimeout.Milliseconds(), 10)
	}

	// Migrate on a connection of our own, which holds the migration lock for as long as it
	// lives: closing it releases the lock even when migrating failed half way.
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", safe, err)
	}
	err = migrate(ctx, conn, log)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", safe, err)
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", safe, err)
	}
	s := &Store{pool: pool, log: log, dsn: safe, committed: opts.Committed}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.committed != nil {
		// The first LISTEN before Open returns: a write right after Open must wake followers.
		lconn, err := s.listenConn(ctx, cfg.ConnConfig)
		if err != nil {
			stop()
			pool.Close()
			return nil, fmt.Errorf("connect to %s: listen for changes: %w", safe, err)
		}
		s.done.Add(1)
		go s.listen(lctx, cfg.ConnConfig, lconn)
	}
	return s, nil
}

// Close stops the listener and closes the pool. Operations after it return ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.done.Wait()
		s.pool.Close()
	})
	return nil
}

// maxAttempts bounds how often a write that failed on a serialization failure or a deadlock is
// tried in all.
const maxAttempts = 5

// write runs fn in a transaction and commits it, recording the events fn collected (see flush).
// fn may run more than once (retries), so it must start from scratch each time: reset whatever
// it returns to its caller. The error is returned as the driver or fn made it: callers map it
// with interpretError.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	return s.retry(ctx, func() error { return s.writeOnce(ctx, fn) })
}

// retry runs a write, and again when it failed in a way that a second try may not: a
// serialization failure, a deadlock, or a request that never reached the server.
func (s *Store) retry(ctx context.Context, writeOnce func() error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	for attempt := 1; ; attempt++ {
		err := writeOnce()
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		// Let the transaction we collided with finish; jitter so that two retriers do not
		// collide again.
		wait := time.Duration(attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		s.log.Debug("retrying a write", "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// writeOnce runs fn in a transaction on a connection of the pool, and commits it with the
// events fn recorded (see commit).
func (s *Store) writeOnce(ctx context.Context, fn func(tx *wtx) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The pool closes a connection released in a transaction (one whose ROLLBACK failed)
	// rather than hand it out again.
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	w := &wtx{Conn: conn}
	if err = fn(w); err == nil {
		err = w.commit(ctx)
	}
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		// Without ctx's cancellation: a cancelled ctx would make pgx close the connection
		// instead of rolling back on it.
		conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	return err
}

// retryable reports whether a write failed only because of other transactions, so that running
// it again can succeed: a serialization failure or a deadlock (Postgres rolled the transaction
// back), or a connection that failed before anything was sent.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return pgconn.SafeToRetry(err)
}

// wtx is a write transaction, on a connection of the pool, and the events it records.
type wtx struct {
	*pgxpool.Conn
	events []arbiter.Event
}

// event records one event of the transaction's change. It is written by flush, at the end of
// the transaction, so the log never disagrees with the change.
func (w *wtx) event(at time.Time, kind, job string, runID int64, actor, detail string) {
	if actor == "" {
		actor = "daemon"
	}
	w.events = append(w.events, arbiter.Event{At: at, Kind: kind, Job: job, RunID: runID, Actor: actor, Detail: detail})
}

const insertEventSQL = `INSERT INTO events (at, kind, job, run_id, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)`

// commit writes the transaction's events, in order, and the notification of them, and commits,
// as one pipelined batch: one round trip. The lock serializes event writers from their event
// inserts to their commit, which makes event ids commit in id order (see the package comment).
// With COMMIT in the batch, the lock is held only while the server runs the batch, never while
// it waits for this node: a node that froze or was cut off after sending it holds up no other
// node's events.
//
// Do not move the lock later than the inserts, nor drop it: ids would again be taken in one
// order and committed in another, and followers would skip events. Do not take it earlier in
// the transaction either: every writer waits for whoever holds it.
func (w *wtx) commit(ctx context.Context) error {
	b := &pgx.Batch{}
	if len(w.events) > 0 {
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, eventLockKey)
		for _, e := range w.events {
			b.Queue(insertEventSQL, ns(e.At), e.Kind, e.Job, nullID(e.RunID), e.Actor, e.Detail)
		}
		b.Queue(`SELECT pg_notify($1, '')`, eventChannel)
	}
	b.Queue("COMMIT")
	br := w.SendBatch(ctx, b)
	var err error
	for range b.Len() - 1 {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if err == nil {
		var tag pgconn.CommandTag
		// A transaction that failed earlier ends in ROLLBACK, without an error of its own.
		if tag, err = br.Exec(); err == nil && tag.String() != "COMMIT" {
			err = pgx.ErrTxCommitRollback
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// interpretError maps Postgres errors onto the arbiter sentinels. Callers wrap the result with
// the operation's name.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return arbiter.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %v", arbiter.ErrConflict, err)
		case pe.Code == "23503": // foreign_key_violation: the row it names is missing
			return fmt.Errorf("%w: %v", arbiter.ErrNotFound, err)
		case pe.Code == "23514", pe.Code == "23502": // check_violation, not_null_violation
			return fmt.Errorf("%w: %v", arbiter.ErrInvalid, err)
		case strings.HasPrefix(pe.Code, "22"): // data exception: a NUL byte or invalid UTF-8 in text
			return fmt.Errorf("%w: %v", arbiter.ErrInvalid, err)
		}
	}
	return err
}

// ns converts a time to the stored form: UTC unix nanoseconds.
func ns(t time.Time) int64 { return t.UnixNano() }

// nullNS stores the zero time as NULL ("not yet").
func nullNS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNS(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return fromNS(*n)
}

// nullID stores id 0 as NULL.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
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

// collect scans every row with scan, appending to out, then closes rows.
func collect[T any](out []T, rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
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
