// Package runners declares how a run's process is executed. Every runner must pass the suite in
// runners/runnertest: it streams output as it arrives, honours cancellation and timeouts by
// killing everything it started, and reports how the process ended.
package runners

import (
	"context"
	"io"
	"time"

	"github.com/arbiterd/arbiter"
)

// MarkerEnv names the environment variable that marks every process of a run. The daemon sets
// it in Request.Env to a value unique on the machine (its node id and the run id: two daemons
// with their own databases both have a run 42); children inherit it, and it is how a process
// that left the run's process group (setsid) is still recognised as the run's, during the run
// and after a crash.
const MarkerEnv = "ARBITER_RUN_MARKER"

// Runner executes one run of a job.
type Runner interface {
	// Run starts the job's process and blocks until it and everything it started are gone.
	// When ctx is done, the runner stops the process: SIGTERM to its process group and to the
	// processes that left the group but carry the run's MarkerEnv (from Request.Env) and
	// descend from the calling process, SIGKILL after Request.KillGrace. A non-nil error means
	// the process could not be started at all (no such program, bad working directory); how a
	// started process ended is in Result.
	Run(ctx context.Context, req Request) (Result, error)
}

// Request is what a runner needs to execute one run.
type Request struct {
	Job   arbiter.Job
	RunID int64
	// Env is appended to the job's environment (ARBITER_JOB, ARBITER_RUN_ID, ...), after the
	// daemon's own environment, so later entries win.
	Env []string
	// Output receives stdout and stderr interleaved in the order they were written.
	Output io.Writer
	// KillGrace is the time between SIGTERM and SIGKILL; 0 means arbiter.DefaultKillGrace.
	KillGrace time.Duration
	// Started, when set, is called once the process runs, with its pid (also its process group).
	Started func(pid int)
}

// Result is how a started process ended.
type Result struct {
	ExitCode int    // the exit status; -1 when a signal ended the process
	Signal   string // "SIGTERM", "SIGKILL", ... when a signal ended the process
}

// Success reports whether the process exited with status 0.
func (r Result) Success() bool { return r.ExitCode == 0 && r.Signal == "" }
