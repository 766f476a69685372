package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

type addOptions struct {
	name, cron, tz, timeout, killGrace, dir, shell string
	env                                            []string
	paused                                         bool
}

func (a *app) addCmd() *cobra.Command {
	var o addOptions
	cmd := &cobra.Command{
		Use:   "add --cron EXPR [flags] -- CMD [ARG...]",
		Short: "Add a job",
		Long: `Add a job that runs a command on a cron schedule.

The command is run directly, without a shell; use --shell to run a shell string with
/bin/sh -c instead. Without --name the job is named after the command.`,
		Example: `  arbiter add --cron '0 3 * * *' -- /usr/local/bin/backup.sh --full
  arbiter add --name dump --cron '@daily' --tz Europe/Berlin --shell 'pg_dump db | gzip > /srv/db.gz'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, derived, err := o.spec(cmd, args)
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
	f.StringVar(&o.cron, "cron", "", "schedule: a cron expression, a macro such as @daily, or '@every 90s' (required)")
	f.StringVar(&o.tz, "tz", "", "IANA time zone the schedule is evaluated in (default: the daemon's)")
	f.StringVar(&o.timeout, "timeout", "", "stop the run after this long, e.g. 30m (default: no limit)")
	f.StringVar(&o.killGrace, "kill-grace", "", "time between SIGTERM and SIGKILL when a run is stopped (default 10s)")
	f.StringArrayVar(&o.env, "env", nil, "set an environment variable, KEY=VALUE (repeatable)")
	f.StringVar(&o.dir, "dir", "", "working directory of the command")
	f.StringVar(&o.shell, "shell", "", "run this string with /bin/sh -c instead of a command")
	f.BoolVar(&o.paused, "paused", false, "add the job paused")
	return cmd
}

// spec builds and validates the job spec locally, so that bad input fails without a daemon.
// derived reports whether the name came from the command.
func (o *addOptions) spec(cmd *cobra.Command, args []string) (spec api.JobSpec, derived bool, err error) {
	switch {
	case o.cron == "":
		return spec, false, usagef(cmd, "--cron is required")
	case len(args) == 0 && o.shell == "":
		return spec, false, usagef(cmd, "give the command after --, or a shell string with --shell")
	case len(args) > 0 && o.shell != "":
		return spec, false, usagef(cmd, "give either a command after -- or --shell, not both")
	}
	spec = api.JobSpec{
		Name: o.name, Schedule: o.cron, Timezone: o.tz, Command: args, Shell: o.shell,
		Timeout: o.timeout, KillGrace: o.killGrace, Paused: o.paused,
	}
	if spec.Env, err = parseEnv(o.env); err != nil {
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
	return spec, derived, job.Validate()
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

// sanitizeName lowercases s and turns every run of other characters than a-z and 0-9 into one
// '-', giving a valid job name.
func sanitizeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	if name = strings.TrimRight(name, "-"); name == "" {
		return "job"
	}
	return name
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
	return "next run: " + j.NextRun.In(time.Local).Format(dateTimeLayout) + ", " + relative(*j.NextRun, now)
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
			jobs, err := c.ListJobs(cmd.Context())
			if err != nil {
				return err
			}
			if *out == formatJSON {
				if jobs == nil {
					jobs = []api.Job{} // [] rather than null, as the daemon sends it
				}
				return writeJSON(a.out, api.JobList{Jobs: jobs})
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

func (a *app) rmCmd() *cobra.Command {
	return &cobra.Command{
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
			if err := c.DeleteJob(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "removed job %s; its run history is kept (arbiter runs %s)\n", args[0], args[0])
			return nil
		},
	}
}

func (a *app) pauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "pause JOB",
		Short:             "Stop a job from firing until it is resumed",
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			job, err := c.PauseJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "paused job %s\n", job.Name)
			return nil
		},
	}
}

func (a *app) resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "resume JOB",
		Short:             "Let a paused job fire again",
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			job, err := c.ResumeJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "resumed job %s (%s)\n", job.Name, nextRunText(job, time.Now()))
			return nil
		},
	}
}
