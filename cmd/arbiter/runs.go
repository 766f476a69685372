package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

func (a *app) runCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "run JOB [--wait]",
		Short: "Run a job now",
		Long: `Run a job now and print the run's id.

With --wait, stream the run's output and exit with the job's status: its exit code when it
failed, 124 when it timed out, 128+N when signal N ended it, 1 when it never ran.`,
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			run, err := c.TriggerJob(ctx, args[0])
			if err != nil {
				return err
			}
			if !wait {
				fmt.Fprintln(a.out, run.ID)
				return nil
			}
			// stdout carries the job's output, so our own words go to stderr.
			fmt.Fprintf(a.err, "run %d of %s triggered\n", run.ID, run.Job)
			id := run.ID
			if err = a.copyOutput(ctx, c, id, true); err == nil {
				run, err = waitRun(ctx, c, id)
			}
			if ctx.Err() != nil {
				fmt.Fprintf(a.err, "\nstopped waiting; run %d goes on (arbiter cancel %d stops it)\n", id, id)
				return ctx.Err()
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(a.err, runSummary(run))
			if code := runExitCode(run); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "stream the output and exit with the run's status")
	return cmd
}

func (a *app) copyOutput(ctx context.Context, c *client.Client, id int64, follow bool) error {
	body, err := c.Output(ctx, id, 0, follow)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(a.out, body)
	return err
}

// waitRun returns the run once it has ended. The output stream ends when the run does, so
// this normally returns at once; polling covers a stream cut short, e.g. by a daemon restart.
func waitRun(ctx context.Context, c *client.Client, id int64) (api.Run, error) {
	delay := 100 * time.Millisecond
	for {
		run, err := c.GetRun(ctx, id)
		if err != nil || arbiter.RunState(run.State).Terminal() {
			return run, err
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// runExitCode passes a run's outcome on the way a shell would: 124 for a timeout (as
// timeout(1) does), 128+N for signal N.
func runExitCode(r api.Run) int {
	switch arbiter.RunState(r.State) {
	case arbiter.StateSucceeded:
		return 0
	case arbiter.StateTimedOut:
		return 124
	}
	if r.Signal != "" {
		if n := unix.SignalNum(r.Signal); n > 0 {
			return 128 + int(n)
		}
	}
	if r.ExitCode != nil && *r.ExitCode > 0 && *r.ExitCode < 256 {
		return *r.ExitCode
	}
	return 1 // lost, cancelled before it started, or a process that could not start
}

// runSummary is the last line of `run --wait`: "run 12 failed: exit 3 after 1.2s".
func runSummary(r api.Run) string {
	s := fmt.Sprintf("run %d %s", r.ID, stateText(r.State))
	switch {
	case r.Signal != "":
		s += ": killed by " + r.Signal
	case r.ExitCode != nil && *r.ExitCode != 0:
		s += fmt.Sprintf(": exit %d", *r.ExitCode)
	case r.State != string(arbiter.StateSucceeded) && r.Reason != "":
		s += ": " + r.Reason
	}
	if r.StartedAt != nil && r.FinishedAt != nil {
		s += " after " + duration(r.FinishedAt.Sub(*r.StartedAt))
	}
	return s
}

func (a *app) runsCmd() *cobra.Command {
	var (
		out    *format
		limit  int
		states []string
	)
	cmd := &cobra.Command{
		Use:               "runs [JOB]",
		Short:             "List runs, newest first",
		Args:              argsNamed(0, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := api.RunsQuery{Limit: limit}
			if len(args) > 0 {
				q.Job = args[0]
			}
			if limit < 1 {
				return usagef(cmd, "--limit must be at least 1")
			}
			for _, s := range states {
				st := arbiter.RunState(s)
				if !st.Valid() {
					return usagef(cmd, "--state: %q is not a run state; use one of %s", s, stateList())
				}
				q.States = append(q.States, st)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			runs, err := c.ListRuns(cmd.Context(), q)
			if err != nil {
				return err
			}
			if *out == formatJSON {
				if runs == nil {
					runs = []api.Run{}
				}
				return writeJSON(a.out, api.RunList{Runs: runs})
			}
			return renderRuns(a.out, runs, time.Now(), time.Local)
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "show at most this many runs")
	cmd.Flags().StringSliceVar(&states, "state", nil, "only runs in these states (repeatable or comma-separated)")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(strings.Split(stateList(), ", "), cobra.ShellCompDirectiveNoFileComp))
	out = outputFlag(cmd)
	return cmd
}

func stateList() string {
	names := make([]string, len(arbiter.RunStates))
	for i, s := range arbiter.RunStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// withOutput are the states of runs that can have output: `logs JOB` skips the skipped and
// missed records, which only say that a fire did not run.
var withOutput = []arbiter.RunState{
	arbiter.StateQueued, arbiter.StateRunning, arbiter.StateSucceeded, arbiter.StateFailed,
	arbiter.StateTimedOut, arbiter.StateCancelled, arbiter.StateLost,
}

func (a *app) logsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN_ID|JOB [-f]",
		Short: "Print a run's output",
		Long: `Print a run's output. A number is a run id; a job name means the job's latest run.

With -f, keep printing as the run writes until it ends.`,
		Args:              argsNamed(1, "RUN_ID|JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				if err := arbiter.ValidateName(args[0]); err != nil {
					return usagef(cmd, "%q is neither a run id nor a job name", args[0])
				}
				runs, err := c.ListRuns(ctx, api.RunsQuery{Job: args[0], States: withOutput, Limit: 1})
				if err != nil {
					return err
				}
				if len(runs) == 0 {
					return fmt.Errorf("job %s has no runs", args[0])
				}
				id = runs[0].ID
			}
			return a.copyOutput(ctx, c, id, follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output until the run ends")
	return cmd
}

func (a *app) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Stop a queued or running run",
		Args:  argsNamed(1, "RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return usagef(cmd, "%q is not a run id", args[0])
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			run, err := c.CancelRun(cmd.Context(), id)
			if err != nil {
				return err
			}
			if arbiter.RunState(run.State).Terminal() {
				fmt.Fprintf(a.out, "run %d %s\n", run.ID, stateText(run.State))
			} else {
				fmt.Fprintf(a.out, "cancelling run %d\n", run.ID)
			}
			return nil
		},
	}
}
