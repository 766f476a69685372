// Package transfer copies a whole arbiter installation from one store to another: today a
// single node's SQLite file into the Postgres database of a cluster (`arbiter store migrate`),
// so that a user who outgrows one box keeps every job, run, line of output, event and secret.
//
// The copy is raw, row by row and column by column, not through store.Store: run and event ids
// are kept (they appear in logs, events and users' scripts), and secrets stay the ciphertexts
// they are, never decrypted (the key stays in its file, which the user copies to each node).
//
// It is safe to run at any time:
//   - it holds the SQLite data dir's lock (internal/datadir), so no daemon runs on the file
//     meanwhile, and opens the file read-only;
//   - it refuses a target that holds anything (jobs, runs, events, secrets or nodes) before
//     writing to it;
//   - it copies everything in one Postgres transaction, with the target's tables locked, and
//     checks row counts and aggregates against the source before it commits: a failure or an
//     interruption anywhere leaves the target as empty as it was.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/datadir"
	"github.com/arbiterd/arbiter/internal/dsn"
)

// Options tune SQLiteToPostgres.
type Options struct {
	// Progress, when set, is called from the copying goroutine as each table starts, every
	// progressEvery rows, and when the table is done (Copied == Total). It must not block long:
	// the Postgres transaction waits meanwhile.
	Progress func(Progress)
}

// Progress says how far the copy of one table is.
type Progress struct {
	Table  string // jobs, runs, run_output, events or secrets
	Copied int64
	Total  int64
}

// progressEvery is how many rows of a table are copied between two Progress calls.
const progressEvery = 10_000

// Report is what SQLiteToPostgres copied.
type Report struct {
	Jobs         int64
	Runs         int64
	OutputChunks int64
	OutputBytes  int64 // the bytes of output the chunks hold
	Events       int64
	Secrets      int64
	// The ids the target's sequences continue after: the highest run and event id the SQLite
	// file ever handed out (purged rows included), so no id is ever given twice.
	LastRunID   int64
	LastEventID int64
	Took        time.Duration
}

// NotEmptyError is the refusal of a target that already holds something: copying into it would
// mix two installations, with clashing run and event ids.
type NotEmptyError struct {
	DSN                                string // password masked
	Jobs, Runs, Events, Secrets, Nodes int64
}

func (e *NotEmptyError) Error() string {
	msg := fmt.Sprintf("the database %s already holds %s and %s", e.DSN, count(e.Jobs, "job"), count(e.Runs, "run"))
	var more []string
	for _, c := range []struct {
		n    int64
		what string
	}{{e.Events, "event"}, {e.Secrets, "secret"}, {e.Nodes, "node"}} {
		if c.n > 0 {
			more = append(more, count(c.n, c.what))
		}
	}
	if len(more) > 0 {
		msg += " (and " + strings.Join(more, ", ") + ")"
	}
	return msg + "; migrate into an empty database"
}

// count says "1 job", "2 jobs".
func count(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Is makes a NotEmptyError match arbiter.ErrConflict.
func (e *NotEmptyError) Is(target error) bool { return target == arbiter.ErrConflict }

func (e *NotEmptyError) empty() bool {
	return e.Jobs == 0 && e.Runs == 0 && e.Events == 0 && e.Secrets == 0 && e.Nodes == 0
}

// DaemonRunningError is the refusal to copy a data dir whose lock another process (a daemon)
// holds: the copy would miss what it writes meanwhile.
type DaemonRunningError struct {
	Held *datadir.HeldError
}

func (e *DaemonRunningError) Error() string {
	return fmt.Sprintf("an arbiter daemon (%s) is using data dir %s; stop it first, so that nothing changes while the database is copied",
		e.Held.Holder(), e.Held.Dir)
}

func (e *DaemonRunningError) Unwrap() error { return e.Held }

// SQLiteToPostgres copies the arbiter SQLite database at sqlitePath (arbiter.db in a data dir)
// into the empty Postgres database at pgConnString, which it first creates or migrates the
// schema of (pgstore.Open). See the package comment for what makes it safe. The SQLite file is
// only read. In the data dir it writes its pid into the lock file, as the daemon does, and
// nothing else; but after a crash, when the file comes with a write-ahead log, SQLite may
// create the log's index (-shm) to read it.
//
// Errors: a *DaemonRunningError when a daemon holds the data dir, a *NotEmptyError (matching
// arbiter.ErrConflict) when the target holds anything, fs.ErrNotExist when there is no file at
// sqlitePath; otherwise an error that says what to do.
func SQLiteToPostgres(ctx context.Context, sqlitePath, pgConnString string, opts Options) (Report, error) {
	start := time.Now()
	safe := dsn.Redact(pgConnString)
	if fi, err := os.Stat(sqlitePath); errors.Is(err, fs.ErrNotExist) {
		return Report{}, fmt.Errorf("no arbiter database at %s: %w", sqlitePath, fs.ErrNotExist)
	} else if err != nil {
		return Report{}, fmt.Errorf("read %s: %w", sqlitePath, err)
	} else if !fi.Mode().IsRegular() {
		return Report{}, fmt.Errorf("%s is not a database file", sqlitePath)
	}

	// The daemon keeps arbiter.db in its data dir, next to the lock it holds while it runs.
	lock, err := datadir.TryLock(filepath.Dir(sqlitePath))
	var held *datadir.HeldError
	if errors.As(err, &held) {
		return Report{}, &DaemonRunningError{Held: held}
	} else if err != nil {
		return Report{}, fmt.Errorf("lock the data dir: %w", err)
	}
	defer lock.Release()

	interrupted := func(err error) error {
		if ctx.Err() != nil {
			// Whatever failed first (the SQLite read transaction ends with ctx too), the
			// cause is the interruption.
			return fmt.Errorf("copy into %s: interrupted, nothing was copied: %w", safe, context.Cause(ctx))
		}
		return err
	}
	src, err := openSource(ctx, sqlitePath)
	if err != nil {
		return Report{}, interrupted(err)
	}
	defer src.close()

	rep, err := copyToPostgres(ctx, src, pgConnString, safe, opts)
	if err != nil {
		return Report{}, interrupted(err)
	}
	rep.Took = time.Since(start)
	return rep, nil
}
