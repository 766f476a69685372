// Package api holds the wire types and routes of arbiter's control API: HTTP/1.1 with JSON
// bodies over the daemon's Unix socket, versioned under /v1.
//
//	GET    /v1/status                   Status
//	GET    /v1/version                  Version
//	GET    /v1/jobs                     JobList
//	POST   /v1/jobs                     JobSpec → 201 Job
//	GET    /v1/jobs/{name}              Job
//	PUT    /v1/jobs/{name}              JobSpec → Job (replaces the job's spec)
//	DELETE /v1/jobs/{name}              204 (run history is kept)
//	POST   /v1/jobs/{name}/pause        Job
//	POST   /v1/jobs/{name}/resume       Job
//	POST   /v1/jobs/{name}/trigger      202 Run
//	GET    /v1/jobs/{name}/why?at=RFC3339   Why: what happened (or will happen) to the fire at
//	                                    or after the time (default now)
//	POST   /v1/apply                    ApplyRequest → Plan: job files applied atomically
//	GET    /v1/secrets                  SecretList (names and sizes, never values)
//	PUT    /v1/secrets/{name}           SecretValue → 201 or 200 Secret
//	DELETE /v1/secrets/{name}?force=1   204; 409 while jobs reference it, unless force
//	POST   /v1/secrets/rotate-key       KeyRotation
//	GET    /v1/runs?job=&state=&limit=&before=   RunList (newest first)
//	GET    /v1/runs/{id}                Run
//	GET    /v1/runs/{id}/output?after=SEQ&follow=1   the output as text/plain, chunked; with
//	                                    follow it streams until the run ends
//	POST   /v1/runs/{id}/cancel         Run
//	GET    /v1/events?after=ID&job=&limit=&follow=1   Event per line (JSON lines), oldest
//	                                    first; with follow it streams each change as it commits
//
// Errors are {"error":{"code":"...","message":"..."}} with a fitting status.
package api

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
)

// Prefix is the version prefix of every route.
const Prefix = "/v1"

// MaxBodyBytes caps request bodies; larger ones are refused with 413.
const MaxBodyBytes = 1 << 20

// Error codes, each with one HTTP status.
const (
	CodeInvalid     = "invalid_argument" // 400
	CodeForbidden   = "forbidden"        // 403
	CodeNotFound    = "not_found"        // 404
	CodeMethod      = "method_not_allowed"
	CodeConflict    = "conflict"  // 409
	CodeTooLarge    = "too_large" // 413
	CodeUnsupported = "unsupported_media_type"
	CodeUnavailable = "unavailable" // 503: the daemon is shutting down
	CodeInternal    = "internal"    // 500
)

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// JobSpec is what a client sends to create or replace a job. Durations are Go duration strings
// ("30s", "1h30m").
type JobSpec struct {
	Name      string            `json:"name"`
	Schedule  string            `json:"schedule"`
	Timezone  string            `json:"timezone,omitempty"`
	Command   []string          `json:"command,omitempty"`
	Shell     string            `json:"shell,omitempty"`
	Dir       string            `json:"dir,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Labels    []string          `json:"labels,omitempty"` // node labels it requires: only nodes with all of them run it
	Timeout   string            `json:"timeout,omitempty"`
	KillGrace string            `json:"kill_grace,omitempty"`
	Overlap   string            `json:"overlap,omitempty"`
	// Catchup is a duration; "" means the default (5m) and "0" turns catch-up off.
	Catchup    string `json:"catchup,omitempty"`
	Retries    int    `json:"retries,omitempty"`
	RetryDelay string `json:"retry_delay,omitempty"`
	Jitter     string `json:"jitter,omitempty"`
	Paused     bool   `json:"paused,omitempty"`
	// Source is the job file a job comes from; empty for jobs made from the CLI.
	Source string `json:"source,omitempty"`
}

// Job is a job as the daemon reports it.
type Job struct {
	Name       string            `json:"name"`
	Schedule   string            `json:"schedule"`
	Timezone   string            `json:"timezone"`
	Command    []string          `json:"command,omitempty"`
	Shell      string            `json:"shell,omitempty"`
	Dir        string            `json:"dir,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Labels     []string          `json:"labels,omitempty"` // the node labels it requires, sorted
	Timeout    string            `json:"timeout,omitempty"`
	KillGrace  string            `json:"kill_grace"`
	Overlap    string            `json:"overlap"`
	Catchup    string            `json:"catchup"`
	Retries    int               `json:"retries"`
	RetryDelay string            `json:"retry_delay"`
	Jitter     string            `json:"jitter,omitempty"`
	Paused     bool              `json:"paused"`
	Source     string            `json:"source"`
	Drifted    bool              `json:"drifted,omitempty"` // changed with --force away from its file
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	NextRun    *time.Time        `json:"next_run"` // null when paused or never again
	LastRun    *RunRef           `json:"last_run"` // null before the first run
}

// Event is one entry of the event log: a change to a job or a run, or a secret's use. GET
// /v1/events writes them one per line.
type Event struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // job.created … job.resumed, run.<state>, secret.*
	Job    string    `json:"job,omitempty"`
	RunID  int64     `json:"run_id,omitempty"`
	Actor  string    `json:"actor"`
	Detail string    `json:"detail,omitempty"`
}

// FromEvent converts an event of the log to its API form.
func FromEvent(e arbiter.Event) Event {
	return Event{ID: e.ID, At: e.At, Kind: e.Kind, Job: e.Job, RunID: e.RunID, Actor: e.Actor, Detail: e.Detail}
}

// RunRef is a short reference to a run.
type RunRef struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	ExitCode    *int       `json:"exit_code"`
}

type JobList struct {
	Jobs []Job `json:"jobs"`
}

// RunsQuery selects runs for GET /v1/runs. Zero fields do not filter.
type RunsQuery struct {
	Job    string
	States []arbiter.RunState // any of these
	Limit  int                // at most this many; 0 leaves it to the daemon
	Before int64              // only runs with a smaller id: the cursor for the next page
}

// Values is the query string of GET /v1/runs.
func (q RunsQuery) Values() url.Values {
	v := url.Values{}
	if q.Job != "" {
		v.Set("job", q.Job)
	}
	if len(q.States) > 0 {
		states := make([]string, len(q.States))
		for i, s := range q.States {
			states[i] = string(s)
		}
		v.Set("state", strings.Join(states, ","))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	return v
}

// Run is a run as the daemon reports it.
type Run struct {
	ID          int64      `json:"id"`
	Job         string     `json:"job"`
	State       string     `json:"state"`
	Trigger     string     `json:"trigger"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	ExitCode    *int       `json:"exit_code"`
	Signal      string     `json:"signal,omitempty"`
	Attempt     int        `json:"attempt"`
	Reason      string     `json:"reason,omitempty"`
	PID         int        `json:"pid,omitempty"`
	Worker      string     `json:"worker,omitempty"`
	// CancelRequested is the reason another node gave for cancelling this running run, which
	// the node running it is stopping.
	CancelRequested string     `json:"cancel_requested,omitempty"`
	OutputBytes     int64      `json:"output_bytes"`
	OutputDropped   int64      `json:"output_dropped"`
	RetryOf         int64      `json:"retry_of,omitempty"`
	NotBefore       *time.Time `json:"not_before,omitempty"`
	Jitter          string     `json:"jitter,omitempty"`
	MissedCount     int        `json:"missed_count,omitempty"`
	MissedUntil     *time.Time `json:"missed_until,omitempty"`
}

type RunList struct {
	Runs []Run `json:"runs"`
}

// Why answers GET /v1/jobs/{name}/why: the fire at or after At, and one paragraph on what
// happened to it or will happen to it.
type Why struct {
	Job         string     `json:"job"`
	At          time.Time  `json:"at"`
	Fire        *time.Time `json:"fire"` // null when the schedule has no fire at or after At
	Explanation string     `json:"explanation"`
	Runs        []Run      `json:"runs"` // the runs and records of that fire
}

// ApplyRequest is the body of POST /v1/apply: the jobs of a set of job files.
type ApplyRequest struct {
	Jobs []JobSpec `json:"jobs"` // each with its Source
	// Roots are the files and directories applied (absolute); with Prune, file-managed jobs
	// from under them that are no longer in Jobs are deleted. Jobs made from the CLI never are.
	Roots  []string `json:"roots"`
	Prune  bool     `json:"prune"`
	DryRun bool     `json:"dry_run"`
}

// Plan is what an apply does, or did when Applied.
type Plan struct {
	Create    []PlanJob `json:"create"`
	Update    []PlanJob `json:"update"`
	Delete    []PlanJob `json:"delete"`
	Unchanged []string  `json:"unchanged"`
	Applied   bool      `json:"applied"`
}

// PlanJob is one job of a plan; Changes lists an update's fields.
type PlanJob struct {
	Name    string        `json:"name"`
	Source  string        `json:"source"`
	Changes []FieldChange `json:"changes,omitempty"`
}

type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Changed reports whether the plan changes anything.
func (p Plan) Changed() bool { return len(p.Create)+len(p.Update)+len(p.Delete) > 0 }

// SecretValue is the body that sets a secret: the only place a value crosses the API, and only
// inwards.
type SecretValue struct {
	Value string `json:"value"`
}

// Secret describes a secret without its value.
type Secret struct {
	Name      string    `json:"name"`
	Size      int       `json:"size"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UsedBy    []string  `json:"used_by"` // the jobs whose environment references it
}

type SecretList struct {
	Secrets []Secret `json:"secrets"`
}

// KeyRotation answers POST /v1/secrets/rotate-key.
type KeyRotation struct {
	Secrets int    `json:"secrets"` // how many were re-encrypted
	KeyID   string `json:"key_id"`  // the new key's id
	Backup  string `json:"backup"`  // the old key file, kept until the operator removes it
}

// Status answers GET /v1/status.
type Status struct {
	Version   string         `json:"version"`
	PID       int            `json:"pid"`
	StartedAt time.Time      `json:"started_at"`
	Uptime    string         `json:"uptime"`
	DataDir   string         `json:"data_dir"`
	Store     string         `json:"store"`
	Socket    string         `json:"socket"`
	Jobs      int            `json:"jobs"`
	Paused    int            `json:"paused"`
	Running   int            `json:"running"`
	Queued    int            `json:"queued"`
	Runs      map[string]int `json:"runs"` // count of runs by state
	// LastEventID is the newest event when the status was read: following the event log from
	// it (GET /v1/events?after=) misses nothing that changed after this answer.
	LastEventID int64 `json:"last_event_id"`
	// Node is the name of the answering daemon, Leader whether it fires the schedules (a
	// daemon on SQLite always does; in a cluster on Postgres one node at a time).
	Node   string `json:"node"`
	Leader bool   `json:"leader"`
}

// Node is one daemon of a cluster as it last reported itself (GET /v1/nodes).
type Node struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	Roles      []string  `json:"roles"`
	Labels     []string  `json:"labels,omitempty"`
	Leader     bool      `json:"leader"`
	Live       bool      `json:"live"` // its lease runs: it sent a heartbeat lately
	Running    int       `json:"running"`
	Version    string    `json:"version"`
	KeyID      string    `json:"key_id,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	SeenAt     time.Time `json:"seen_at"`
	LeaseUntil time.Time `json:"lease_until"`
}

type NodeList struct {
	Nodes []Node `json:"nodes"`
}

// FromNode converts a node for the wire, live or not at now.
func FromNode(n arbiter.Node, now time.Time) Node {
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = string(r)
	}
	return Node{
		Name: n.Name, ID: n.ID, Roles: roles, Labels: n.Labels, Leader: n.Leader && n.Live(now),
		Live: n.Live(now), Running: n.Running, Version: n.Version, KeyID: n.KeyID,
		StartedAt: n.StartedAt, SeenAt: n.SeenAt, LeaseUntil: n.LeaseUntil,
	}
}

// Version answers GET /v1/version.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
}

// FromJob converts a job for the wire; next and last may be zero.
func FromJob(j arbiter.Job, next time.Time, last *arbiter.Run) Job {
	out := Job{
		Name:       j.Name,
		Schedule:   j.Schedule,
		Timezone:   j.Timezone,
		Command:    j.Command,
		Shell:      j.Shell,
		Dir:        j.Dir,
		Env:        j.Env,
		Labels:     j.Labels,
		KillGrace:  j.KillGrace.String(),
		Overlap:    string(j.Overlap),
		Catchup:    j.Catchup.String(),
		Retries:    j.Retries,
		RetryDelay: j.RetryDelay.String(),
		Paused:     j.Paused,
		Source:     j.Source,
		Drifted:    j.Drifted,
		CreatedAt:  j.CreatedAt,
		UpdatedAt:  j.UpdatedAt,
		NextRun:    timePtr(next),
	}
	if j.Timeout > 0 {
		out.Timeout = j.Timeout.String()
	}
	if j.Jitter > 0 {
		out.Jitter = j.Jitter.String()
	}
	if last != nil {
		out.LastRun = &RunRef{
			ID:          last.ID,
			State:       string(last.State),
			ScheduledAt: last.ScheduledAt,
			StartedAt:   timePtr(last.StartedAt),
			FinishedAt:  timePtr(last.FinishedAt),
			ExitCode:    last.ExitCode,
		}
	}
	return out
}

// FromRun converts a run for the wire.
func FromRun(r arbiter.Run) Run {
	return Run{
		ID:              r.ID,
		Job:             r.Job,
		State:           string(r.State),
		Trigger:         string(r.Trigger),
		ScheduledAt:     r.ScheduledAt,
		StartedAt:       timePtr(r.StartedAt),
		FinishedAt:      timePtr(r.FinishedAt),
		ExitCode:        r.ExitCode,
		Signal:          r.Signal,
		Attempt:         r.Attempt,
		Reason:          r.Reason,
		PID:             r.PID,
		Worker:          r.Worker,
		CancelRequested: r.CancelRequested,
		OutputBytes:     r.OutputBytes,
		OutputDropped:   r.OutputDropped,
		RetryOf:         r.RetryOf,
		NotBefore:       timePtr(r.NotBefore),
		Jitter:          durationText(r.Jitter),
		MissedCount:     r.MissedCount,
		MissedUntil:     timePtr(r.MissedUntil),
	}
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// ToJob converts a spec into a job, parsing its durations. The result is not yet validated.
func (s JobSpec) ToJob() (arbiter.Job, error) {
	j := arbiter.Job{
		Name:     s.Name,
		Schedule: s.Schedule,
		Timezone: s.Timezone,
		Command:  s.Command,
		Shell:    s.Shell,
		Dir:      s.Dir,
		Env:      s.Env,
		Labels:   s.Labels,
		Overlap:  arbiter.Overlap(s.Overlap),
		Retries:  s.Retries,
		Paused:   s.Paused,
		Source:   s.Source,
		Catchup:  arbiter.DefaultCatchup,
	}
	var err error
	if j.Timeout, err = parseDuration("timeout", s.Timeout); err != nil {
		return arbiter.Job{}, err
	}
	if j.KillGrace, err = parseDuration("kill_grace", s.KillGrace); err != nil {
		return arbiter.Job{}, err
	}
	if s.Catchup != "" {
		// "0" is the documented way to turn catch-up off; ParseDuration accepts it.
		if j.Catchup, err = parseDuration("catchup", s.Catchup); err != nil {
			return arbiter.Job{}, err
		}
	}
	if j.RetryDelay, err = parseDuration("retry_delay", s.RetryDelay); err != nil {
		return arbiter.Job{}, err
	}
	if j.Jitter, err = parseDuration("jitter", s.Jitter); err != nil {
		return arbiter.Job{}, err
	}
	return j, nil
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, arbiter.Invalidf(field, "%q is not a duration; use a form such as 30s, 5m or 1h30m", s)
	}
	return d, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
