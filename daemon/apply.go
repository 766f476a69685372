package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/jobfile"
	"github.com/arbiterd/arbiter/store"
)

// handleApply makes the jobs of a set of job files the daemon's: it plans the creates, updates
// (with a field-level diff) and, with prune, deletes, then applies them in one transaction.
// Jobs made from the CLI are never pruned.
func (d *Daemon) handleApply(w http.ResponseWriter, r *http.Request) error {
	var req api.ApplyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	plan, err := d.apply(r.Context(), req, actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, plan)
	return nil
}

// apply plans an ApplyRequest and, unless it is a dry run, carries it out in one transaction.
func (d *Daemon) apply(ctx context.Context, req api.ApplyRequest, actor string) (api.Plan, error) {
	wanted := make(map[string]arbiter.Job, len(req.Jobs))
	var problems []string
	for _, spec := range req.Jobs {
		job, err := spec.ToJob()
		if err == nil {
			job.Normalize()
			err = job.Validate()
		}
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: job %s: %v", spec.Source, spec.Name, err))
		case wanted[job.Name].Name != "":
			problems = append(problems, fmt.Sprintf("job %s is defined in %s and in %s", job.Name, wanted[job.Name].Source, job.Source))
		default:
			wanted[job.Name] = job
		}
	}
	if len(problems) > 0 {
		return api.Plan{}, badRequest("%s", strings.Join(problems, "\n"))
	}

	current, err := d.store.ListJobs(ctx)
	if err != nil {
		return api.Plan{}, err
	}
	plan := api.Plan{Create: []api.PlanJob{}, Update: []api.PlanJob{}, Delete: []api.PlanJob{}, Unchanged: []string{}}
	var apply store.JobApplyParams
	have := make(map[string]bool, len(current))
	for _, cur := range current {
		have[cur.Name] = true
		want, ok := wanted[cur.Name]
		switch {
		case ok:
			if want.Source == arbiter.SourceCLI {
				// Read from stdin, not from a file (export | apply -): the job keeps its source.
				want.Source = cur.Source
				wanted[cur.Name] = want
			}
			if changes := jobChanges(cur, want); len(changes) > 0 {
				plan.Update = append(plan.Update, api.PlanJob{Name: cur.Name, Source: want.Source, Changes: changes})
				apply.Update = append(apply.Update, want)
			} else {
				plan.Unchanged = append(plan.Unchanged, cur.Name)
			}
		case req.Prune && cur.Source != arbiter.SourceCLI && underAny(cur.Source, req.Roots):
			plan.Delete = append(plan.Delete, api.PlanJob{Name: cur.Name, Source: cur.Source})
			apply.Delete = append(apply.Delete, cur.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		if !have[name] {
			plan.Create = append(plan.Create, api.PlanJob{Name: name, Source: wanted[name].Source})
			apply.Create = append(apply.Create, wanted[name])
		}
	}
	if req.DryRun || !plan.Changed() {
		return plan, nil
	}
	apply.Now, apply.Actor = d.clock.Now(), actor
	jobs, err := d.store.ApplyJobs(ctx, apply)
	if err != nil {
		if errors.Is(err, arbiter.ErrConflict) || errors.Is(err, arbiter.ErrNotFound) {
			return api.Plan{}, &apiError{http.StatusConflict, api.CodeConflict, err.Error() + "; the jobs changed while planning, apply again"}
		}
		return api.Plan{}, err
	}
	for _, j := range jobs {
		if err := d.sched.Set(j); err != nil {
			d.log.Error("schedule applied job", "job", j.Name, "err", err)
		}
	}
	for _, name := range apply.Delete {
		d.sched.Remove(name)
	}
	plan.Applied = true
	return plan, nil
}

// reload applies the jobs dir (at start, on SIGHUP and on POST /v1/reload): the jobs of its
// files, pruning the jobs that came from it and left. A reload with an error in any file
// changes nothing and reports every error.
func (d *Daemon) reload(ctx context.Context, actor string) (api.Plan, error) {
	dir := d.cfg.JobsDir
	if dir == "" {
		return api.Plan{}, &apiError{http.StatusConflict, api.CodeConflict, "the daemon has no jobs dir to reload; start it with --jobs DIR or set jobs_dir in its config"}
	}
	jobs, errs := jobfile.Load(dir)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = err.Error()
		}
		return api.Plan{}, badRequest("%s", strings.Join(msgs, "\n"))
	}
	req := api.ApplyRequest{Roots: []string{dir}, Prune: true}
	for _, j := range jobs {
		spec := j.Spec
		spec.Source = j.Source
		req.Jobs = append(req.Jobs, spec)
	}
	return d.apply(ctx, req, actor)
}

func (d *Daemon) handleReload(w http.ResponseWriter, r *http.Request) error {
	// systemd hears of a reload however it was asked for (ExecReload runs `arbiter reload`).
	d.sd.reloading()
	defer d.sd.ready(d.readyStatus())
	plan, err := d.reload(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, plan)
	return nil
}

// reloadLogged reloads on a signal or at start, reporting to the log.
func (d *Daemon) reloadLogged(ctx context.Context, why string) {
	plan, err := d.reload(ctx, "daemon")
	if err != nil {
		d.log.Error("jobs dir not applied; the jobs stay as they were", "dir", d.cfg.JobsDir, "why", why, "err", err)
		return
	}
	d.log.Info("jobs dir applied", "dir", d.cfg.JobsDir, "why", why,
		"created", len(plan.Create), "updated", len(plan.Update), "deleted", len(plan.Delete), "unchanged", len(plan.Unchanged))
}

// underAny reports whether the job file path is one of roots or inside one of them.
func underAny(path string, roots []string) bool {
	for _, root := range roots {
		root = filepath.Clean(root)
		if path == root || strings.HasPrefix(path, root+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// jobChanges lists the fields that differ between the stored job and the one of its file.
func jobChanges(cur, want arbiter.Job) []api.FieldChange {
	var out []api.FieldChange
	add := func(field, from, to string) {
		if from != to {
			out = append(out, api.FieldChange{Field: field, From: from, To: to})
		}
	}
	add("schedule", cur.Schedule, want.Schedule)
	add("timezone", cur.Timezone, want.Timezone)
	add("command", quoteArgs(cur.Command), quoteArgs(want.Command))
	add("shell", cur.Shell, want.Shell)
	add("dir", cur.Dir, want.Dir)
	add("env", envText(cur.Env), envText(want.Env))
	// Both are normalized (sorted, unique): equal sets read the same.
	add("labels", strings.Join(cur.Labels, ", "), strings.Join(want.Labels, ", "))
	add("timeout", cur.Timeout.String(), want.Timeout.String())
	add("kill_grace", cur.KillGrace.String(), want.KillGrace.String())
	add("overlap", string(cur.Overlap), string(want.Overlap))
	add("catchup", cur.Catchup.String(), want.Catchup.String())
	add("retries", strconv.Itoa(cur.Retries), strconv.Itoa(want.Retries))
	add("retry_delay", cur.RetryDelay.String(), want.RetryDelay.String())
	add("jitter", cur.Jitter.String(), want.Jitter.String())
	add("paused", strconv.FormatBool(cur.Paused), strconv.FormatBool(want.Paused))
	add("source", cur.Source, want.Source)
	add("drifted", strconv.FormatBool(cur.Drifted), strconv.FormatBool(want.Drifted))
	return out
}

func quoteArgs(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func envText(env map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		kv = append(kv, k+"="+strconv.Quote(env[k]))
	}
	return strings.Join(kv, " ")
}

// managedErr refuses a CLI change to a job a job file manages, naming the file.
func managedErr(job arbiter.Job) error {
	return &apiError{http.StatusConflict, api.CodeConflict, fmt.Sprintf(
		"job %s is managed by %s: change it there and run `arbiter apply`, or repeat with --force (the job is then marked as drifted until its file is applied again)",
		job.Name, job.Source)}
}
