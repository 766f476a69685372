package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

type addOptions struct {
	name, tz, timeout, killGrace, dir, shell string
	cron, at, in                             string // exactly one: the schedule
	overlap, catchup, retryDelay, jitter     string
	retries                                  int
	env, labels                              []string
	paused                                   bool
}

func (a *app) addCmd() *cobra.Command {
	var o addOptions
	cmd := &cobra.Command{
		Use:   "add (--cron EXPR | --at TIME | --in DURATION) [flags] -- CMD [ARG...]",
		Short: "Add a job",
		Long: `Add a job that runs a command on a cron schedule (--cron), or once (--at or --in).
Give exactly one of the three.

The command is run directly, without a shell; use --shell to run a shell string with
/bin/sh -c instead. Without --name the job is named after the command.

A one-off job is done after its run and stays listed with its history. --at takes an RFC 3339
time, or a local time (2026-12-01T09:00 or '2026-12-01 09:00') in --tz or the local zone;
--in a duration from now.

--overlap says what a fire does while the job's previous run is still active:
  skip     the fire is recorded as skipped (the default)
  queue    it waits for the previous run; at most one waits
  allow    it runs side by side
  replace  it cancels the running one

Fires missed while the daemon was down run once when it is back, if they fall within
--catchup (default 5m; 0 turns catch-up off); older ones are recorded as missed.
A run that failed, timed out or was lost is retried up to --retries times; the first retry
waits --retry-delay (default 10s), and each further one twice as long, up to 1h, with jitter.

--label names a node label the job requires (repeat it, or separate labels with commas): once
several nodes share a Postgres store, only nodes started with every one of the job's labels
run it. A single node runs every job, whatever its labels.`,
		Example: `  arbiter add --cron '0 3 * * *' -- /usr/local/bin/backup.sh --full
  arbiter add --name dump --cron '@daily' --tz Europe/Berlin --shell 'pg_dump db | gzip > /srv/db.gz'
  arbiter add --name sync --cron '*/5 * * * *' --overlap queue --retries 3 --jitter 30s -- sync.sh
  arbiter add --name migrate --at '2026-12-01 09:00' --tz Europe/Berlin -- ./migrate.sh
  arbiter add --name remind --in 2h --shell 'echo stand up | wall'
  arbiter add --name train --cron '0 2 * * *' --label gpu --label eu -- ./train.sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, derived, err := o.spec(cmd, args, time.Now())
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			job, err := createJob(cmd.Context(), c, spec, derived)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "added job %s (%s)\n", job.Name, nextRunText(job, time.Now()))
			return nil
		},
	}
	f := cmd.Flags()
	// Everything after the first argument belongs to the job's command, so that
	// `arbiter add --cron X backup.sh --full` does not read --full as arbiter's flag.
	f.SetInterspersed(false)
	f.StringVar(&o.name, "name", "", "job name (default: derived from the command)")
	f.StringVar(&o.cron, "cron", "", "run on the schedule `EXPR`: a cron expression, a macro such as @daily, or '@every 90s'")
	f.StringVar(&o.at, "at", "", "run once at `TIME`: RFC 3339, or local such as '2026-12-01 09:00' (in --tz)")
	f.StringVar(&o.in, "in", "", "run once `DURATION` from now, e.g. 90m")
	f.StringVar(&o.tz, "tz", "", "IANA time zone the schedule is evaluated in (default: the daemon's)")
	f.StringVar(&o.timeout, "timeout", "", "stop the run after this long, e.g. 30m (default: no limit)")
	f.StringVar(&o.killGrace, "kill-grace", "", "time between SIGTERM and SIGKILL when a run is stopped (default 10s)")
	f.StringVar(&o.overlap, "overlap", "", "`POLICY` of a fire while the previous run is active: skip, queue, allow or replace (default skip)")
	f.StringVar(&o.catchup, "catchup", "", "run fires missed while the daemon was down once, if within this `WINDOW`; 0 turns it off (default 5m)")
	f.IntVar(&o.retries, "retries", 0, "retry a failed, timed-out or lost run up to `N` times (0-100)")
	f.StringVar(&o.retryDelay, "retry-delay", "", "wait `DURATION` before the first retry, doubling per attempt up to 1h, with jitter (default 10s)")
	f.StringVar(&o.jitter, "jitter", "", "delay each fire by a random time up to `DURATION`, e.g. 30s (default: none)")
	f.StringArrayVar(&o.env, "env", nil, "set an environment variable, KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.labels, "label", nil, "require worker nodes with this `LABEL` to run the job (repeatable, or comma-separated)")
	f.StringVar(&o.dir, "dir", "", "working directory of the command")
	f.StringVar(&o.shell, "shell", "", "run this string with /bin/sh -c instead of a command")
	f.BoolVar(&o.paused, "paused", false, "add the job paused")
	_ = cmd.RegisterFlagCompletionFunc("overlap", cobra.FixedCompletions(overlapModes, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("label", cobra.NoFileCompletions)
	return cmd
}

var overlapModes = []string{
	string(arbiter.OverlapSkip), string(arbiter.OverlapQueue), string(arbiter.OverlapAllow), string(arbiter.OverlapReplace),
}

// spec builds and validates the job spec locally, so that bad input fails without a daemon.
// derived reports whether the name came from the command. now is the start of --in.
func (o *addOptions) spec(cmd *cobra.Command, args []string, now time.Time) (spec api.JobSpec, derived bool, err error) {
	given := 0
	for _, s := range []string{o.cron, o.at, o.in} {
		if s != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return spec, false, usagef(cmd, "give a schedule: --cron EXPR, or --at TIME or --in DURATION for a one-off job")
	case given > 1:
		return spec, false, usagef(cmd, "give only one of --cron, --at and --in")
	case len(args) == 0 && o.shell == "":
		return spec, false, usagef(cmd, "give the command after --, or a shell string with --shell")
	case len(args) > 0 && o.shell != "":
		return spec, false, usagef(cmd, "give either a command after -- or --shell, not both")
	}
	schedule, err := o.schedule(now)
	if err != nil {
		return spec, false, err
	}
	if err := o.checkPolicies(); err != nil {
		return spec, false, err
	}
	spec = api.JobSpec{
		Name: o.name, Schedule: schedule, Timezone: o.tz, Command: args, Shell: o.shell,
		Timeout: o.timeout, KillGrace: o.killGrace, Paused: o.paused,
		Overlap: o.overlap, Catchup: o.catchup, Retries: o.retries, RetryDelay: o.retryDelay, Jitter: o.jitter,
	}
	if spec.Env, err = parseEnv(o.env); err != nil {
		return spec, false, err
	}
	if spec.Labels, err = parseLabels(o.labels); err != nil {
		return spec, false, err
	}
	if o.dir != "" {
		// The daemon runs elsewhere: a relative directory means the one the user is in.
		if spec.Dir, err = filepath.Abs(o.dir); err != nil {
			return spec, false, fmt.Errorf("--dir: %w", err)
		}
	}
	if derived = spec.Name == ""; derived {
		spec.Name = deriveName(args, o.shell)
	}
	job, err := spec.ToJob()
	if err != nil {
		return spec, false, err
	}
	// This parses the schedule as the daemon will, "@at" included: a local --at time that a
	// daylight-saving gap skips fails here, in the zone of --tz.
	return spec, derived, job.Validate()
}

// schedule is the job's schedule: --cron as given, --at as "@at TIME" for the daemon to read
// in the job's zone, --in as "@at" the UTC instant now+DURATION.
func (o *addOptions) schedule(now time.Time) (string, error) {
	switch {
	case o.at != "":
		loc, err := arbiter.LoadZone(o.tz)
		if err != nil {
			return "", err
		}
		t, err := parseTime(o.at, loc)
		if err != nil {
			return "", arbiter.Invalidf("--at", "%q is not a time; %s", o.at, timeForms)
		}
		if !t.After(now) {
			return "", arbiter.Invalidf("--at", "%q is in the past; a one-off job needs a time to come (arbiter run JOB runs a job now)", o.at)
		}
		return atPrefix + strings.TrimSpace(o.at), nil
	case o.in != "":
		d, err := time.ParseDuration(o.in)
		if err != nil {
			return "", arbiter.Invalidf("--in", "%q is not a duration; use a form such as 30s, 5m or 1h30m", o.in)
		}
		if d <= 0 {
			return "", arbiter.Invalidf("--in", "must be positive")
		}
		// Rounded up to the second: the schedule says "not before now+DURATION" in whole
		// seconds, which is also all that RFC 3339 without a fraction can say.
		t := now.Add(d)
		if r := t.Truncate(time.Second); r.Before(t) {
			t = r.Add(time.Second)
		}
		return atPrefix + t.UTC().Format(time.RFC3339), nil
	}
	return o.cron, nil
}

// checkPolicies checks the overlap, catch-up, retry and jitter flags, naming the flag in every
// message. Empty values are left to the daemon's defaults.
func (o *addOptions) checkPolicies() error {
	if o.overlap != "" && !slices.Contains(overlapModes, o.overlap) {
		return arbiter.Invalidf("--overlap", "%q is not one of skip, queue, allow, replace", o.overlap)
	}
	if o.catchup != "" {
		d, err := flagDuration("--catchup", o.catchup)
		if err != nil {
			return err
		}
		if d < 0 {
			return arbiter.Invalidf("--catchup", "must not be negative; use 0 to turn catch-up off")
		}
	}
	if o.retries < 0 || o.retries > arbiter.MaxRetries {
		return arbiter.Invalidf("--retries", "%d is out of range 0-%d", o.retries, arbiter.MaxRetries)
	}
	if o.retryDelay != "" {
		d, err := flagDuration("--retry-delay", o.retryDelay)
		if err != nil {
			return err
		}
		switch {
		case d <= 0:
			// 0 would silently mean the default of 10s.
			return arbiter.Invalidf("--retry-delay", "must be positive")
		case d > arbiter.MaxRetryDelay:
			return arbiter.Invalidf("--retry-delay", "%s is more than the backoff's cap of %s", duration(d), duration(arbiter.MaxRetryDelay))
		case o.retries == 0:
			return arbiter.Invalidf("--retry-delay", "has no effect without --retries N")
		}
	}
	if o.jitter != "" {
		d, err := flagDuration("--jitter", o.jitter)
		if err != nil {
			return err
		}
		if d < 0 {
			return arbiter.Invalidf("--jitter", "must not be negative")
		}
	}
	return nil
}

func flagDuration(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, arbiter.Invalidf(flag, "%q is not a duration; use a form such as 30s, 5m or 1h30m", s)
	}
	return d, nil
}

func parseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, arbiter.Invalidf("--env", "%q is not KEY=VALUE", kv)
		}
		env[k] = v
	}
	return env, nil
}

// parseLabels reads the values of --label, each one label or several separated by commas, into
// the job's labels: sorted, each once, checked here so that the message names the flag.
func parseLabels(values []string) ([]string, error) {
	var labels []string
	for _, v := range values {
		for l := range strings.SplitSeq(v, ",") {
			l = strings.TrimSpace(l)
			if err := arbiter.ValidateLabel(l); err != nil {
				var ie *arbiter.InvalidError
				if errors.As(err, &ie) {
					return nil, arbiter.Invalidf("--label", "%s", ie.Message)
				}
				return nil, err
			}
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		return nil, nil
	}
	labels = slices.Compact(slices.Sorted(slices.Values(labels)))
	if len(labels) > arbiter.MaxLabels {
		return nil, arbiter.Invalidf("--label", "%d labels; a job may require at most %d", len(labels), arbiter.MaxLabels)
	}
	return labels, nil
}

// deriveName names a job after its program: `/usr/bin/backup.sh --full` is backup-sh,
// `pg_dump db | gzip` is pg-dump.
func deriveName(argv []string, shell string) string {
	var word string
	if len(argv) > 0 {
		word = argv[0]
	} else {
		for _, w := range strings.Fields(shell) {
			if !strings.Contains(w, "=") { // skip leading FOO=bar assignments
				word = w
				break
			}
		}
	}
	return sanitizeName(path.Base(strings.Trim(word, `'"()`)))
}

// sanitizeName makes a job name of s, "job" when nothing usable is left.
func sanitizeName(s string) string {
	if name := arbiter.NameFrom(s); name != "" {
		return name
	}
	return "job"
}

// withSuffix is name-N, shortened so that it stays a valid name.
func withSuffix(name string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	if len(name)+len(suffix) > 63 {
		name = strings.TrimRight(name[:63-len(suffix)], "-._")
	}
	return name + suffix
}

// maxNameTries bounds the search for a free derived name.
const maxNameTries = 100

// createJob creates the job. A derived name that is taken becomes NAME-2, NAME-3, ...; a name
// the user chose is never changed.
func createJob(ctx context.Context, c *client.Client, spec api.JobSpec, derived bool) (api.Job, error) {
	base := spec.Name
	for n := 2; ; n++ {
		job, err := c.CreateJob(ctx, spec)
		if err == nil || !derived || !errors.Is(err, arbiter.ErrConflict) || n > maxNameTries {
			return job, err
		}
		spec.Name = withSuffix(base, n)
	}
}

// nextRunText is the parenthesis after "added job NAME".
func nextRunText(j api.Job, now time.Time) string {
	switch {
	case j.Paused:
		return "paused"
	case j.NextRun == nil:
		return "its schedule never fires"
	}
	what := "next run: "
	if _, once := oneOffArg(j.Schedule); once {
		what = "runs once: "
	}
	return what + j.NextRun.In(time.Local).Format(dateTimeLayout) + ", " + relative(*j.NextRun, now)
}

func (a *app) lsCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List jobs",
		Args:    argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if *out == formatJSON {
				// The daemon sends the list as writeJSON would print it.
				return c.JobsJSON(cmd.Context(), a.out)
			}
			jobs, err := c.ListJobs(cmd.Context())
			if err != nil {
				return err
			}
			return renderJobs(a.out, jobs, time.Now(), time.Local)
		},
	}
	out = outputFlag(cmd)
	return cmd
}

func (a *app) showCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:               "show JOB",
		Short:             "Show a job",
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			job, err := c.GetJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, job)
			}
			return renderJob(a.out, job, time.Now(), time.Local)
		},
	}
	out = outputFlag(cmd)
	return cmd
}

// forceFlag adds --force, which changes a job a job file manages anyway.
func forceFlag(cmd *cobra.Command) *bool {
	return cmd.Flags().Bool("force", false, "change it even though a job file manages it (the job is marked as drifted until its file is applied again)")
}

func (a *app) rmCmd() *cobra.Command {
	var force *bool
	cmd := &cobra.Command{
		Use:               "rm JOB",
		Aliases:           []string{"remove"},
		Short:             "Remove a job (its run history is kept)",
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteJob(cmd.Context(), args[0], *force); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "removed job %s; its run history is kept (arbiter runs %s)\n", args[0], args[0])
			return nil
		},
	}
	force = forceFlag(cmd)
	return cmd
}

func (a *app) pauseCmd() *cobra.Command  { return a.setPausedCmd(true) }
func (a *app) resumeCmd() *cobra.Command { return a.setPausedCmd(false) }

// setPausedCmd is `pause` or `resume`.
func (a *app) setPausedCmd(pause bool) *cobra.Command {
	use, short := "resume JOB", "Let a paused job fire again"
	set := (*client.Client).ResumeJob
	if pause {
		use, short = "pause JOB", "Stop a job from firing until it is resumed"
		set = (*client.Client).PauseJob
	}
	var force *bool
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			job, err := set(c, cmd.Context(), args[0], *force)
			if err != nil {
				return err
			}
			if pause {
				fmt.Fprintf(a.out, "paused job %s\n", job.Name)
			} else {
				fmt.Fprintf(a.out, "resumed job %s (%s)\n", job.Name, nextRunText(job, time.Now()))
			}
			return nil
		},
	}
	force = forceFlag(cmd)
	return cmd
}
