package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// The render functions draw human output from API values. They take now and loc rather than
// reading the clock so that golden tests are stable.

func renderJobs(w io.Writer, jobs []api.Job, now time.Time, loc *time.Location) error {
	t := newTable(w, "NAME", "SCHEDULE", "NEXT", "LAST", "STATE", "PAUSED")
	for _, j := range jobs {
		next, last, state := "-", "-", "-"
		if j.NextRun != nil {
			next = when(*j.NextRun, now, loc)
		} else if oneOffDone(j) {
			next = "done"
		}
		if r := j.LastRun; r != nil {
			last, state = when(refTime(r), now, loc), r.State
		}
		sched := j.Schedule
		if once, ok := oneOffText(j, now, loc); ok {
			sched = once
		}
		t.row(j.Name, sched, next, last, state, yesNo(j.Paused))
	}
	return t.flush()
}

// oneOffText is a one-off job's schedule for people, "once at 2026-12-01 09:00:00" in loc, and
// whether the job is one.
func oneOffText(j api.Job, now time.Time, loc *time.Location) (string, bool) {
	arg, ok := oneOffArg(j.Schedule)
	if !ok {
		return "", false
	}
	// A local time means the job's zone; "" is the daemon's, which is loc on the daemon's
	// machine, the usual place to run the CLI.
	zone := loc
	if z, err := arbiter.LoadZone(j.Timezone); err == nil && j.Timezone != "" {
		zone = z
	}
	if t, err := parseTime(arg, zone); err == nil {
		return "once at " + clock(t, now, loc), true
	}
	return "once at " + arg, true // a form this client does not know: as the daemon has it
}

// oneOffDone reports whether a one-off job has had its run: it will not fire again and its
// last run is over.
func oneOffDone(j api.Job) bool {
	_, once := oneOffArg(j.Schedule)
	return once && j.NextRun == nil && j.LastRun != nil && arbiter.RunState(j.LastRun.State).Terminal()
}

func renderRuns(w io.Writer, runs []api.Run, now time.Time, loc *time.Location) error {
	t := newTable(w, "ID", "JOB", "STATE", "TRIGGER", "ATTEMPT", "SCHEDULED", "STARTED", "DURATION", "EXIT", "REASON")
	for _, r := range runs {
		c := cellsOf(r, now, loc)
		t.row(c.id, r.Job, r.State, r.Trigger, c.attempt, when(r.ScheduledAt, now, loc), c.started, c.took, c.exit, c.reason)
	}
	return t.flush()
}

// runCells are the cells of a run that the runs table and the why table share.
type runCells struct{ id, attempt, started, took, exit, reason string }

func cellsOf(r api.Run, now time.Time, loc *time.Location) runCells {
	c := runCells{
		id: strconv.FormatInt(r.ID, 10), attempt: "-", started: "-", took: "-",
		exit: exitText(r.ExitCode, r.Signal), reason: r.Reason,
	}
	// Skipped and missed records stand for fires that never ran: no attempt was made.
	if st := arbiter.RunState(r.State); r.Attempt > 0 && st != arbiter.StateSkipped && st != arbiter.StateMissed {
		c.attempt = strconv.Itoa(r.Attempt)
	}
	switch {
	case r.StartedAt != nil:
		c.started = clock(*r.StartedAt, now, loc)
		c.took = duration(runDuration(r, now))
	case r.NotBefore != nil && r.NotBefore.After(now) && !arbiter.RunState(r.State).Terminal():
		// Held back by a retry's backoff or by jitter: say when it may start.
		c.started = relative(*r.NotBefore, now)
	}
	// The daemon's reason says most; these fill in where it said nothing.
	switch {
	case c.reason != "":
	case r.RetryOf != 0:
		c.reason = fmt.Sprintf("retry of run %d", r.RetryOf)
	case r.State == string(arbiter.StateMissed) && r.MissedCount > 0:
		c.reason = fmt.Sprintf("missed %d fires", r.MissedCount)
		if r.MissedUntil != nil {
			c.reason += " through " + clock(*r.MissedUntil, now, loc)
		}
	}
	return c
}

func renderJob(w io.Writer, j api.Job, now time.Time, loc *time.Location) error {
	t := newTable(w)
	t.row("Name:", j.Name)
	zone := j.Timezone
	if zone == "" {
		zone = "the daemon's time zone"
	}
	if once, ok := oneOffText(j, now, loc); ok {
		t.row("Schedule:", once+" ("+j.Schedule+", "+zone+")")
	} else {
		t.row("Schedule:", j.Schedule+" ("+zone+")")
	}
	if j.Shell != "" {
		t.row("Shell:", j.Shell)
	} else {
		t.row("Command:", shellQuote(j.Command))
	}
	if j.Dir != "" {
		t.row("Directory:", j.Dir)
	}
	for i, k := range slices.Sorted(maps.Keys(j.Env)) {
		key := ""
		if i == 0 {
			key = "Environment:"
		}
		t.row(key, k+"="+j.Env[k])
	}
	if len(j.Labels) > 0 {
		t.row("Labels:", strings.Join(j.Labels, ", "))
	}
	timeout := "none"
	if j.Timeout != "" {
		timeout = goDuration(j.Timeout)
	}
	t.row("Timeout:", timeout)
	t.row("Kill grace:", goDuration(j.KillGrace))
	t.row("Overlap:", overlapText(j.Overlap))
	t.row("Catch-up:", catchupText(j.Catchup))
	t.row("Retries:", retriesText(j.Retries, j.RetryDelay))
	jitter := "none"
	if j.Jitter != "" {
		jitter = "up to " + goDuration(j.Jitter)
	}
	t.row("Jitter:", jitter)
	t.row("Paused:", yesNo(j.Paused))
	t.row("Source:", j.Source)
	t.row("Created:", when(j.CreatedAt, now, loc))
	t.row("Updated:", when(j.UpdatedAt, now, loc))
	next := "-"
	switch {
	case j.Paused:
		next = "- (paused)"
	case j.NextRun != nil:
		next = when(*j.NextRun, now, loc)
	case oneOffDone(j):
		next = "done (one-off)"
	}
	t.row("Next run:", next)
	last := "-"
	if r := j.LastRun; r != nil {
		last = fmt.Sprintf("run %d %s", r.ID, stateText(r.State))
		if r.ExitCode != nil && *r.ExitCode > 0 {
			last += fmt.Sprintf(" (exit %d)", *r.ExitCode)
		}
		last += " at " + when(refTime(r), now, loc)
	}
	t.row("Last run:", last)
	return t.flush()
}

// overlapText is the overlap policy with what it means.
func overlapText(policy string) string {
	switch arbiter.Overlap(policy) {
	case arbiter.OverlapSkip:
		return policy + " (a fire while a run is active is recorded as skipped)"
	case arbiter.OverlapQueue:
		return policy + " (a fire waits for the active run; at most one waits)"
	case arbiter.OverlapAllow:
		return policy + " (runs may overlap)"
	case arbiter.OverlapReplace:
		return policy + " (a fire cancels the active run)"
	}
	return policy
}

// catchupText is the catch-up window: "5m", or "off" for 0.
func catchupText(window string) string {
	d, err := time.ParseDuration(window)
	switch {
	case window == "":
		return "-" // a daemon that does not report it
	case err != nil:
		return window
	case d == 0:
		return "off"
	}
	return duration(d)
}

// retriesText is "3 (delay 10s, doubling)", or "none".
func retriesText(n int, delay string) string {
	if n == 0 {
		return "none"
	}
	if delay == "" {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d (delay %s, doubling)", n, goDuration(delay))
}

func renderStatus(w io.Writer, s api.Status, now time.Time, loc *time.Location) error {
	t := newTable(w)
	t.row("Version:", s.Version)
	t.row("PID:", strconv.Itoa(s.PID))
	t.row("Uptime:", duration(now.Sub(s.StartedAt))+" (since "+clock(s.StartedAt, now, loc)+")")
	t.row("Data dir:", s.DataDir)
	t.row("Store:", s.Store)
	if s.Node != "" && !strings.HasPrefix(s.Store, "sqlite") {
		role := "standby: another node fires the schedules"
		if s.Leader {
			role = "the scheduler"
		}
		t.row("Node:", s.Node+" ("+role+")")
	}
	t.row("Socket:", s.Socket)
	t.row("Jobs:", fmt.Sprintf("%d (%d paused)", s.Jobs, s.Paused))
	t.row("Active:", fmt.Sprintf("%d running, %d queued", s.Running, s.Queued))
	t.row("Runs:", runCounts(s.Runs))
	return t.flush()
}

// runCounts lists counts in the order of a run's life, then any states this client does not
// know yet.
func runCounts(counts map[string]int) string {
	var parts []string
	seen := map[string]bool{}
	for _, st := range arbiter.RunStates {
		if n, ok := counts[string(st)]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", n, stateText(string(st))))
		}
		seen[string(st)] = true
	}
	for _, st := range slices.Sorted(maps.Keys(counts)) {
		if !seen[st] {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], stateText(st)))
		}
	}
	if len(parts) == 0 {
		return "none yet"
	}
	return strings.Join(parts, ", ")
}

// refTime is when a run happened: when it started, or its fire time if it never did.
func refTime(r *api.RunRef) time.Time {
	if r.StartedAt != nil {
		return *r.StartedAt
	}
	return r.ScheduledAt
}

// runDuration is how long r ran, up to now while it runs.
func runDuration(r api.Run, now time.Time) time.Duration {
	if r.StartedAt == nil {
		return 0
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt)
}

// goDuration humanizes a duration the API sends as a Go duration string ("1h0m0s" is "1h").
func goDuration(s string) string {
	if d, err := time.ParseDuration(s); err == nil {
		return duration(d)
	}
	return s
}

func exitText(code *int, signal string) string {
	switch {
	case signal != "":
		return signal
	case code != nil:
		return strconv.Itoa(*code)
	}
	return "-"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
