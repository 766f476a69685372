package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/arbiterd/arbiter/store"
)

func (s *Store) ListJobSchedules(ctx context.Context) ([]store.JobSchedule, error) {
	fail := func(err error) ([]store.JobSchedule, error) {
		return nil, fmt.Errorf("list job schedules: %w", interpretError(err))
	}
	// The count sizes the slice for the rows that follow, read in the same transaction.
	tx, err := s.rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return fail(err)
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT name, schedule, timezone, catchup_ns, paused, updated_at FROM jobs ORDER BY name`)
	if err != nil {
		return fail(err)
	}
	out, err := collectInto(make([]store.JobSchedule, 0, n), rows, func(sc scanner) (store.JobSchedule, error) {
		var (
			js      store.JobSchedule
			catchup int64
			updated int64
		)
		err := sc.Scan(&js.Name, &js.Schedule, &js.Timezone, &catchup, &js.Paused, &updated)
		js.Catchup, js.UpdatedAt = time.Duration(catchup), fromNS(updated)
		return js, err
	})
	if err != nil {
		return fail(err)
	}
	return out, nil
}
