package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// jobColumns are the columns of a job, in the order jobArgs writes them (after name) and scanJob
// reads them.
const jobColumns = `name, schedule, timezone, command, shell, dir, env, timeout_ns, kill_grace_ns,
	overlap, catchup_ns, retries, retry_delay_ns, jitter_ns, paused, source, drifted, labels, created_at, updated_at`

// jobSelect reads jobColumns, with the labels of a job without any ('[]', most jobs) as NULL:
// the driver hands back NULL without copying out a string, where '[]' cost two allocations a
// row of a long list.
var jobSelect = strings.Replace(jobColumns, "labels", "nullif(labels, '[]')", 1)

func scanJob(sc scanner) (arbiter.Job, error) {
	// Scan's ...any moves every target to the heap. Held in one struct they are one allocation
	// a row instead of a dozen, which showed when listing 100,000 jobs.
	var row struct {
		j                           arbiter.Job
		command                     sql.NullString
		env, overlap                string
		labels                      sql.NullString
		timeout, grace              int64
		catchup, retryDelay, jitter int64
		created, updated            int64
		dest                        [20]any
	}
	j := &row.j
	row.dest = [...]any{&j.Name, &j.Schedule, &j.Timezone, &row.command, &j.Shell, &j.Dir, &row.env,
		&row.timeout, &row.grace, &row.overlap, &row.catchup, &j.Retries, &row.retryDelay, &row.jitter,
		&j.Paused, &j.Source, &j.Drifted, &row.labels, &row.created, &row.updated}
	err := sc.Scan(row.dest[:]...)
	if err != nil {
		return arbiter.Job{}, err
	}
	if row.command.Valid {
		if j.Command, err = decodeCommand(row.command.String); err != nil {
			return arbiter.Job{}, fmt.Errorf("job %q: decode command: %w", j.Name, err)
		}
	}
	if row.env != "{}" { // most jobs have none: skip the decoder
		if err := json.Unmarshal([]byte(row.env), &j.Env); err != nil {
			return arbiter.Job{}, fmt.Errorf("job %q: decode env: %w", j.Name, err)
		}
	}
	if len(j.Env) == 0 {
		j.Env = nil // one spelling of "no variables", whatever was stored
	}
	if row.labels.Valid {
		if j.Labels, err = decodeCommand(row.labels.String); err != nil {
			return arbiter.Job{}, fmt.Errorf("job %q: decode labels: %w", j.Name, err)
		}
		if len(j.Labels) == 0 {
			j.Labels = nil // as Normalize spells "no labels"
		}
	}
	j.Timeout, j.KillGrace = time.Duration(row.timeout), time.Duration(row.grace)
	j.Catchup, j.RetryDelay, j.Jitter = time.Duration(row.catchup), time.Duration(row.retryDelay), time.Duration(row.jitter)
	j.Overlap = arbiter.Overlap(row.overlap)
	j.CreatedAt, j.UpdatedAt = fromNS(row.created), fromNS(row.updated)
	return *j, nil
}

// decodeCommand decodes a command column, or another JSON array of strings (labels). Most are
// ["a","b"] with nothing escaped, which it cuts out of s itself: json.Unmarshal was a fifth of
// the time to read a page of jobs. Anything else, or anything it is unsure of, goes to
// json.Unmarshal, so the result is always the same.
func decodeCommand(s string) ([]string, error) {
	if inner, ok := strings.CutPrefix(s, `["`); ok {
		if inner, ok = strings.CutSuffix(inner, `"]`); ok && plainJSON(inner) {
			args := strings.Split(inner, `","`)
			// Each quote left in inner is then inside an element: not the plain form.
			if !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, `"`) }) {
				return args, nil
			}
		}
	}
	var args []string
	err := json.Unmarshal([]byte(s), &args)
	return args, err
}

// plainJSON says whether s has no escapes, control characters or invalid UTF-8: the bytes a
// JSON string holds as they are.
func plainJSON(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < ' ' || c == '\\':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// jobArgs encodes the fields of j that callers may set, in the order of jobColumns after name.
func jobArgs(j arbiter.Job) ([]any, error) {
	var command sql.NullString // NULL for shell jobs
	if len(j.Command) > 0 {
		b, err := marshalJSON(j.Command)
		if err != nil {
			return nil, err
		}
		command = sql.NullString{String: b, Valid: true}
	}
	env := "{}"
	if len(j.Env) > 0 {
		var err error
		if env, err = marshalJSON(j.Env); err != nil {
			return nil, err
		}
	}
	labels := "[]"
	if len(j.Labels) > 0 {
		var err error
		if labels, err = marshalJSON(j.Labels); err != nil {
			return nil, err
		}
	}
	return []any{j.Schedule, j.Timezone, command, j.Shell, j.Dir, env,
		int64(j.Timeout), int64(j.KillGrace), string(j.Overlap),
		int64(j.Catchup), j.Retries, int64(j.RetryDelay), int64(j.Jitter),
		j.Paused, j.Source, j.Drifted, labels}, nil
}

// marshalJSON is json.Marshal without HTML escaping, so that "a && b" stays readable to whoever
// opens the database with the sqlite3 shell.
func marshalJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// createJobSQL binds one parameter per column of jobColumns: the name, jobArgs, and the two
// timestamps.
var createJobSQL = `INSERT INTO jobs (` + jobColumns + `) VALUES (` + placeholders(strings.Count(jobColumns, ",")+1) + `)
	RETURNING ` + jobSelect

func (s *Store) createJob(ctx context.Context, tx *sql.Tx, j arbiter.Job, now time.Time, actor string) (arbiter.Job, error) {
	args, err := jobArgs(j)
	if err != nil {
		return arbiter.Job{}, err
	}
	args = append(append([]any{j.Name}, args...), ns(now), ns(now))
	job, err := scanJob(tx.StmtContext(ctx, s.ws.createJob).QueryRowContext(ctx, args...))
	if err != nil {
		return arbiter.Job{}, err
	}
	if err := s.event(ctx, tx, now, "job.created", job.Name, 0, actor, job.Schedule); err != nil {
		return arbiter.Job{}, err
	}
	if job.Paused {
		// The log says when a job was paused, so that `arbiter why` can tell: this one from birth.
		return job, s.event(ctx, tx, now, "job.paused", job.Name, 0, actor, "created paused")
	}
	return job, nil
}

var (
	jobPausedSQL = `SELECT paused FROM jobs WHERE name = ?`
	updateJobSQL = `UPDATE jobs SET schedule = ?, timezone = ?, command = ?, shell = ?, dir = ?, env = ?,
		timeout_ns = ?, kill_grace_ns = ?, overlap = ?,
		catchup_ns = ?, retries = ?, retry_delay_ns = ?, jitter_ns = ?,
		paused = ?, source = ?, drifted = ?, labels = ?, updated_at = ?
	WHERE name = ?
	RETURNING ` + jobSelect
)

func (s *Store) updateJob(ctx context.Context, tx *sql.Tx, j arbiter.Job, now time.Time, actor string) (arbiter.Job, error) {
	args, err := jobArgs(j)
	if err != nil {
		return arbiter.Job{}, err
	}
	var wasPaused bool
	if err := tx.StmtContext(ctx, s.ws.jobPaused).QueryRowContext(ctx, j.Name).Scan(&wasPaused); err != nil {
		return arbiter.Job{}, err
	}
	args = append(args, ns(now), j.Name)
	job, err := scanJob(tx.StmtContext(ctx, s.ws.updateJob).QueryRowContext(ctx, args...))
	if err != nil {
		return arbiter.Job{}, err
	}
	if err := s.event(ctx, tx, now, "job.updated", job.Name, 0, actor, job.Schedule); err != nil {
		return arbiter.Job{}, err
	}
	if job.Paused != wasPaused { // a pause or resume through an update (an apply) is one too
		kind := "job.resumed"
		if job.Paused {
			kind = "job.paused"
		}
		return job, s.event(ctx, tx, now, kind, job.Name, 0, actor, "")
	}
	return job, nil
}

const deleteJobSQL = `DELETE FROM jobs WHERE name = ?`

func (s *Store) deleteJob(ctx context.Context, tx *sql.Tx, name string, now time.Time, actor string) error {
	res, err := tx.StmtContext(ctx, s.ws.deleteJob).ExecContext(ctx, name)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return sql.ErrNoRows
	}
	return s.event(ctx, tx, now, "job.deleted", name, 0, actor, "")
}

func (s *Store) CreateJob(ctx context.Context, p store.JobCreateParams) (arbiter.Job, error) {
	var job arbiter.Job
	err := s.write(ctx, func(tx *sql.Tx) (err error) {
		job, err = s.createJob(ctx, tx, p.Job, p.Now, p.Actor)
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
	err := s.write(ctx, func(tx *sql.Tx) (err error) {
		job, err = s.updateJob(ctx, tx, p.Job, p.Now, p.Actor)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		job, err = scanJob(tx.QueryRowContext(ctx,
			`UPDATE jobs SET paused = ?, drifted = drifted OR ?, updated_at = ? WHERE name = ? AND paused <> ?
			RETURNING `+jobSelect, p.Paused, p.Drift, ns(p.Now), p.Name, p.Paused))
		if errors.Is(err, sql.ErrNoRows) {
			// Missing, or already as asked.
			job, err = scanJob(tx.QueryRowContext(ctx,
				`SELECT `+jobSelect+` FROM jobs WHERE name = ?`, p.Name))
			return err
		}
		if err != nil {
			return err
		}
		kind := "job.resumed"
		if p.Paused {
			kind = "job.paused"
		}
		return s.event(ctx, tx, p.Now, kind, job.Name, 0, p.Actor, "")
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		return s.deleteJob(ctx, tx, p.Name, p.Now, p.Actor)
	})
	if err != nil {
		return fmt.Errorf("delete job %q: %w", p.Name, interpretError(err))
	}
	return nil
}

// ApplyJobs is one transaction, so a failing job rolls back every other change of the apply.
func (s *Store) ApplyJobs(ctx context.Context, p store.JobApplyParams) ([]arbiter.Job, error) {
	var jobs []arbiter.Job
	var failed string
	err := s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		for _, j := range p.Create {
			failed = j.Name
			job, err := s.createJob(ctx, tx, j, p.Now, p.Actor)
			if err != nil {
				return err
			}
			jobs = append(jobs, job)
		}
		for _, j := range p.Update {
			failed = j.Name
			job, err := s.updateJob(ctx, tx, j, p.Now, p.Actor)
			if err != nil {
				return err
			}
			jobs = append(jobs, job)
		}
		for _, name := range p.Delete {
			failed = name
			if err := s.deleteJob(ctx, tx, name, p.Now, p.Actor); err != nil {
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

var getJobSQL = `SELECT ` + jobSelect + ` FROM jobs WHERE name = ?`

func (s *Store) GetJob(ctx context.Context, name string) (arbiter.Job, error) {
	job, err := scanJob(s.rs.getJob.QueryRowContext(ctx, name))
	if err != nil {
		return arbiter.Job{}, fmt.Errorf("get job %q: %w", name, interpretError(err))
	}
	return job, nil
}

func (s *Store) ListJobsPage(ctx context.Context, p store.JobPageParams) ([]arbiter.Job, error) {
	limit := clampLimit(p.Limit, 1000, 10_000)
	rows, err := s.rd.QueryContext(ctx, `SELECT `+jobSelect+` FROM jobs WHERE name > ? ORDER BY name LIMIT ?`,
		p.After, limit)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	// Sized for a full page: growing it by appending copied every job several times over.
	jobs, err := collectInto(make([]arbiter.Job, 0, limit), rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	return jobs, nil
}

func (s *Store) ListJobs(ctx context.Context) ([]arbiter.Job, error) {
	// One read transaction, so the count sizes the slice for exactly the rows that follow:
	// growing a slice of 100,000 jobs by appending copied each of them many times over.
	tx, err := s.rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+jobSelect+` FROM jobs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	jobs := make([]arbiter.Job, 0, n)
	jobs, err = collectInto(jobs, rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	return jobs, nil
}
