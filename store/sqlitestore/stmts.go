package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// The statements of the hot paths are prepared once. modernc.org/sqlite parses the SQL text
// afresh (sqlite3_prepare_v2) on every Exec or Query made with a string; at 400 runs/s that
// parsing was 17% of the daemon's CPU. A *sql.Stmt keeps the parsed statement on each
// connection it has been used on, and the driver resets it for the next use instead of
// finalizing it.
//
// Writes reach a statement through tx.StmtContext, which finds it already prepared on the
// transaction's connection (the writer pool has only one) and reuses it. They are prepared
// eagerly in Open, not on first use: preparing on s.wr means waiting for its one connection,
// which the committer's transaction holds while the write that would prepare runs, so a lazy
// prepare from inside a write would wait forever.
//
// Statements that run rarely (secrets, recovery at startup, pausing) keep their SQL inline: a
// prepared statement holds memory on every connection, and parsing is cheap when it is rare.

// writeStmts are prepared on the writer pool, for use through tx.StmtContext in a write only. Run
// directly, one would wait for the writer connection, which the write's own transaction holds.
type writeStmts struct {
	savepoint    *sql.Stmt // each write of a batch, see commitTx
	rollbackTo   *sql.Stmt
	release      *sql.Stmt
	jobExists    *sql.Stmt // InsertFire, InsertRun
	insertFire   *sql.Stmt
	fireConflict *sql.Stmt
	insertRun    *sql.Stmt
	runByID      *sql.Stmt // a retry's first attempt
	runState     *sql.Stmt // why a guarded transition touched nothing
	startRun     *sql.Stmt
	finishRun    *sql.Stmt
	insertEvent  *sql.Stmt // every state change
	createJob    *sql.Stmt // CreateJob, and ApplyJobs once per new job
	jobPaused    *sql.Stmt
	updateJob    *sql.Stmt
	deleteJob    *sql.Stmt
	addOutBytes  *sql.Stmt // AppendOutput, DropOutput
	addOutDrop   *sql.Stmt
	insertOutput *sql.Stmt
	storedOutput *sql.Stmt
	deleteOutput *sql.Stmt
}

func (w *writeStmts) list() []stmtDef {
	return []stmtDef{
		{&w.savepoint, `SAVEPOINT write`},
		{&w.rollbackTo, `ROLLBACK TO write`},
		{&w.release, `RELEASE write`},
		{&w.jobExists, jobExistsSQL},
		{&w.insertFire, insertFireSQL},
		{&w.fireConflict, fireConflictSQL},
		{&w.insertRun, insertRunSQL},
		{&w.runByID, runByIDSQL},
		{&w.runState, runStateSQL},
		{&w.startRun, startRunSQL},
		{&w.finishRun, finishRunSQL},
		{&w.insertEvent, insertEventSQL},
		{&w.createJob, createJobSQL},
		{&w.jobPaused, jobPausedSQL},
		{&w.updateJob, updateJobSQL},
		{&w.deleteJob, deleteJobSQL},
		{&w.addOutBytes, addOutputBytesSQL},
		{&w.addOutDrop, addOutputDroppedSQL},
		{&w.insertOutput, insertOutputSQL},
		{&w.storedOutput, storedOutputSQL},
		{&w.deleteOutput, deleteOutputSQL},
	}
}

// readStmts are prepared on the read pool. database/sql prepares each on a reader connection
// the first time it runs there and keeps it, so after warming up a point read parses nothing.
type readStmts struct {
	getJob     *sql.Stmt
	getRun     *sql.Stmt
	readOutput *sql.Stmt // polled by every client following a run's output
}

func (r *readStmts) list() []stmtDef {
	return []stmtDef{
		{&r.getJob, getJobSQL},
		{&r.getRun, runByIDSQL},
		{&r.readOutput, readOutputSQL},
	}
}

// stmtCache prepares statements on first use and keeps them, keyed by their SQL text: for reads
// built from a request's filters (ListRuns), whose few shapes are not worth naming one by one.
// Only for the read pool: no caller holds one of its connections while asking, so preparing
// cannot wait on the caller itself, as it would on the writer's one connection.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// get returns the statement of q, preparing it the first time. The lock is held while preparing,
// which waits for a free connection; but that happens once per shape, and the callers it holds up
// need a connection too.
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	if c.closed {
		return nil, ErrClosed
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[q] = st
	return st, nil
}

// close closes every statement prepared so far; get prepares no more.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// stmtDef names where a prepared statement goes and its SQL.
type stmtDef struct {
	stmt **sql.Stmt
	sql  string
}

// prepareStmts prepares every statement of defs on db. On failure it closes those it prepared.
func prepareStmts(ctx context.Context, db *sql.DB, defs []stmtDef) error {
	for i, d := range defs {
		st, err := db.PrepareContext(ctx, d.sql)
		if err != nil {
			closeStmts(defs[:i])
			return fmt.Errorf("prepare %s: %w", oneLine(d.sql), err)
		}
		*d.stmt = st
	}
	return nil
}

// closeStmts closes the statements of defs that were prepared.
func closeStmts(defs []stmtDef) error {
	var errs []error
	for _, d := range defs {
		if *d.stmt != nil {
			errs = append(errs, (*d.stmt).Close())
		}
	}
	return errors.Join(errs...)
}

// oneLine puts a statement on one line, for a message.
func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }
