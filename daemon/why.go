package daemon

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/store"
)

// handleWhy explains, in one paragraph, what happened (or will happen) to the job's fire at or
// after ?at= (default now), from the runs and records the store holds.
func (d *Daemon) handleWhy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	job, err := d.store.GetJob(ctx, name)
	if err != nil {
		return jobErr(name, err)
	}
	now := d.clock.Now()
	at := now
	if s := r.URL.Query().Get("at"); s != "" {
		if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badRequest("at must be an RFC 3339 time such as 2026-11-22T14:00:00Z, got %q", s)
		}
	}
	loc, err := arbiter.LoadZone(job.Timezone)
	if err != nil {
		return err
	}
	sched, err := arbiter.ParseSchedule(job.Schedule, loc)
	if err != nil {
		return err
	}
	why := api.Why{Job: name, At: at.UTC(), Runs: []api.Run{}}
	fire := sched.NextFire(at.Add(-time.Nanosecond)) // at or after at
	if fire.At.IsZero() {
		why.Explanation = fmt.Sprintf("%s has no fire at or after %s: its schedule %q never fires again.",
			name, at.In(loc).Format(time.RFC3339), job.Schedule)
		writeJSON(w, http.StatusOK, why)
		return nil
	}
	why.Fire = &fire.At
	runs, err := d.fireRuns(ctx, name, fire.At)
	if err != nil {
		return err
	}
	for _, run := range runs {
		why.Runs = append(why.Runs, api.FromRun(run))
	}
	why.Explanation = d.explain(ctx, job, fire, runs, now)
	writeJSON(w, http.StatusOK, why)
	return nil
}

// fireRuns finds the runs and records of one fire: the runs scheduled at it (its first attempt,
// retries, or a skip), or else the missed record whose range covers it. Oldest first.
func (d *Daemon) fireRuns(ctx context.Context, job string, at time.Time) ([]arbiter.Run, error) {
	runs, err := d.store.ListRuns(ctx, store.RunListParams{Job: job, ScheduledFrom: at, ScheduledTo: at, Limit: 100})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		missed, err := d.store.ListRuns(ctx, store.RunListParams{
			Job: job, States: []arbiter.RunState{arbiter.StateMissed}, ScheduledTo: at, Limit: 1,
		})
		if err != nil {
			return nil, err
		}
		if len(missed) == 1 && !missed[0].MissedUntil.Before(at) {
			runs = missed
		}
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs, nil
}

func (d *Daemon) explain(ctx context.Context, job arbiter.Job, fire arbiter.Fire, runs []arbiter.Run, now time.Time) string {
	loc := fire.At.Location()
	when := func(t time.Time) string { return t.In(loc).Format(time.RFC3339) }
	var b strings.Builder
	if fire.At.After(now) {
		fmt.Fprintf(&b, "The next fire of %s at or after that time is %s (in %s).", job.Name, when(fire.At), fire.At.Sub(now).Round(time.Second))
	} else {
		fmt.Fprintf(&b, "%s fired at %s.", job.Name, when(fire.At))
	}
	if fire.Shifted {
		fmt.Fprintf(&b, " Its schedule named %s, which did not exist in %s because of the daylight-saving change, so it fires at the first instant after the jump.", fire.Nominal, loc)
	}

	switch {
	case fire.At.After(now):
		d.explainFuture(ctx, &b, job)
	case len(runs) > 0:
		for i, run := range runs {
			describeRun(&b, run, i == 0, when)
		}
	default:
		d.explainNoRecord(ctx, &b, job, fire.At, when)
	}
	return b.String()
}

func (d *Daemon) explainFuture(ctx context.Context, b *strings.Builder, job arbiter.Job) {
	if job.Paused {
		b.WriteString(" But the job is paused: it will not fire until it is resumed.")
		return
	}
	b.WriteString(" It will run then")
	if job.Jitter > 0 {
		fmt.Fprintf(b, ", after a random delay of up to %s", job.Jitter)
	}
	act, err := d.activity(ctx, job.Name, arbiter.OverlapSkip) // the oldest active run, on any node
	if id := act.oldest; err == nil && id != 0 {
		state := activeState(act.oldestStarted)
		switch job.Overlap {
		case arbiter.OverlapSkip:
			fmt.Fprintf(b, ", unless run %d (%s now) is still active: then it is recorded as skipped (overlap policy skip)", id, state)
		case arbiter.OverlapQueue:
			fmt.Fprintf(b, "; if run %d (%s now) is still active, it waits for it (overlap policy queue)", id, state)
		case arbiter.OverlapReplace:
			fmt.Fprintf(b, "; if run %d (%s now) is still active, it is cancelled in favour of the new one (overlap policy replace)", id, state)
		}
	}
	b.WriteString(".")
}

func describeRun(b *strings.Builder, run arbiter.Run, first bool, when func(time.Time) string) {
	switch {
	case run.State == arbiter.StateMissed:
		if run.MissedCount > 1 {
			fmt.Fprintf(b, " It did not run: it is one of %d fires from %s to %s recorded as missed (record %d): %s.", run.MissedCount, when(run.ScheduledAt), when(run.MissedUntil), run.ID, run.Reason)
		} else {
			fmt.Fprintf(b, " It did not run: record %d says %s.", run.ID, run.Reason)
		}
		return
	case run.State == arbiter.StateSkipped:
		fmt.Fprintf(b, " It did not run: record %d says %s.", run.ID, run.Reason)
		return
	}
	what := "It ran as run"
	switch {
	case run.Trigger == arbiter.TriggerCatchup:
		what = "The daemon was not running then; it ran when the daemon came back, as catch-up run"
	case run.Trigger == arbiter.TriggerRetry:
		what = fmt.Sprintf("Attempt %d ran as run", run.Attempt)
	case !first:
		what = "It also ran as run"
	}
	fmt.Fprintf(b, " %s %d", what, run.ID)
	if !run.StartedAt.IsZero() {
		fmt.Fprintf(b, ", started %s", when(run.StartedAt))
		if lag := run.StartedAt.Sub(run.ScheduledAt); run.Jitter > 0 {
			fmt.Fprintf(b, " (after a jitter of %s)", run.Jitter.Round(time.Millisecond))
		} else if lag > time.Second && run.Trigger == arbiter.TriggerSchedule {
			fmt.Fprintf(b, " (%s late)", lag.Round(time.Millisecond))
		}
	}
	switch run.State {
	case arbiter.StateQueued:
		if !run.NotBefore.IsZero() {
			fmt.Fprintf(b, ", and is queued to start at %s", when(run.NotBefore))
		} else {
			b.WriteString(", and is queued")
		}
	case arbiter.StateRunning:
		b.WriteString(", and is still running")
	case arbiter.StateSucceeded:
		fmt.Fprintf(b, ", and succeeded after %s", run.Duration(run.FinishedAt).Round(time.Millisecond))
	default:
		fmt.Fprintf(b, ", and ended %s: %s", run.State, run.Reason)
	}
	b.WriteString(".")
}

func (d *Daemon) explainNoRecord(ctx context.Context, b *strings.Builder, job arbiter.Job, at time.Time, when func(time.Time) string) {
	if job.CreatedAt.After(at) {
		fmt.Fprintf(b, " It did not run: the job was created later, at %s.", when(job.CreatedAt))
		return
	}
	if paused, since, until := d.pausedAt(ctx, job.Name, at); paused {
		fmt.Fprintf(b, " It did not run: the job was paused (since %s", when(since))
		if !until.IsZero() {
			fmt.Fprintf(b, ", resumed %s", when(until))
		}
		b.WriteString("), and paused jobs do not fire or catch up.")
		return
	}
	if job.UpdatedAt.After(at) {
		fmt.Fprintf(b, " No run or record exists for it. The job was changed at %s; the fire may belong to a schedule it no longer has.", when(job.UpdatedAt))
		return
	}
	b.WriteString(" No run or record exists for it yet; if the daemon is down at a fire, it is accounted for (caught up or recorded as missed) when the daemon starts again.")
}

// pausedAt reports whether the job was paused at t, from the event log, with when that pause
// began and (if it did) ended.
func (d *Daemon) pausedAt(ctx context.Context, job string, t time.Time) (paused bool, since, until time.Time) {
	var after int64
	for {
		events, err := d.store.ListEvents(ctx, store.EventListParams{AfterID: after, Job: job})
		if err != nil || len(events) == 0 {
			return paused, since, until
		}
		for _, e := range events {
			after = e.ID
			switch {
			case e.At.After(t):
				if paused && e.Kind == "job.resumed" && until.IsZero() {
					until = e.At
				}
			case e.Kind == "job.paused":
				paused, since, until = true, e.At, time.Time{}
			case e.Kind == "job.resumed", e.Kind == "job.created": // a paused creation logs job.paused next
				paused = false
			}
		}
	}
}
