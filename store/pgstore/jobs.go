package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const jobColumns = `name, schedule, timezone, command, shell, dir, env, timeout_ns, kill_grace_ns,
	overlap, catchup_ns, retries, retry_delay_ns, jitter_ns, paused, source, drifted, labels, created_at, updated_at`

func scanJob(row pgx.Row) (arbiter.Job, error) {
	var (
		j                           arbiter.Job
		overlap                     string
		timeout, grace              int64
		catchup, retryDelay, jitter int64
		created, updated            int64
	)
	err := row.Scan(&j.Name, &j.Schedule, &j.Timezone, &j.Command, &j.Shell, &j.Dir, &j.Env,
		&timeout, &grace, &overlap, &catchup, &j.Retries, &retryDelay, &jitter,
		&j.Paused, &j.Source, &j.Drifted, &j.Labels, &created, &updated)
	if err != nil {
		return arbiter.Job{}, err
	}
	if len(j.Env) == 0 {
		j.Env = nil // one spelling of "no variables", whatever was stored
	}
	if len(j.Labels) == 0 {
		j.Labels = nil // as Normalize spells "no labels"
	}
	j.Timeout, j.KillGrace = time.Duration(timeout), time.Duration(grace)
	j.Catchup, j.RetryDelay, j.Jitter = time.Duration(catchup), time.Duration(retryDelay), time.Duration(jitter)
	j.Overlap = arbiter.Overlap(overlap)
	j.CreatedAt, j.UpdatedAt = fromNS(created), fromNS(updated)
	return j, nil
}

// jobArgs encodes the fields of j that callers may set, in the order of jobColumns after name.
func jobArgs(j arbiter.Job) []any {
	var command any // NULL for shell jobs
	if len(j.Command) > 0 {
		command = j.Command
	}
	env := j.Env
	if env == nil {
		env = map[string]string{} // '{}', not the JSON null a nil map encodes to
	}
	labels := j.Labels
	if labels == nil {
		labels = []string{} // '{}': the column is NOT NULL
	}
	return []any{j.Schedule, j.Timezone, command, j.Shell, j.Dir, env,
		int64(j.Timeout), int64(j.KillGrace), string(j.Overlap),
		int64(j.Catchup), j.Retries, int64(j.RetryDelay), int64(j.Jitter),
		j.Paused, j.Source, j.Drifted, labels}
}

const createJobSQL = `INSERT INTO jobs (` + jobColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
	RETURNING ` + jobColumns

func (w *wtx) createJob(ctx context.Context, j arbiter.Job, now time.Time, actor string) (arbiter.Job, error) {
	args := append(append([]any{j.Name}, jobArgs(j)...), ns(now), ns(now))
	job, err := scanJob(w.QueryRow(ctx, createJobSQL, args...))
	if err != nil {
		return arbiter.Job{}, err
	}
	w.event(now, "job.created", job.Name, 0, actor, job.Schedule)
	if job.Paused {
		// The log says when a job was paused, so that `arbiter why` can tell: this one from birth.
		w.event(now, "job.paused", job.Name, 0, actor, "created paused")
	}
	return job, nil
}

const updateJobSQL = `UPDATE jobs SET schedule = $1, timezone = $2, command = $3, shell = $4, dir = $5, env = $6,
		timeout_ns = $7, kill_grace_ns = $8, overlap = $9,
		catchup_ns = $10, retries = $11, retry_delay_ns = $12, jitter_ns = $13,
		paused = $14, source = $15, drifted = $16, labels = $17, updated_at = $18
	WHERE name = $19
	RETURNING ` + jobColumns

func (w *wtx) updateJob(ctx context.Context, j arbiter.Job, now time.Time, actor string) (arbiter.Job, error) {
	// FOR UPDATE: the job stays as read until the update, whatever other nodes do.
	var wasPaused bool
	if err := w.QueryRow(ctx, `SELECT paused FROM jobs WHERE name = $1 FOR UPDATE`, j.Name).Scan(&wasPaused); err != nil {
		return arbiter.Job{}, err
	}
	args := append(jobArgs(j), ns(now), j.Name)
	job, err := scanJob(w.QueryRow(ctx, updateJobSQL, args...))
	if err != nil {
		return arbiter.Job{}, err
	}
	w.event(now, "job.updated", job.Name, 0, actor, job.Schedule)
	if job.Paused != wasPaused { // a pause or resume through an update (an apply) is one too
		kind := "job.resumed"
		if job.Paused {
			kind = "job.paused"
		}
		w.event(now, kind, job.Name, 0, actor, "")
	}
	return job, nil
}

func (w *wtx) deleteJob(ctx context.Context, name string, now time.Time, actor string) error {
	tag, err := w.Exec(ctx, `DELETE FROM jobs WHERE name = $1`, name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	w.event(now, "job.deleted", name, 0, actor, "")
	return nil
}

func (s *Store) CreateJob(ctx context.Context, p store.JobCreateParams) (arbiter.Job, error) {
	var job arbiter.Job
	err := s.write(ctx, func(tx *wtx) (err error) {
		job, err = tx.createJob(ctx, p.Job, p.Now, p.Actor)
		return err
	})
	if err = interpretError(err); errors.Is(err, arbiter.ErrConflict) {
		return arbiter.Job{}, fmt.Errorf("create job %q: %w: the name is taken", p.Job.Name, arbiter.ErrConflict)
	} else if err != nil {
		return arbiter.Job{}, fmt.Errorf("create job %q: %w", p.Job.Name, err)
	}
	return job, nil
}

func (s *Store) UpdateJob(ctx context.Context, p store.JobUpdateParams) (arbiter.Job, error) {
	var job arbiter.Job
	err := s.write(ctx, func(tx *wtx) (err error) {
		job, err = tx.updateJob(ctx, p.Job, p.Now, p.Actor)
		return err
	})
	if err != nil {
		return arbiter.Job{}, fmt.Errorf("update job %q: %w", p.Job.Name, interpretError(err))
	}
	return job, nil
}

// SetJobPaused records a change only when there is one: pausing a paused job returns it
// untouched and writes no event.
func (s *Store) SetJobPaused(ctx context.Context, p store.JobSetPausedParams) (arbiter.Job, error) {
	var job arbiter.Job
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		job, err = scanJob(tx.QueryRow(ctx,
			`UPDATE jobs SET paused = $1, drifted = drifted OR $2, updated_at = $3 WHERE name = $4 AND paused <> $1
			RETURNING `+jobColumns, p.Paused, p.Drift, ns(p.Now), p.Name))
		if errors.Is(err, pgx.ErrNoRows) {
			// Missing, or already as asked.
			job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = $1`, p.Name))
			return err
		}
		if err != nil {
			return err
		}
		kind := "job.resumed"
		if p.Paused {
			kind = "job.paused"
		}
		tx.event(p.Now, kind, job.Name, 0, p.Actor, "")
		return nil
	})
	if err != nil {
		verb := "resume"
		if p.Paused {
			verb = "pause"
		}
		return arbiter.Job{}, fmt.Errorf("%s job %q: %w", verb, p.Name, interpretError(err))
	}
	return job, nil
}

// DeleteJob removes the job row only; runs and their output stay for the history.
func (s *Store) DeleteJob(ctx context.Context, p store.JobDeleteParams) error {
	err := s.write(ctx, func(tx *wtx) error {
		return tx.deleteJob(ctx, p.Name, p.Now, p.Actor)
	})
	if err != nil {
		return fmt.Errorf("delete job %q: %w", p.Name, interpretError(err))
	}
	return nil
}

// ApplyJobs is one transaction, so a failing job rolls back every other change of the apply.
func (s *Store) ApplyJobs(ctx context.Context, p store.JobApplyParams) ([]arbiter.Job, error) {
	var (
		jobs   []arbiter.Job
		failed string
	)
	err := s.write(ctx, func(tx *wtx) error {
		jobs = jobs[:0]
		for _, j := range p.Create {
			failed = j.Name
			job, err := tx.createJob(ctx, j, p.Now, p.Actor)
			if err != nil {
				return err
			}
			jobs = append(jobs, job)
		}
		for _, j := range p.Update {
			failed = j.Name
			job, err := tx.updateJob(ctx, j, p.Now, p.Actor)
			if err != nil {
				return err
			}
			jobs = append(jobs, job)
		}
		for _, name := range p.Delete {
			failed = name
			if err := tx.deleteJob(ctx, name, p.Now, p.Actor); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply jobs: job %q: %w", failed, interpretError(err))
	}
	return jobs, nil
}

func (s *Store) GetJob(ctx context.Context, name string) (arbiter.Job, error) {
	job, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = $1`, name))
	if err != nil {
		return arbiter.Job{}, fmt.Errorf("get job %q: %w", name, interpretError(err))
	}
	return job, nil
}

func (s *Store) ListJobsPage(ctx context.Context, p store.JobPageParams) ([]arbiter.Job, error) {
	limit := clampLimit(p.Limit, 1000, 10_000)
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name > $1 ORDER BY name LIMIT $2`, p.After, limit)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	jobs, err := collect(make([]arbiter.Job, 0, limit), rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	return jobs, nil
}

func (s *Store) ListJobs(ctx context.Context) ([]arbiter.Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	jobs, err := collect(nil, rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	return jobs, nil
}

func (s *Store) ListJobSchedules(ctx context.Context) ([]store.JobSchedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, schedule, timezone, catchup_ns, paused, updated_at FROM jobs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list job schedules: %w", interpretError(err))
	}
	out, err := collect(nil, rows, func(row pgx.Row) (store.JobSchedule, error) {
		var (
			js               store.JobSchedule
			catchup, updated int64
		)
		err := row.Scan(&js.Name, &js.Schedule, &js.Timezone, &catchup, &js.Paused, &updated)
		js.Catchup, js.UpdatedAt = time.Duration(catchup), fromNS(updated)
		return js, err
	})
	if err != nil {
		return nil, fmt.Errorf("list job schedules: %w", interpretError(err))
	}
	return out, nil
}
