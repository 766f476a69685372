package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const runColumns = `id, job, trigger, scheduled_at, attempt, state, reason, created_at, started_at,
	finished_at, exit_code, signal, pid, worker, output_bytes, output_dropped`

func scanRun(sc scanner) (arbiter.Run, error) {
	var (
		r                  arbiter.Run
		trigger, state     string
		scheduled, created int64
		started, finished  sql.NullInt64
		exit               sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Job, &trigger, &scheduled, &r.Attempt, &state, &r.Reason, &created,
		&started, &finished, &exit, &r.Signal, &r.PID, &r.Worker, &r.OutputBytes, &r.OutputDropped)
	if err != nil {
		return arbiter.Run{}, err
	}
	r.Trigger, r.State = arbiter.Trigger(trigger), arbiter.RunState(state)
	r.ScheduledAt, r.CreatedAt = fromNS(scheduled), fromNS(created)
	r.StartedAt, r.FinishedAt = fromNullNS(started), fromNullNS(finished)
	if exit.Valid {
		code := int(exit.Int64)
		r.ExitCode = &code
	}
	return r, nil
}

func collectRuns(rows *sql.Rows) ([]arbiter.Run, error) {
	defer rows.Close()
	var runs []arbiter.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// jobExists reports arbiter.ErrNotFound for a missing job. It runs inside the write transaction
// so that the job cannot vanish between the check and the insert.
func jobExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	return tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE name = ?`, name).Scan(&one)
}

// runEventDetail is the short human text of a run's event.
func runEventDetail(r arbiter.Run) string {
	switch {
	case r.Reason != "":
		return r.Reason
	case r.Signal != "":
		return "killed by " + r.Signal
	case r.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *r.ExitCode)
	case r.State == arbiter.StateRunning:
		return fmt.Sprintf("pid %d on %s", r.PID, r.Worker)
	}
	return ""
}

// runEvent records that run r (as it is after the change) entered its state.
func runEvent(ctx context.Context, tx *sql.Tx, at time.Time, r arbiter.Run, actor string) error {
	return event(ctx, tx, at, "run."+string(r.State), r.Job, r.ID, actor, runEventDetail(r))
}

func (s *Store) InsertFire(ctx context.Context, p store.FireInsertParams) (arbiter.Run, bool, error) {
	if !p.Trigger.Scheduled() {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q: %w", p.Job,
			arbiter.Invalidf("trigger", "%q is not a scheduled trigger", p.Trigger))
	}
	var finished sql.NullInt64
	switch p.State {
	case arbiter.StateQueued:
	case arbiter.StateSkipped, arbiter.StateMissed:
		finished = nullNS(p.Now) // records of fires that never ran are terminal from birth
	default:
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q: %w", p.Job,
			arbiter.Invalidf("state", "a fire is born queued, skipped or missed, not %q", p.State))
	}

	var (
		run      arbiter.Run
		inserted bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, p.Job); err != nil {
			return err
		}
		// The conflict target names the partial unique index runs_fire, WHERE clause included.
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx,
			`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, reason, created_at, finished_at)
			VALUES (?, ?, ?, 1, ?, ?, ?, ?)
			ON CONFLICT (job, scheduled_at) WHERE trigger IN ('schedule', 'catchup') DO NOTHING
			RETURNING `+runColumns,
			p.Job, string(p.Trigger), ns(p.ScheduledAt), string(p.State), p.Reason, ns(p.Now), finished))
		if errors.Is(err, sql.ErrNoRows) {
			// Already materialized (a crash after the insert, another scheduler): return it.
			run, err = scanRun(tx.QueryRowContext(ctx,
				`SELECT `+runColumns+` FROM runs
				WHERE job = ? AND scheduled_at = ? AND trigger IN ('schedule', 'catchup')`,
				p.Job, ns(p.ScheduledAt)))
			return err
		}
		if err != nil {
			return err
		}
		inserted = true
		return runEvent(ctx, tx, p.Now, run, "")
	})
	if err != nil {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q at %s: %w", p.Job, p.ScheduledAt, interpretError(err))
	}
	return run, inserted, nil
}

func (s *Store) InsertRun(ctx context.Context, p store.RunInsertParams) (arbiter.Run, error) {
	if p.Trigger.Scheduled() || (p.Trigger != arbiter.TriggerManual && p.Trigger != arbiter.TriggerRetry) {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job,
			arbiter.Invalidf("trigger", "%q is not manual or retry; scheduled fires go through InsertFire", p.Trigger))
	}
	attempt := max(p.Attempt, 1)
	scheduled := p.ScheduledAt
	if scheduled.IsZero() {
		scheduled = p.Now // a manual run's "fire time" is when it was asked for
	}
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, p.Job); err != nil {
			return err
		}
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx,
			`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at)
			VALUES (?, ?, ?, ?, 'queued', ?)
			RETURNING `+runColumns,
			p.Job, string(p.Trigger), ns(scheduled), attempt, ns(p.Now)))
		if err != nil {
			return err
		}
		return runEvent(ctx, tx, p.Now, run, p.Actor)
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job, interpretError(err))
	}
	return run, nil
}

// runConflict explains why an UPDATE guarded by a state condition touched nothing: the run is
// missing (ErrNotFound) or in the wrong state (ErrConflict).
func runConflict(ctx context.Context, tx *sql.Tx, id int64, want string) error {
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = ?`, id).Scan(&state); err != nil {
		return err
	}
	return fmt.Errorf("%w: run is %s, not %s", arbiter.ErrConflict, state, want)
}

func (s *Store) StartRun(ctx context.Context, p store.RunStartParams) (arbiter.Run, error) {
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx,
			`UPDATE runs SET state = 'running', started_at = ?, pid = ?, worker = ?
			WHERE id = ? AND state = 'queued'
			RETURNING `+runColumns,
			ns(p.Now), p.PID, p.Worker, p.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return runConflict(ctx, tx, p.ID, "queued")
		}
		if err != nil {
			return err
		}
		return runEvent(ctx, tx, p.Now, run, "")
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("start run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

func (s *Store) FinishRun(ctx context.Context, p store.RunFinishParams) (arbiter.Run, error) {
	if !p.State.Valid() || !p.State.Terminal() {
		return arbiter.Run{}, fmt.Errorf("finish run %d: %w", p.ID,
			arbiter.Invalidf("state", "%q is not a terminal state", p.State))
	}
	var exit sql.NullInt64
	if p.ExitCode != nil {
		exit = sql.NullInt64{Int64: int64(*p.ExitCode), Valid: true}
	}
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx,
			`UPDATE runs SET state = ?, finished_at = ?, exit_code = ?, signal = ?, reason = ?
			WHERE id = ? AND state IN ('queued', 'running')
			RETURNING `+runColumns,
			string(p.State), ns(p.Now), exit, p.Signal, p.Reason, p.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return runConflict(ctx, tx, p.ID, "queued or running")
		}
		if err != nil {
			return err
		}
		return runEvent(ctx, tx, p.Now, run, p.Actor)
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("finish run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

func (s *Store) GetRun(ctx context.Context, id int64) (arbiter.Run, error) {
	run, err := scanRun(s.rd.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("get run %d: %w", id, interpretError(err))
	}
	return run, nil
}

func (s *Store) ListRuns(ctx context.Context, p store.RunListParams) ([]arbiter.Run, error) {
	var (
		where []string
		args  []any
	)
	if p.Job != "" {
		where, args = append(where, "job = ?"), append(args, p.Job)
	}
	if p.States != nil {
		states, err := json.Marshal(p.States)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		where, args = append(where, "state IN (SELECT value FROM json_each(?))"), append(args, string(states))
	}
	if p.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, p.BeforeID)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, clampLimit(p.Limit, 50, 1000))

	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	runs, err := collectRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	return runs, nil
}

func (s *Store) LatestRuns(ctx context.Context, jobs []string) (map[string]arbiter.Run, error) {
	latest := make(map[string]arbiter.Run)
	if jobs != nil && len(jobs) == 0 {
		return latest, nil
	}
	q := `SELECT ` + runColumns + ` FROM runs WHERE id IN (SELECT max(id) FROM runs GROUP BY job)`
	var args []any
	if jobs != nil {
		// One parameter whatever the number of jobs: no SQLite variable limit to mind.
		b, err := json.Marshal(jobs)
		if err != nil {
			return nil, fmt.Errorf("latest runs: %w", err)
		}
		q = `SELECT ` + runColumns + ` FROM runs WHERE id IN (
			SELECT max(id) FROM runs WHERE job IN (SELECT value FROM json_each(?)) GROUP BY job)`
		args = append(args, string(b))
	}
	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("latest runs: %w", interpretError(err))
	}
	runs, err := collectRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("latest runs: %w", interpretError(err))
	}
	for _, r := range runs {
		latest[r.Job] = r
	}
	return latest, nil
}

func (s *Store) RecoverRuns(ctx context.Context, p store.RunRecoverParams) ([]arbiter.Run, error) {
	var before []arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE state = 'running' ORDER BY id`)
		if err != nil {
			return err
		}
		if before, err = collectRuns(rows); err != nil {
			return err
		}
		for _, r := range before {
			lost, err := scanRun(tx.QueryRowContext(ctx,
				`UPDATE runs SET state = 'lost', finished_at = ?, reason = ? WHERE id = ?
				RETURNING `+runColumns, ns(p.Now), p.Reason, r.ID))
			if err != nil {
				return err
			}
			if err := runEvent(ctx, tx, p.Now, lost, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover runs: %w", interpretError(err))
	}
	return before, nil
}
