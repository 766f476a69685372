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
	finished_at, exit_code, signal, pid, worker, output_bytes, output_dropped,
	retry_of, not_before, jitter_ns, missed_count, missed_until, cancel_requested`

func scanRun(sc scanner) (arbiter.Run, error) {
	var (
		r                      arbiter.Run
		trigger, state         string
		scheduled, created     int64
		started, finished      sql.NullInt64
		exit                   sql.NullInt64
		retryOf                sql.NullInt64
		notBefore, missedUntil sql.NullInt64
		jitter                 int64
	)
	err := sc.Scan(&r.ID, &r.Job, &trigger, &scheduled, &r.Attempt, &state, &r.Reason, &created,
		&started, &finished, &exit, &r.Signal, &r.PID, &r.Worker, &r.OutputBytes, &r.OutputDropped,
		&retryOf, &notBefore, &jitter, &r.MissedCount, &missedUntil, &r.CancelRequested)
	if err != nil {
		return arbiter.Run{}, err
	}
	r.Trigger, r.State = arbiter.Trigger(trigger), arbiter.RunState(state)
	r.ScheduledAt, r.CreatedAt = fromNS(scheduled), fromNS(created)
	r.StartedAt, r.FinishedAt = fromNullNS(started), fromNullNS(finished)
	r.RetryOf, r.NotBefore, r.Jitter = retryOf.Int64, fromNullNS(notBefore), time.Duration(jitter)
	r.MissedUntil = fromNullNS(missedUntil)
	if exit.Valid {
		code := int(exit.Int64)
		r.ExitCode = &code
	}
	return r, nil
}

const jobExistsSQL = `SELECT 1 FROM jobs WHERE name = ?`

// jobExists reports arbiter.ErrNotFound for a missing job. It runs inside the write transaction
// so that the job cannot vanish between the check and the insert.
func (s *Store) jobExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	return tx.StmtContext(ctx, s.ws.jobExists).QueryRowContext(ctx, name).Scan(&one)
}

// runEvent records that run r (as it is after the change) entered its state.
func (s *Store) runEvent(ctx context.Context, tx *sql.Tx, at time.Time, r arbiter.Run, actor string) error {
	return s.event(ctx, tx, at, "run."+string(r.State), r.Job, r.ID, actor, store.RunEventDetail(r))
}

// The conflict target names the partial unique index runs_fire, WHERE clause included.
const insertFireSQL = `INSERT INTO runs (job, trigger, scheduled_at, attempt, state, reason, created_at, finished_at,
		not_before, jitter_ns, missed_count, missed_until)
	VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (job, scheduled_at) WHERE trigger IN ('schedule', 'catchup') DO NOTHING
	RETURNING ` + runColumns

const fireConflictSQL = `SELECT ` + runColumns + ` FROM runs
	WHERE job = ? AND scheduled_at = ? AND trigger IN ('schedule', 'catchup')`

func (s *Store) InsertFire(ctx context.Context, p store.FireInsertParams) (arbiter.Run, bool, error) {
	if err := store.ValidateFire(p); err != nil {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q: %w", p.Job, err)
	}
	var finished sql.NullInt64
	if p.State != arbiter.StateQueued {
		finished = nullNS(p.Now) // records of fires that never ran are terminal from birth
	}

	var (
		run      arbiter.Run
		inserted bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.jobExists(ctx, tx, p.Job); err != nil {
			return err
		}
		var err error
		run, err = scanRun(tx.StmtContext(ctx, s.ws.insertFire).QueryRowContext(ctx,
			p.Job, string(p.Trigger), ns(p.ScheduledAt), string(p.State), p.Reason, ns(p.Now), finished,
			nullNS(p.NotBefore), int64(p.Jitter), p.MissedCount, nullNS(p.MissedUntil)))
		if errors.Is(err, sql.ErrNoRows) {
			// Already materialized (a crash after the insert, another scheduler): return it.
			run, err = scanRun(tx.StmtContext(ctx, s.ws.fireConflict).QueryRowContext(ctx,
				p.Job, ns(p.ScheduledAt)))
			return err
		}
		if err != nil {
			return err
		}
		inserted = true
		return s.runEvent(ctx, tx, p.Now, run, "")
	})
	if err != nil {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q at %s: %w", p.Job, p.ScheduledAt, interpretError(err))
	}
	return run, inserted, nil
}

const insertRunSQL = `INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at, retry_of, not_before)
	VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)
	RETURNING ` + runColumns

func (s *Store) InsertRun(ctx context.Context, p store.RunInsertParams) (arbiter.Run, error) {
	if err := store.ValidateRunInsert(p); err != nil {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job, err)
	}
	attempt := max(p.Attempt, 1)
	var retryOf sql.NullInt64
	if p.RetryOf != 0 {
		retryOf = sql.NullInt64{Int64: p.RetryOf, Valid: true}
	}
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.jobExists(ctx, tx, p.Job); err != nil {
			return err
		}
		scheduled := p.ScheduledAt
		if p.RetryOf != 0 {
			first, err := s.retryTarget(ctx, tx, p.Job, p.RetryOf)
			if err != nil {
				return err
			}
			if scheduled.IsZero() {
				scheduled = first.ScheduledAt // a retry stands for the same fire
			}
		}
		if scheduled.IsZero() {
			scheduled = p.Now // a manual run's "fire time" is when it was asked for
		}
		var err error
		run, err = scanRun(tx.StmtContext(ctx, s.ws.insertRun).QueryRowContext(ctx,
			p.Job, string(p.Trigger), ns(scheduled), attempt, ns(p.Now), retryOf, nullNS(p.NotBefore)))
		if err != nil {
			return err
		}
		return s.runEvent(ctx, tx, p.Now, run, p.Actor)
	})
	if err = interpretError(err); errors.Is(err, arbiter.ErrConflict) {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w: attempt %d of run %d already exists", p.Job, arbiter.ErrConflict, attempt, p.RetryOf)
	} else if err != nil {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job, err)
	}
	return run, nil
}

// retryTarget loads the first attempt a retry names: it must exist (arbiter.ErrNotFound), belong
// to the same job and be a first attempt itself, so that every retry of a chain names the same
// run (arbiter.ErrInvalid).
func (s *Store) retryTarget(ctx context.Context, tx *sql.Tx, job string, id int64) (arbiter.Run, error) {
	first, err := scanRun(tx.StmtContext(ctx, s.ws.runByID).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return arbiter.Run{}, fmt.Errorf("%w: run %d to retry", arbiter.ErrNotFound, id)
	}
	if err != nil {
		return arbiter.Run{}, err
	}
	if first.Job != job {
		return arbiter.Run{}, arbiter.Invalidf("retry_of", "run %d is of job %q, not %q", id, first.Job, job)
	}
	if first.RetryOf != 0 {
		return arbiter.Run{}, arbiter.Invalidf("retry_of", "run %d is itself a retry of run %d; name the first attempt", id, first.RetryOf)
	}
	return first, nil
}

const (
	runByIDSQL  = `SELECT ` + runColumns + ` FROM runs WHERE id = ?`
	runStateSQL = `SELECT state FROM runs WHERE id = ?`
)

// runConflict explains why an UPDATE guarded by a state condition touched nothing: the run is
// missing (ErrNotFound) or in the wrong state (ErrConflict).
func (s *Store) runConflict(ctx context.Context, tx *sql.Tx, id int64, want string) error {
	var state string
	if err := tx.StmtContext(ctx, s.ws.runState).QueryRowContext(ctx, id).Scan(&state); err != nil {
		return err
	}
	return fmt.Errorf("%w: run is %s, not %s", arbiter.ErrConflict, state, want)
}

// startRunSQL starts a queued run, or one its worker claimed (ClaimRuns, pid still 0); either
// way this is when the run's process started, and its run.running event is recorded.
const startRunSQL = `UPDATE runs SET state = 'running', started_at = ?1, pid = ?2, worker = ?3
	WHERE id = ?4 AND (state = 'queued' OR (state = 'running' AND worker = ?3 AND pid = 0))
	RETURNING ` + runColumns

func (s *Store) StartRun(ctx context.Context, p store.RunStartParams) (arbiter.Run, error) {
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		run, err = scanRun(tx.StmtContext(ctx, s.ws.startRun).QueryRowContext(ctx,
			ns(p.Now), p.PID, p.Worker, p.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return s.runConflict(ctx, tx, p.ID, "queued")
		}
		if err != nil {
			return err
		}
		return s.runEvent(ctx, tx, p.Now, run, "")
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("start run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

const finishRunSQL = `UPDATE runs SET state = ?, finished_at = ?, exit_code = ?, signal = ?, reason = ?
	WHERE id = ? AND state IN ('queued', 'running')
	RETURNING ` + runColumns

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
		run, err = scanRun(tx.StmtContext(ctx, s.ws.finishRun).QueryRowContext(ctx,
			string(p.State), ns(p.Now), exit, p.Signal, p.Reason, p.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return s.runConflict(ctx, tx, p.ID, "queued or running")
		}
		if err != nil {
			return err
		}
		return s.runEvent(ctx, tx, p.Now, run, p.Actor)
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("finish run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

func (s *Store) GetRun(ctx context.Context, id int64) (arbiter.Run, error) {
	run, err := scanRun(s.rs.getRun.QueryRowContext(ctx, id))
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("get run %d: %w", id, interpretError(err))
	}
	return run, nil
}

// listRunsQuery builds ListRuns' query, apart so that a test can check its plan.
func listRunsQuery(p store.RunListParams) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	if p.Job != "" {
		where, args = append(where, "job = ?"), append(args, p.Job)
	}
	if p.Worker != "" {
		where, args = append(where, "worker = ?"), append(args, p.Worker)
	}
	if p.States != nil {
		states, err := json.Marshal(p.States)
		if err != nil {
			return "", nil, err
		}
		where, args = append(where, "state IN (SELECT value FROM json_each(?))"), append(args, string(states))
	}
	// With a job, runs_job_scheduled serves the range.
	if !p.ScheduledFrom.IsZero() {
		where, args = append(where, "scheduled_at >= ?"), append(args, ns(p.ScheduledFrom))
	}
	if !p.ScheduledTo.IsZero() {
		where, args = append(where, "scheduled_at <= ?"), append(args, ns(p.ScheduledTo))
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
	return q, args, nil
}

func (s *Store) ListRuns(ctx context.Context, p store.RunListParams) ([]arbiter.Run, error) {
	q, args, err := listRunsQuery(p)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	// At most 32 texts, one per combination of filters given.
	st, err := s.lists.get(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	runs, err := collect(rows, scanRun)
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
	runs, err := collect(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("latest runs: %w", interpretError(err))
	}
	for _, r := range runs {
		latest[r.Job] = r
	}
	return latest, nil
}

// lastFiresQuery is LastFires' query: per job, two index steps. Driving it from jobs rather than
// grouping runs keeps it from reading every run: max() over an index whose leading column is
// fixed is one seek. INDEXED BY runs_fire because the planner, not knowing that the partial
// index implies the trigger condition, would otherwise pick runs_job_scheduled and check the
// trigger of run after run, reading every manual run of a job that has no scheduled one; and
// should the index ever go, the query fails loudly instead of slowly. The later of the two
// maxima is the latest fire accounted for. Jobs without scheduled runs are left out, and so are
// the runs of deleted jobs: there is nothing to catch up for them.
const lastFiresQuery = `
	SELECT name, max(fired, coalesce(missed, fired)) FROM (
		SELECT j.name AS name,
			(SELECT max(scheduled_at) FROM runs INDEXED BY runs_fire
				WHERE job = j.name AND trigger IN ('schedule', 'catchup')) AS fired,
			(SELECT max(missed_until) FROM runs INDEXED BY runs_missed
				WHERE job = j.name AND missed_until IS NOT NULL) AS missed
		FROM jobs j)
	WHERE fired IS NOT NULL`

func (s *Store) LastFires(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.rd.QueryContext(ctx, lastFiresQuery)
	if err != nil {
		return nil, fmt.Errorf("last fires: %w", interpretError(err))
	}
	defer rows.Close()
	last := make(map[string]time.Time)
	for rows.Next() {
		var (
			job string
			at  int64
		)
		if err := rows.Scan(&job, &at); err != nil {
			return nil, fmt.Errorf("last fires: %w", err)
		}
		last[job] = fromNS(at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last fires: %w", interpretError(err))
	}
	return last, nil
}

func (s *Store) RecoverRuns(ctx context.Context, p store.RunRecoverParams) ([]arbiter.Run, error) {
	var before []arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs
			WHERE state = 'running' AND (?1 = '' OR worker = ?1) ORDER BY id`, p.Worker)
		if err != nil {
			return err
		}
		if before, err = collect(rows, scanRun); err != nil {
			return err
		}
		for _, r := range before {
			lost, err := scanRun(tx.QueryRowContext(ctx,
				`UPDATE runs SET state = 'lost', finished_at = ?, reason = ? WHERE id = ?
				RETURNING `+runColumns, ns(p.Now), p.Reason, r.ID))
			if err != nil {
				return err
			}
			if err := s.runEvent(ctx, tx, p.Now, lost, ""); err != nil {
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
