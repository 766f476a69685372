package arbiter

import "time"

// RunState is where a run is in its life; see the package documentation for the diagram.
type RunState string

const (
	StateQueued    RunState = "queued"
	StateRunning   RunState = "running"
	StateSucceeded RunState = "succeeded"
	StateFailed    RunState = "failed"
	StateTimedOut  RunState = "timed_out"
	StateCancelled RunState = "cancelled"
	StateLost      RunState = "lost"
	StateSkipped   RunState = "skipped"
	StateMissed    RunState = "missed"
)

// RunStates lists every state, in the order of a run's life.
var RunStates = []RunState{
	StateQueued, StateRunning, StateSucceeded, StateFailed, StateTimedOut,
	StateCancelled, StateLost, StateSkipped, StateMissed,
}

// Terminal reports whether a run in state s will never change again.
func (s RunState) Terminal() bool {
	return s != StateQueued && s != StateRunning
}

// Active reports whether a run in state s occupies its job (for the overlap policy).
func (s RunState) Active() bool { return !s.Terminal() }

// Valid reports whether s is one of the known states.
func (s RunState) Valid() bool {
	for _, v := range RunStates {
		if s == v {
			return true
		}
	}
	return false
}

// Trigger says what created a run.
type Trigger string

const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual"
	TriggerRetry    Trigger = "retry"
	TriggerCatchup  Trigger = "catchup"
)

// Scheduled reports whether runs of this trigger stand for a scheduled fire, which is
// materialized exactly once per job and fire time.
func (t Trigger) Scheduled() bool { return t == TriggerSchedule || t == TriggerCatchup }

// Run is one execution (or one accounted-for non-execution) of a job.
// Times are UTC instants; a zero time means "not yet".
type Run struct {
	ID          int64
	Job         string
	Trigger     Trigger
	ScheduledAt time.Time // the fire time, or the trigger time of a manual run
	Attempt     int       // 1 for the first attempt
	State       RunState
	Reason      string // human text: why it was skipped, failed, lost, cancelled
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	ExitCode    *int   // nil until the process exited on its own
	Signal      string // "SIGKILL" when a signal ended the process
	PID         int    // the process (and process group) id while running
	Worker      string // the node that ran it
	// CancelRequested is set, with the reason, when a running run is to be cancelled by the
	// node executing it (another node's request, or the replace policy); "" otherwise.
	CancelRequested string

	OutputBytes   int64 // bytes the run wrote in all
	OutputDropped int64 // bytes dropped from the middle to respect the output cap

	RetryOf   int64         // the first attempt's id for retries; 0 for a first attempt
	NotBefore time.Time     // a queued run does not start before this (retry backoff, jitter)
	Jitter    time.Duration // the random delay given to this fire

	// A missed record stands for MissedCount fires, from ScheduledAt through MissedUntil, that
	// fell outside the catch-up window while the daemon was down or the clock jumped.
	MissedCount int
	MissedUntil time.Time
}

// Duration is how long the run ran, up to now when it is still running.
func (r Run) Duration(now time.Time) time.Duration {
	if r.StartedAt.IsZero() {
		return 0
	}
	if r.FinishedAt.IsZero() {
		return now.Sub(r.StartedAt)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// OutputChunk is a piece of a run's interleaved stdout and stderr. Seq numbers start at 1 and
// grow by one per chunk; a gap in them marks output dropped to respect the cap.
type OutputChunk struct {
	RunID int64
	Seq   int64
	Data  []byte
	At    time.Time
}

// Event is one entry of the append-only event log.
type Event struct {
	ID     int64
	At     time.Time
	Kind   string // job.created, job.updated, job.deleted, job.paused, job.resumed, run.<state>
	Job    string
	RunID  int64
	Actor  string // "uid:1000", or "daemon" for the scheduler's own acts
	Detail string
}
