package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const (
	addOutputBytesSQL   = `UPDATE runs SET output_bytes = output_bytes + ? WHERE id = ?`
	addOutputDroppedSQL = `UPDATE runs SET output_dropped = output_dropped + ? WHERE id = ?`
	insertOutputSQL     = `INSERT INTO run_output (run_id, seq, at, data) VALUES (?, ?, ?, ?)`
	storedOutputSQL     = `SELECT COALESCE(SUM(length(data)), 0) FROM run_output WHERE run_id = ? AND seq BETWEEN ? AND ?`
	deleteOutputSQL     = `DELETE FROM run_output WHERE run_id = ? AND seq BETWEEN ? AND ?`
	readOutputSQL       = `SELECT run_id, seq, at, data FROM run_output WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`
)

// addOutputCounter adds n to one of the run's output counters, with counter s.ws.addOutBytes or
// s.ws.addOutDrop; sql.ErrNoRows when the run is missing.
func addOutputCounter(ctx context.Context, tx *sql.Tx, counter *sql.Stmt, runID int64, n int64) error {
	res, err := tx.StmtContext(ctx, counter).ExecContext(ctx, n, runID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// AppendOutput writes no event: output is not a state change, and chunks arrive far too often.
func (s *Store) AppendOutput(ctx context.Context, p store.OutputAppendParams) error {
	if p.Seq < 1 {
		return fmt.Errorf("append output of run %d: %w", p.RunID, arbiter.Invalidf("seq", "must be at least 1, not %d", p.Seq))
	}
	data := p.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; a nil slice would bind as NULL
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := addOutputCounter(ctx, tx, s.ws.addOutBytes, p.RunID, int64(len(p.Data))); err != nil {
			return err
		}
		// A duplicate seq fails the primary key and rolls back the counter above.
		_, err := tx.StmtContext(ctx, s.ws.insertOutput).ExecContext(ctx, p.RunID, p.Seq, ns(p.Now), data)
		return err
	})
	if err != nil {
		return fmt.Errorf("append output of run %d (seq %d): %w", p.RunID, p.Seq, interpretError(err))
	}
	return nil
}

func (s *Store) DropOutput(ctx context.Context, p store.OutputDropParams) error {
	if p.FromSeq > p.ThroughSeq || p.Bytes < 0 {
		return fmt.Errorf("drop output of run %d: %w", p.RunID,
			arbiter.Invalidf("seq", "bad range %d-%d or byte count %d", p.FromSeq, p.ThroughSeq, p.Bytes))
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var stored int64
		if err := tx.StmtContext(ctx, s.ws.storedOutput).QueryRowContext(ctx,
			p.RunID, p.FromSeq, p.ThroughSeq).Scan(&stored); err != nil {
			return err
		}
		if p.Bytes < stored {
			return arbiter.Invalidf("bytes", "%d is less than the %d bytes stored in seqs %d-%d", p.Bytes, stored, p.FromSeq, p.ThroughSeq)
		}
		if err := addOutputCounter(ctx, tx, s.ws.addOutDrop, p.RunID, p.Bytes); err != nil {
			return err
		}
		// Bytes dropped before they were ever appended still count as written.
		if err := addOutputCounter(ctx, tx, s.ws.addOutBytes, p.RunID, p.Bytes-stored); err != nil {
			return err
		}
		_, err := tx.StmtContext(ctx, s.ws.deleteOutput).ExecContext(ctx, p.RunID, p.FromSeq, p.ThroughSeq)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop output of run %d: %w", p.RunID, interpretError(err))
	}
	return nil
}

func (s *Store) ReadOutput(ctx context.Context, p store.OutputReadParams) ([]arbiter.OutputChunk, error) {
	rows, err := s.rs.readOutput.QueryContext(ctx, p.RunID, p.AfterSeq, clampLimit(p.Limit, 1000, 1000))
	if err != nil {
		return nil, fmt.Errorf("read output of run %d: %w", p.RunID, interpretError(err))
	}
	chunks, err := collect(rows, scanChunk)
	if err != nil {
		return nil, fmt.Errorf("read output of run %d: %w", p.RunID, interpretError(err))
	}
	return chunks, nil
}

func scanChunk(sc scanner) (arbiter.OutputChunk, error) {
	var (
		c  arbiter.OutputChunk
		at int64
	)
	err := sc.Scan(&c.RunID, &c.Seq, &at, &c.Data)
	c.At = fromNS(at)
	return c, err
}

// listEventsQuery builds ListEvents' query, apart so that a test can check its plan.
func listEventsQuery(p store.EventListParams) (string, []any) {
	q := `SELECT id, at, kind, job, run_id, actor, detail FROM events WHERE id > ?`
	args := []any{p.AfterID}
	if p.Job != "" {
		q, args = q+` AND job = ?`, append(args, p.Job) // served by events_job_id
	}
	args = append(args, clampLimit(p.Limit, 1000, 1000))
	if p.Latest {
		return `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`, args
	}
	return q + ` ORDER BY id LIMIT ?`, args
}

func (s *Store) ListEvents(ctx context.Context, p store.EventListParams) ([]arbiter.Event, error) {
	q, args := listEventsQuery(p)
	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", interpretError(err))
	}
	events, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", interpretError(err))
	}
	return events, nil
}

func scanEvent(sc scanner) (arbiter.Event, error) {
	var (
		e     arbiter.Event
		at    int64
		runID sql.NullInt64
	)
	err := sc.Scan(&e.ID, &at, &e.Kind, &e.Job, &runID, &e.Actor, &e.Detail)
	e.At, e.RunID = fromNS(at), runID.Int64
	return e, err
}

// countJobsQuery counts the jobs and the paused ones, each from an index (the names, the paused
// jobs' index), rather than in one pass over every row of the table.
const countJobsQuery = `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM jobs WHERE paused = 1)`

func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	c := store.Counts{Runs: make(map[arbiter.RunState]int)}
	// Both reads in one transaction, so the summary is of one moment.
	tx, err := s.rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, countJobsQuery).Scan(&c.Jobs, &c.Paused); err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", interpretError(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT state, count(*) FROM runs GROUP BY state`)
	if err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", interpretError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return store.Counts{}, fmt.Errorf("counts: %w", err)
		}
		c.Runs[arbiter.RunState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", interpretError(err))
	}
	return c, nil
}
