package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// AppendOutput writes no event and sends no notification: output is not a state change, and
// chunks arrive far too often.
func (s *Store) AppendOutput(ctx context.Context, p store.OutputAppendParams) error {
	if p.Seq < 1 {
		return fmt.Errorf("append output of run %d: %w", p.RunID, arbiter.Invalidf("seq", "must be at least 1, not %d", p.Seq))
	}
	data := p.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; a nil slice would bind as NULL
	}
	err := s.write(ctx, func(tx *wtx) error {
		// The counter first: it locks the run's row, so appends and drops of one run take turns.
		tag, err := tx.Exec(ctx, `UPDATE runs SET output_bytes = output_bytes + $1 WHERE id = $2`, int64(len(data)), p.RunID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		// A duplicate seq fails the primary key and rolls back the counter above.
		_, err = tx.Exec(ctx, `INSERT INTO run_output (run_id, seq, at, data) VALUES ($1, $2, $3, $4)`,
			p.RunID, p.Seq, ns(p.Now), data)
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
	err := s.write(ctx, func(tx *wtx) error {
		// Lock the run's row before measuring the range, so no append slips in between.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1 FOR UPDATE`, p.RunID).Scan(&one); err != nil {
			return err
		}
		var stored int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(length(data)), 0) FROM run_output
			WHERE run_id = $1 AND seq BETWEEN $2 AND $3`, p.RunID, p.FromSeq, p.ThroughSeq).Scan(&stored); err != nil {
			return err
		}
		if p.Bytes < stored {
			return arbiter.Invalidf("bytes", "%d is less than the %d bytes stored in seqs %d-%d", p.Bytes, stored, p.FromSeq, p.ThroughSeq)
		}
		// Bytes dropped before they were ever appended still count as written.
		if _, err := tx.Exec(ctx, `UPDATE runs SET output_dropped = output_dropped + $1, output_bytes = output_bytes + $2
			WHERE id = $3`, p.Bytes, p.Bytes-stored, p.RunID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM run_output WHERE run_id = $1 AND seq BETWEEN $2 AND $3`, p.RunID, p.FromSeq, p.ThroughSeq)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop output of run %d: %w", p.RunID, interpretError(err))
	}
	return nil
}

func (s *Store) ReadOutput(ctx context.Context, p store.OutputReadParams) ([]arbiter.OutputChunk, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id, seq, at, data FROM run_output WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		p.RunID, p.AfterSeq, clampLimit(p.Limit, 1000, 1000))
	if err != nil {
		return nil, fmt.Errorf("read output of run %d: %w", p.RunID, interpretError(err))
	}
	chunks, err := collect(nil, rows, func(row pgx.Row) (arbiter.OutputChunk, error) {
		var (
			c  arbiter.OutputChunk
			at int64
		)
		err := row.Scan(&c.RunID, &c.Seq, &at, &c.Data)
		c.At = fromNS(at)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read output of run %d: %w", p.RunID, interpretError(err))
	}
	return chunks, nil
}
