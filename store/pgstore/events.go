package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// AppendEvent stores e as given but for its ID, which the log assigns.
func (s *Store) AppendEvent(ctx context.Context, e arbiter.Event) error {
	if e.Kind == "" {
		return fmt.Errorf("append event: %w", arbiter.Invalidf("kind", "must not be empty"))
	}
	err := s.write(ctx, func(tx *wtx) error {
		tx.event(e.At, e.Kind, e.Job, e.RunID, e.Actor, e.Detail)
		return nil
	})
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, interpretError(err))
	}
	return nil
}

// listEventsQuery builds ListEvents' query, apart so that a test can check its plan.
//
// A plain "id > after" is enough because event ids commit in id order (see the package
// comment): an event with a smaller id than one already read can no longer appear.
func listEventsQuery(p store.EventListParams) (string, []any) {
	q := `SELECT id, at, kind, job, run_id, actor, detail FROM events WHERE id > $1`
	args := []any{p.AfterID}
	if p.Job != "" {
		args = append(args, p.Job)
		q += ` AND job = $2` // served by events_job_id
	}
	args = append(args, clampLimit(p.Limit, 1000, 1000))
	limit := `$` + strconv.Itoa(len(args))
	if p.Latest {
		return `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ` + limit + `) latest ORDER BY id`, args
	}
	return q + ` ORDER BY id LIMIT ` + limit, args
}

func (s *Store) ListEvents(ctx context.Context, p store.EventListParams) ([]arbiter.Event, error) {
	q, args := listEventsQuery(p)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", interpretError(err))
	}
	events, err := collect(nil, rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", interpretError(err))
	}
	return events, nil
}

func scanEvent(row pgx.Row) (arbiter.Event, error) {
	var (
		e     arbiter.Event
		at    int64
		runID *int64
	)
	err := row.Scan(&e.ID, &at, &e.Kind, &e.Job, &runID, &e.Actor, &e.Detail)
	e.At = fromNS(at)
	if runID != nil {
		e.RunID = *runID
	}
	return e, err
}

// countsQuery is the whole summary in one statement, so that it is of one moment: the first
// row has the job counts (the total from the primary key, the paused ones from jobs_paused), the
// others a count of runs per state.
const countsQuery = `
	SELECT NULL, (SELECT count(*) FROM jobs), (SELECT count(*) FROM jobs WHERE paused)
	UNION ALL
	SELECT state, count(*), 0 FROM runs GROUP BY state`

func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	c := store.Counts{Runs: make(map[arbiter.RunState]int)}
	rows, err := s.pool.Query(ctx, countsQuery)
	if err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", interpretError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state     *string
			n, paused int
		)
		if err := rows.Scan(&state, &n, &paused); err != nil {
			return store.Counts{}, fmt.Errorf("counts: %w", err)
		}
		if state == nil {
			c.Jobs, c.Paused = n, paused
		} else {
			c.Runs[arbiter.RunState(*state)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return store.Counts{}, fmt.Errorf("counts: %w", interpretError(err))
	}
	return c, nil
}
