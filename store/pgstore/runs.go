package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const runColumns = `id, job, trigger, scheduled_at, attempt, state, reason, created_at, started_at,
	finished_at, exit_code, signal, pid, worker, output_bytes, output_dropped,
	retry_of, not_before, jitter_ns, missed_count, missed_until, cancel_requested`

func scanRun(row pgx.Row) (arbiter.Run, error) {
	var (
		r                      arbiter.Run
		trigger, state         string
		scheduled, created     int64
		started, finished      *int64
		retryOf                *int64
		notBefore, missedUntil *int64
		jitter                 int64
	)
	err := row.Scan(&r.ID, &r.Job, &trigger, &scheduled, &r.Attempt, &state, &r.Reason, &created,
		&started, &finished, &r.ExitCode, &r.Signal, &r.PID, &r.Worker, &r.OutputBytes, &r.OutputDropped,
		&retryOf, &notBefore, &jitter, &r.MissedCount, &missedUntil, &r.CancelRequested)
	if err != nil {
		return arbiter.Run{}, err
	}
	r.Trigger, r.State = arbiter.Trigger(trigger), arbiter.RunState(state)
	r.ScheduledAt, r.CreatedAt = fromNS(scheduled), fromNS(created)
	r.StartedAt, r.FinishedAt = fromNullNS(started), fromNullNS(finished)
	if retryOf != nil {
		r.RetryOf = *retryOf
	}
	r.NotBefore, r.Jitter = fromNullNS(notBefore), time.Duration(jitter)
	r.MissedUntil = fromNullNS(missedUntil)
	return r, nil
}

// jobExists reports pgx.ErrNoRows for a missing job. The key-share lock keeps the job from being
// deleted until the transaction ends, so no run is born to a job deleted meanwhile on another
// node; it does not stand in the way of updates.
func (w *wtx) jobExists(ctx context.Context, name string) error {
	var one int
	return w.QueryRow(ctx, `SELECT 1 FROM jobs WHERE name = $1 FOR KEY SHARE`, name).Scan(&one)
}

// runEvent records that run r (as it is after the change) entered its state.
func (w *wtx) runEvent(at time.Time, r arbiter.Run, actor string) {
	w.event(at, "run."+string(r.State), r.Job, r.ID, actor, store.RunEventDetail(r))
}

// The conflict target names the partial unique index runs_fire, WHERE clause included.
// insertFireSQL records a fire, its event and the notification in one statement, which commits
// on its own (changeRunSQL): it records nothing for a job that does not exist (FOR KEY SHARE
// keeps the job from being deleted until the commit, so no run is born to a job deleted
// meanwhile on another node) nor when the fire is already recorded (the conflict target names
// the partial unique index runs_fire, WHERE clause included). The casts type the parameters,
// which a SELECT list would otherwise take for text.
var insertFireSQL = changeRunSQL(insertFireStatement(""), `$6`, `'daemon'`)

// insertFencedFireSQL records the fire only if the leader's term ($12, $13) still holds the
// scheduler lock, checked in the same statement as the insert, and committed with it: no round
// trip, and no freeze of the node, comes between the check and the commit. Without the check, a
// leader that froze after deciding to fire, and resumed after another node had taken the lock
// and accounted for that second (a missed record's range, which the unique fire key does not
// cover), would record it a second time.
var insertFencedFireSQL = changeRunSQL(insertFireStatement(` AND `+termHoldsLockSQL(12, 13)), `$6`, `'daemon'`)

// insertFireStatement is the insert of a fire, with fence among the conditions.
func insertFireStatement(fence string) string {
	return `INSERT INTO runs (job, trigger, scheduled_at, attempt, state, reason, created_at,
		finished_at, not_before, jitter_ns, missed_count, missed_until)
	SELECT $1::text, $2::text, $3::bigint, 1, $4::text, $5::text, $6::bigint, $7::bigint, $8::bigint,
		$9::bigint, $10::integer, $11::bigint
	WHERE EXISTS (SELECT 1 FROM jobs WHERE name = $1 FOR KEY SHARE)` + fence + `
	ON CONFLICT (job, scheduled_at) WHERE trigger IN ('schedule', 'catchup') DO NOTHING`
}

// termHeldSQL tells an insert that the fence refused from one the unique fire key skipped.
var termHeldSQL = `SELECT ` + termHoldsLockSQL(1, 2)

const fireConflictSQL = `SELECT ` + runColumns + ` FROM runs
	WHERE job = $1 AND scheduled_at = $2 AND trigger IN ('schedule', 'catchup')`

// InsertFire with a Term records the fire only while that term holds the scheduler lock
// (insertFencedFireSQL), and answers store.ErrNotLeader, having written nothing, once it does
// not. A statement that recorded nothing is asked why afterwards: a fire the fence refused can
// be told from one already recorded by asking again, since the term's session held the lock
// from TryLead until it ended, so a term that holds it at that second look held it at the
// insert too; and a fire that is not recorded either is one of a job that does not exist.
func (s *Store) InsertFire(ctx context.Context, p store.FireInsertParams) (arbiter.Run, bool, error) {
	if err := store.ValidateFire(p); err != nil {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q: %w", p.Job, err)
	}
	var finished *int64
	if p.State != arbiter.StateQueued {
		finished = nullNS(p.Now) // records of fires that never ran are terminal from birth
	}
	q, args := insertFireSQL, []any{p.Job, string(p.Trigger), ns(p.ScheduledAt), string(p.State), p.Reason,
		ns(p.Now), finished, nullNS(p.NotBefore), int64(p.Jitter), p.MissedCount, nullNS(p.MissedUntil)}
	var (
		termPID   int32
		termStart time.Time
	)
	if p.Term != "" {
		var err error
		if termPID, termStart, err = parseTerm(p.Term); err != nil {
			return arbiter.Run{}, false, fmt.Errorf("insert fire of %q: %w", p.Job, err)
		}
		q, args = insertFencedFireSQL, append(args, termPID, termStart)
	}

	var (
		run      arbiter.Run
		inserted bool
	)
	err := s.retry(ctx, func() error {
		var err error
		run, err = scanRun(s.pool.QueryRow(ctx, q, args...))
		inserted = err == nil
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if p.Term != "" {
			var held bool
			if err := s.pool.QueryRow(ctx, termHeldSQL, termPID, termStart).Scan(&held); err != nil {
				return err
			}
			if !held {
				return store.ErrNotLeader
			}
		}
		// Already recorded (a crash after the insert, another scheduler): ON CONFLICT waited
		// for the transaction that inserted it to commit, so this read sees it. No row: the
		// job does not exist.
		run, err = scanRun(s.pool.QueryRow(ctx, fireConflictSQL, p.Job, ns(p.ScheduledAt)))
		return err
	})
	if err != nil {
		return arbiter.Run{}, false, fmt.Errorf("insert fire of %q at %s: %w", p.Job, p.ScheduledAt, interpretError(err))
	}
	return run, inserted, nil
}

const insertRunSQL = `INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at, retry_of, not_before)
	VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7)
	RETURNING ` + runColumns

func (s *Store) InsertRun(ctx context.Context, p store.RunInsertParams) (arbiter.Run, error) {
	if err := store.ValidateRunInsert(p); err != nil {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job, err)
	}
	attempt := max(p.Attempt, 1)
	var run arbiter.Run
	err := s.write(ctx, func(tx *wtx) error {
		if err := tx.jobExists(ctx, p.Job); err != nil {
			return err
		}
		scheduled := p.ScheduledAt
		if p.RetryOf != 0 {
			first, err := tx.retryTarget(ctx, p.Job, p.RetryOf)
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
		run, err = scanRun(tx.QueryRow(ctx, insertRunSQL,
			p.Job, string(p.Trigger), ns(scheduled), attempt, ns(p.Now), nullID(p.RetryOf), nullNS(p.NotBefore)))
		if err != nil {
			return err
		}
		tx.runEvent(p.Now, run, p.Actor)
		return nil
	})
	if err = interpretError(err); errors.Is(err, arbiter.ErrConflict) {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w: attempt %d of run %d already exists", p.Job, arbiter.ErrConflict, attempt, p.RetryOf)
	} else if err != nil {
		return arbiter.Run{}, fmt.Errorf("insert run of %q: %w", p.Job, err)
	}
	return run, nil
}

const runByIDSQL = `SELECT ` + runColumns + ` FROM runs WHERE id = $1`

// retryTarget loads the first attempt a retry names: it must exist (arbiter.ErrNotFound), belong
// to the same job and be a first attempt itself, so that every retry of a chain names the same
// run (arbiter.ErrInvalid).
func (w *wtx) retryTarget(ctx context.Context, job string, id int64) (arbiter.Run, error) {
	first, err := scanRun(w.QueryRow(ctx, runByIDSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
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

// runConflict explains why an UPDATE guarded by a state condition touched nothing: the run is
// missing (ErrNoRows) or in the wrong state (ErrConflict). q is the pool, or the transaction
// that tried the UPDATE.
func runConflict(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id int64, want string) error {
	var state string
	if err := q.QueryRow(ctx, `SELECT state FROM runs WHERE id = $1`, id).Scan(&state); err != nil {
		return err
	}
	return fmt.Errorf("%w: run is %s, not %s", arbiter.ErrConflict, state, want)
}

// runDetailSQL is store.RunEventDetail in SQL, of the run c as it is after its change, for the
// events that a run's change records in the same statement (changeRunSQL). TestRunDetailSQL
// holds the two to the same texts.
const runDetailSQL = `CASE
		WHEN c.reason <> '' THEN c.reason
		WHEN c.signal <> '' THEN 'killed by ' || c.signal
		WHEN c.exit_code IS NOT NULL THEN 'exit code ' || c.exit_code
		WHEN c.state = 'running' THEN 'pid ' || c.pid || ' on ' || c.worker
		ELSE '' END`

// changeRunSQL makes update, a statement that changes or inserts one run, record the run's
// event and notify in the same statement, which commits on its own: one round trip where a
// transaction takes four (BEGIN, the update, the events' batch, COMMIT). at and actor are the
// event's time and actor, as parameters of update ($n) or literals. It returns the changed run,
// or no row when update changed none.
//
// The event lock is taken per changed row, as the row is read for its event: after the update's
// row lock, so that the event lock stays the last lock a transaction takes (see the package
// comment), and until the commit, which follows at once.
func changeRunSQL(update, at, actor string) string {
	return `WITH changed AS (` + update + ` RETURNING ` + runColumns + `)
	, logged AS (
		INSERT INTO events (at, kind, job, run_id, actor, detail)
		SELECT ` + at + `, 'run.' || c.state, c.job, c.id, ` + actor + `, ` + runDetailSQL + `
		FROM (SELECT pg_advisory_xact_lock(` + strconv.FormatInt(eventLockKey, 10) + `) AS locked, changed.* FROM changed) AS c
		RETURNING 1)
	, notified AS (
		SELECT pg_notify('` + eventChannel + `', '') FROM (SELECT 1 FROM logged LIMIT 1) AS first_logged)
	SELECT changed.* FROM changed, (SELECT count(*) FROM notified) AS n`
}

// changeRun runs a changeRunSQL statement and returns the run it changed; want is the state
// that the run must have been in, for the conflict it reports when it changed none.
func (s *Store) changeRun(ctx context.Context, id int64, want, sql string, args ...any) (arbiter.Run, error) {
	var run arbiter.Run
	err := s.retry(ctx, func() error {
		var err error
		run, err = scanRun(s.pool.QueryRow(ctx, sql, args...))
		if errors.Is(err, pgx.ErrNoRows) {
			return runConflict(ctx, s.pool, id, want)
		}
		return err
	})
	return run, err
}

// startRunSQL starts a queued run, or one its worker claimed (ClaimRuns, pid still 0); either
// way this is when the run's process started, and its run.running event is recorded. The state
// conditions make concurrent transitions safe: a second UPDATE of the row waits for the first,
// then finds the state changed and touches nothing.
var startRunSQL = changeRunSQL(`UPDATE runs SET state = 'running', started_at = $1, pid = $2, worker = $3
	WHERE id = $4 AND (state = 'queued' OR (state = 'running' AND worker = $3 AND pid = 0))`, `$1`, `'daemon'`)

func (s *Store) StartRun(ctx context.Context, p store.RunStartParams) (arbiter.Run, error) {
	run, err := s.changeRun(ctx, p.ID, "queued", startRunSQL, ns(p.Now), p.PID, p.Worker, p.ID)
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("start run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

var finishRunSQL = changeRunSQL(`UPDATE runs SET state = $1, finished_at = $2, exit_code = $3, signal = $4, reason = $5
	WHERE id = $6 AND state IN ('queued', 'running')`, `$2`, `$7`)

func (s *Store) FinishRun(ctx context.Context, p store.RunFinishParams) (arbiter.Run, error) {
	if !p.State.Valid() || !p.State.Terminal() {
		return arbiter.Run{}, fmt.Errorf("finish run %d: %w", p.ID,
			arbiter.Invalidf("state", "%q is not a terminal state", p.State))
	}
	actor := p.Actor
	if actor == "" {
		actor = "daemon"
	}
	run, err := s.changeRun(ctx, p.ID, "queued or running", finishRunSQL,
		string(p.State), ns(p.Now), p.ExitCode, p.Signal, p.Reason, p.ID, actor)
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("finish run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

func (s *Store) GetRun(ctx context.Context, id int64) (arbiter.Run, error) {
	run, err := scanRun(s.pool.QueryRow(ctx, runByIDSQL, id))
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("get run %d: %w", id, interpretError(err))
	}
	return run, nil
}

// listRunsQuery builds ListRuns' query, apart so that a test can check its plan.
func listRunsQuery(p store.RunListParams) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if p.Job != "" {
		arg("job = ?", p.Job)
	}
	if p.Worker != "" {
		arg("worker = ?", p.Worker)
	}
	if p.States != nil {
		states := make([]string, len(p.States))
		for i, st := range p.States {
			states[i] = string(st)
		}
		arg("state = ANY (?::text[])", states) // an empty list matches nothing
	}
	// With a job, runs_job_scheduled serves the range.
	if !p.ScheduledFrom.IsZero() {
		arg("scheduled_at >= ?", ns(p.ScheduledFrom))
	}
	if !p.ScheduledTo.IsZero() {
		arg("scheduled_at <= ?", ns(p.ScheduledTo))
	}
	if p.BeforeID > 0 {
		arg("id < ?", p.BeforeID)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, clampLimit(p.Limit, 50, 1000))
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	return q, args
}

func (s *Store) ListRuns(ctx context.Context, p store.RunListParams) ([]arbiter.Run, error) {
	q, args := listRunsQuery(p)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	runs, err := collect(nil, rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", interpretError(err))
	}
	return runs, nil
}

// latestRunsQuery finds the newest run of each job with one index step per job. Postgres cannot
// skip through an index by itself (max(id) ... GROUP BY job reads every entry), so the jobs come
// first: the given names, or, for every job with runs, a recursive walk that jumps from one job
// of runs_job_id to the next. Then, per job, the newest entry of runs_job_id.
const (
	latestRunsOfSQL = `SELECT r.* FROM unnest($1::text[]) AS j (name)
	CROSS JOIN LATERAL (SELECT ` + runColumns + ` FROM runs WHERE job = j.name ORDER BY id DESC LIMIT 1) r`
	latestRunsAllSQL = `WITH RECURSIVE jobs_with_runs (name) AS (
		(SELECT job FROM runs ORDER BY job LIMIT 1)
		UNION ALL
		SELECT (SELECT job FROM runs WHERE job > j.name ORDER BY job LIMIT 1)
		FROM jobs_with_runs j WHERE j.name IS NOT NULL
	)
	SELECT r.* FROM jobs_with_runs j
	CROSS JOIN LATERAL (SELECT ` + runColumns + ` FROM runs WHERE job = j.name ORDER BY id DESC LIMIT 1) r
	WHERE j.name IS NOT NULL`
)

func (s *Store) LatestRuns(ctx context.Context, jobs []string) (map[string]arbiter.Run, error) {
	latest := make(map[string]arbiter.Run)
	if jobs != nil && len(jobs) == 0 {
		return latest, nil
	}
	q, args := latestRunsAllSQL, []any(nil)
	if jobs != nil {
		q, args = latestRunsOfSQL, []any{jobs}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("latest runs: %w", interpretError(err))
	}
	runs, err := collect(nil, rows, scanRun)
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
// fixed is one step (Postgres turns it into an index scan with LIMIT 1). The first subquery
// repeats runs_fire's predicate so that the partial index serves it. GREATEST ignores NULLs: a
// job without missed records has only its fires. Jobs without scheduled runs are left out, and
// so are the runs of deleted jobs: there is nothing to catch up for them.
const lastFiresQuery = `
	SELECT j.name, greatest(f.fired, m.missed) FROM jobs j
	CROSS JOIN LATERAL (SELECT max(scheduled_at) AS fired FROM runs
		WHERE job = j.name AND trigger IN ('schedule', 'catchup')) f
	CROSS JOIN LATERAL (SELECT max(missed_until) AS missed FROM runs
		WHERE job = j.name AND missed_until IS NOT NULL) m
	WHERE f.fired IS NOT NULL`

func (s *Store) LastFires(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, lastFiresQuery)
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

// RecoverRuns locks the running runs (FOR UPDATE: a run another node finishes meanwhile is
// re-checked, and left out when it no longer runs), then marks them lost in one statement.
func (s *Store) RecoverRuns(ctx context.Context, p store.RunRecoverParams) ([]arbiter.Run, error) {
	var before []arbiter.Run
	err := s.write(ctx, func(tx *wtx) error {
		rows, err := tx.Query(ctx, `SELECT `+runColumns+` FROM runs
			WHERE state = 'running' AND ($1 = '' OR worker = $1) ORDER BY id FOR UPDATE`, p.Worker)
		if err != nil {
			return err
		}
		if before, err = collect(nil, rows, scanRun); err != nil || len(before) == 0 {
			return err
		}
		ids := make([]int64, len(before))
		for i, r := range before {
			ids[i] = r.ID
		}
		rows, err = tx.Query(ctx, `UPDATE runs SET state = 'lost', finished_at = $1, reason = $2 WHERE id = ANY ($3)
			RETURNING `+runColumns, ns(p.Now), p.Reason, ids)
		if err != nil {
			return err
		}
		lost, err := collect(nil, rows, scanRun)
		if err != nil {
			return err
		}
		// RETURNING has no order: the events follow the order of the ids, as they were read.
		byID := make(map[int64]arbiter.Run, len(lost))
		for _, r := range lost {
			byID[r.ID] = r
		}
		for _, r := range before {
			tx.runEvent(p.Now, byID[r.ID], "")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover runs: %w", interpretError(err))
	}
	return before, nil
}
