// Package store declares the operations the daemon needs from durable storage. Each operation is
// atomic. Every implementation (store/sqlitestore, later store/pgstore) must pass the one
// conformance suite in store/storetest, and maps its driver's errors onto arbiter.ErrNotFound,
// arbiter.ErrConflict and arbiter.ErrInvalid.
//
// Params carry an explicit Now so callers (and tests) own the clock, and an Actor ("uid:1000",
// or "daemon") that the operation records in the event log in the same transaction.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/arbiterd/arbiter"
)

// Store is the seam between the daemon and its database.
type Store interface {
	// CreateJob inserts a job; arbiter.ErrConflict when the name is taken.
	CreateJob(ctx context.Context, p JobCreateParams) (arbiter.Job, error)
	// UpdateJob replaces every field of an existing job but its name and CreatedAt.
	UpdateJob(ctx context.Context, p JobUpdateParams) (arbiter.Job, error)
	// SetJobPaused pauses or resumes a job.
	SetJobPaused(ctx context.Context, p JobSetPausedParams) (arbiter.Job, error)
	// DeleteJob removes a job; its runs and their output are kept.
	DeleteJob(ctx context.Context, p JobDeleteParams) error
	// ApplyJobs creates, replaces and deletes jobs in one transaction: all of it or none
	// (arbiter.ErrConflict for a create whose name is taken, arbiter.ErrNotFound for an update
	// or delete of a missing job). It returns the jobs as stored, creates then updates.
	ApplyJobs(ctx context.Context, p JobApplyParams) ([]arbiter.Job, error)
	GetJob(ctx context.Context, name string) (arbiter.Job, error)
	// ListJobs returns every job, ordered by name.
	ListJobs(ctx context.Context) ([]arbiter.Job, error)
	// ListJobsPage returns up to Limit jobs whose names sort after After, ordered by name: the
	// full list a page at a time, so it can be sent while the rest is read. Pages are separate
	// reads; a job created or deleted in between may be in the list or not.
	ListJobsPage(ctx context.Context, p JobPageParams) ([]arbiter.Job, error)
	// ListJobSchedules returns what planning needs of every job, ordered by name: a daemon
	// starting with 100,000 jobs plans them all without loading them whole.
	ListJobSchedules(ctx context.Context) ([]JobSchedule, error)

	// InsertFire materializes a scheduled fire (trigger schedule or catchup) exactly once per job
	// and fire time. When the fire already exists, it returns the existing run and false.
	// The job must exist. A fire with a Term is refused with ErrNotLeader, writing nothing,
	// once that term no longer holds the scheduler lock.
	InsertFire(ctx context.Context, p FireInsertParams) (run arbiter.Run, inserted bool, err error)
	// InsertRun creates a run that is not a scheduled fire (manual, retry). The job must exist.
	InsertRun(ctx context.Context, p RunInsertParams) (arbiter.Run, error)
	// StartRun moves a queued run to running; arbiter.ErrConflict when it is not queued.
	StartRun(ctx context.Context, p RunStartParams) (arbiter.Run, error)
	// FinishRun moves a queued or running run to a terminal state; arbiter.ErrConflict when the
	// run is already terminal.
	FinishRun(ctx context.Context, p RunFinishParams) (arbiter.Run, error)
	GetRun(ctx context.Context, id int64) (arbiter.Run, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, p RunListParams) ([]arbiter.Run, error)
	// LatestRuns returns the newest run of each named job (all jobs with runs when jobs is nil).
	LatestRuns(ctx context.Context, jobs []string) (map[string]arbiter.Run, error)
	// LastFires returns, per job, the latest fire time accounted for by a scheduled fire, a
	// catch-up run or a missed record (its MissedUntil): where catch-up resumes after a restart.
	LastFires(ctx context.Context) (map[string]time.Time, error)
	// RecoverRuns marks every run still running (a previous daemon died under it) as lost and
	// returns them as they were before, so the caller can clean up after their processes. With
	// Worker set, only that node's runs.
	RecoverRuns(ctx context.Context, p RunRecoverParams) ([]arbiter.Run, error)
	// ClaimRuns moves up to Limit queued runs to running on Worker, oldest first, and returns
	// them as claimed (StartedAt Now, PID 0: StartRun records the PID once the process runs).
	// It claims only runs that are due (NotBefore <= Now), of jobs whose labels are all among
	// Labels, and never a run whose job runs one at a time (overlap queue or replace) while an
	// older run of the job is queued or running. Claimers on several nodes never claim one run
	// twice. Runs of deleted jobs are claimed like any other, so a worker can end them.
	ClaimRuns(ctx context.Context, p RunClaimParams) ([]arbiter.Run, error)
	// CancelRun cancels a queued run at once (it becomes cancelled) and asks the node running a
	// running one to stop it (its CancelRequested is set; that node records the end). It
	// returns the run as it is after; arbiter.ErrConflict when the run has already ended.
	CancelRun(ctx context.Context, p RunCancelParams) (arbiter.Run, error)

	// AppendOutput stores one chunk of a run's output and adds its size to the run's
	// OutputBytes. arbiter.ErrConflict when the seq is already stored.
	AppendOutput(ctx context.Context, p OutputAppendParams) error
	// DropOutput deletes the chunks with FromSeq <= seq <= ThroughSeq and adds Bytes to the run's
	// OutputDropped, in one transaction. Bytes counts everything dropped in that range, including
	// bytes the writer discarded without ever appending them (those are added to OutputBytes, so
	// OutputBytes stays the total the run wrote); arbiter.ErrInvalid when Bytes is less than what
	// the range holds.
	DropOutput(ctx context.Context, p OutputDropParams) error
	// ReadOutput returns up to Limit chunks with seq > AfterSeq, in seq order.
	ReadOutput(ctx context.Context, p OutputReadParams) ([]arbiter.OutputChunk, error)

	// PutSecret creates or replaces a secret's ciphertext; created reports which.
	PutSecret(ctx context.Context, p SecretPutParams) (created bool, err error)
	// GetSecret returns one secret; arbiter.ErrNotFound when it does not exist.
	GetSecret(ctx context.Context, name string) (arbiter.Secret, error)
	// ListSecrets returns every secret, ordered by name.
	ListSecrets(ctx context.Context) ([]arbiter.Secret, error)
	// DeleteSecret removes a secret; arbiter.ErrNotFound when it does not exist.
	DeleteSecret(ctx context.Context, p SecretDeleteParams) error
	// ReplaceSecrets re-encrypts every secret in one transaction (key rotation): it writes the
	// given ciphertexts, which must cover exactly the stored secrets (arbiter.ErrConflict
	// otherwise, and nothing changes).
	ReplaceSecrets(ctx context.Context, p SecretReplaceParams) error

	// AppendEvent records an event that no other operation records (a secret read by a run).
	AppendEvent(ctx context.Context, e arbiter.Event) error
	// ListEvents returns events with id > AfterID, oldest first.
	ListEvents(ctx context.Context, p EventListParams) ([]arbiter.Event, error)
	// Counts summarizes the store for the status command.
	Counts(ctx context.Context) (Counts, error)

	// HeartbeatNode records a node as it is now and extends its lease; the first heartbeat of a
	// name registers it. arbiter.ErrConflict when another node (another ID) holds the name
	// with a lease that has not run out.
	HeartbeatNode(ctx context.Context, p NodeHeartbeatParams) error
	// ListNodes returns every node that ever sent a heartbeat, ordered by name.
	ListNodes(ctx context.Context) ([]arbiter.Node, error)

	Close() error
}

type JobPageParams struct {
	After string // "" for the first page
	Limit int    // 0 for the store's default of 1000; at most 10,000
}

// JobSchedule is the part of a job that decides when it fires.
type JobSchedule struct {
	Name      string
	Schedule  string
	Timezone  string
	Catchup   time.Duration
	Paused    bool
	UpdatedAt time.Time
}

type JobCreateParams struct {
	Job   arbiter.Job // validated and normalized by the caller
	Now   time.Time
	Actor string
}

type JobUpdateParams struct {
	Job   arbiter.Job
	Now   time.Time
	Actor string
}

type JobSetPausedParams struct {
	Name   string
	Paused bool
	Drift  bool // also mark the job as drifted from its job file
	Now    time.Time
	Actor  string
}

type JobApplyParams struct {
	Create []arbiter.Job
	Update []arbiter.Job // every field but the name and CreatedAt is replaced
	Delete []string
	Now    time.Time
	Actor  string
}

type JobDeleteParams struct {
	Name  string
	Now   time.Time
	Actor string
}

type FireInsertParams struct {
	Job         string
	ScheduledAt time.Time
	Trigger     arbiter.Trigger  // TriggerSchedule or TriggerCatchup
	State       arbiter.RunState // StateQueued, or StateSkipped / StateMissed with a Reason
	Reason      string
	NotBefore   time.Time     // queued runs: not started before this (jitter)
	Jitter      time.Duration // the random delay given to the fire
	MissedCount int           // StateMissed: how many fires the record stands for
	MissedUntil time.Time     // StateMissed: the last of them
	Now         time.Time
	// Term is the leader's term of the scheduler lock (a cluster; see pgstore.SchedulerLock):
	// the fire is recorded only if this term still holds the lock when it is inserted, so a
	// leader that froze after deciding to fire, and resumed after another node took over,
	// records nothing the new leader may have accounted for already. "" records the fire
	// unfenced: a single daemon, which always leads (sqlitestore ignores the field).
	Term string
}

// ErrNotLeader is InsertFire's answer to a fire whose Term no longer holds the scheduler lock:
// another node may lead. It wraps arbiter.ErrConflict, so that callers who know only the
// shared sentinels take it as the store's answer, not to be retried; the daemon tells it apart
// with errors.Is, to end its term at once.
var ErrNotLeader = fmt.Errorf("%w: not the leader: the scheduler lock's term has ended", arbiter.ErrConflict)

type RunInsertParams struct {
	Job         string
	Trigger     arbiter.Trigger // TriggerManual or TriggerRetry
	ScheduledAt time.Time       // retries keep the first attempt's
	Attempt     int             // 0 means 1
	RetryOf     int64           // retries: the first attempt's id
	NotBefore   time.Time       // retries: when the backoff ends
	Now         time.Time
	Actor       string
}

type RunStartParams struct {
	ID     int64
	PID    int
	Worker string
	Now    time.Time
}

type RunFinishParams struct {
	ID       int64
	State    arbiter.RunState // a terminal state
	ExitCode *int
	Signal   string
	Reason   string
	Now      time.Time
	Actor    string
}

type RunListParams struct {
	Job           string             // "" for every job
	Worker        string             // "" for every node
	States        []arbiter.RunState // nil for every state
	ScheduledFrom time.Time          // zero, or only runs with ScheduledAt >= this
	ScheduledTo   time.Time          // zero, or only runs with ScheduledAt <= this
	BeforeID      int64              // 0 for the newest
	Limit         int                // 0 for the store's default of 50
}

type RunRecoverParams struct {
	Worker string // "" for every node's runs
	Reason string
	Now    time.Time
}

type RunClaimParams struct {
	Worker string
	Labels []string // the worker's labels, sorted
	Limit  int      // at least 1
	Now    time.Time
}

type RunCancelParams struct {
	ID     int64
	Reason string // "cancelled by uid:1000", "replaced by run 42"
	Now    time.Time
	Actor  string
}

type NodeHeartbeatParams struct {
	Node arbiter.Node // SeenAt and LeaseUntil included
}

type OutputAppendParams struct {
	RunID int64
	Seq   int64
	Data  []byte
	Now   time.Time
}

type OutputDropParams struct {
	RunID      int64
	FromSeq    int64
	ThroughSeq int64
	Bytes      int64
}

type OutputReadParams struct {
	RunID    int64
	AfterSeq int64
	Limit    int // 0 for the store's default of 1000
}

type EventListParams struct {
	AfterID int64
	Job     string // "" for every job
	Limit   int    // 0 for the store's default of 1000
	Latest  bool   // the newest Limit events rather than the oldest (still returned oldest first)
}

// Counts is a summary of the store.
type Counts struct {
	Jobs   int
	Paused int
	Runs   map[arbiter.RunState]int
}

type SecretPutParams struct {
	Secret arbiter.Secret // Name, KeyID, Nonce, Ciphertext, Size
	Now    time.Time
	Actor  string
}

type SecretDeleteParams struct {
	Name  string
	Now   time.Time
	Actor string
}

type SecretReplaceParams struct {
	Secrets []arbiter.Secret // every stored secret, re-encrypted under one new key
	Now     time.Time
	Actor   string
}
