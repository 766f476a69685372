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
		}
		if r := j.LastRun; r != nil {
			last, state = when(refTime(r), now, loc), r.State
		}
		t.row(j.Name, j.Schedule, next, last, state, yesNo(j.Paused))
	}
	return t.flush()
}

func renderRuns(w io.Writer, runs []api.Run, now time.Time, loc *time.Location) error {
	t := newTable(w, "ID", "JOB", "STATE", "TRIGGER", "SCHEDULED", "STARTED", "DURATION", "EXIT", "REASON")
	for _, r := range runs {
		started, took := "-", "-"
		if r.StartedAt != nil {
			started = clock(*r.StartedAt, now, loc)
			took = duration(runDuration(r, now))
		}
		t.row(strconv.FormatInt(r.ID, 10), r.Job, r.State, r.Trigger, when(r.ScheduledAt, now, loc),
			started, took, exitText(r.ExitCode, r.Signal), r.Reason)
	}
	return t.flush()
}

func renderJob(w io.Writer, j api.Job, now time.Time, loc *time.Location) error {
	t := newTable(w)
	t.row("Name:", j.Name)
	zone := j.Timezone
	if zone == "" {
		zone = "the daemon's time zone"
	}
	t.row("Schedule:", j.Schedule+" ("+zone+")")
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
	timeout := "none"
	if j.Timeout != "" {
		timeout = goDuration(j.Timeout)
	}
	t.row("Timeout:", timeout)
	t.row("Kill grace:", goDuration(j.KillGrace))
	t.row("Overlap:", j.Overlap)
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

func renderStatus(w io.Writer, s api.Status, now time.Time, loc *time.Location) error {
	t := newTable(w)
	t.row("Version:", s.Version)
	t.row("PID:", strconv.Itoa(s.PID))
	t.row("Uptime:", duration(now.Sub(s.StartedAt))+" (since "+clock(s.StartedAt, now, loc)+")")
	t.row("Data dir:", s.DataDir)
	t.row("Store:", s.Store)
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
