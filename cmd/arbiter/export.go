package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/jobfile"
)

func (a *app) exportCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export [JOB...] [-o FILE]",
		Short: "Write jobs as a TOML job file",
		Long: `Write the daemon's jobs (all of them, or the ones named) as a TOML job file, to stdout
or to FILE. Settings that are the defaults are left out. Secret values are never exported:
environment values such as secret:pg stay references.`,
		Example: `  arbiter export > jobs.toml
  arbiter export backup health -o jobs/ops.toml`,
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var jobs []api.Job
			if len(args) == 0 {
				if jobs, err = c.ListJobs(cmd.Context()); err != nil {
					return err
				}
				slices.SortFunc(jobs, func(x, y api.Job) int { return strings.Compare(x.Name, y.Name) })
			}
			for _, name := range args {
				j, err := c.GetJob(cmd.Context(), name)
				if err != nil {
					return err
				}
				jobs = append(jobs, j)
			}
			specs := make([]api.JobSpec, len(jobs))
			for i, j := range jobs {
				specs[i] = specOf(j)
			}
			// Encoded in full before anything is written, so that a failure leaves FILE as it was.
			var buf bytes.Buffer
			if err := jobfile.Encode(&buf, specs); err != nil {
				return err
			}
			if file == "" {
				_, err := a.out.Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "write to `FILE` instead of stdout")
	return cmd
}

// specOf turns a job as the daemon reports it back into the spec that makes the same job:
// applying it changes nothing. The daemon reports every setting, defaults included, with
// durations as Go prints them ("5m0s"); defaults are left out and durations shortened
// ("5m"), and a catch-up of 0s becomes "0", which turns it off ("" would mean the default).
func specOf(j api.Job) api.JobSpec {
	s := api.JobSpec{
		Name: j.Name, Schedule: j.Schedule, Timezone: j.Timezone,
		Command: j.Command, Shell: j.Shell, Dir: j.Dir, Env: j.Env, Labels: j.Labels,
		Timeout:    shortDuration(j.Timeout, 0),
		KillGrace:  shortDuration(j.KillGrace, arbiter.DefaultKillGrace),
		Catchup:    shortDuration(j.Catchup, arbiter.DefaultCatchup),
		RetryDelay: shortDuration(j.RetryDelay, arbiter.DefaultRetryDelay),
		Jitter:     shortDuration(j.Jitter, 0),
		Retries:    j.Retries,
		Paused:     j.Paused,
	}
	if j.Overlap != string(arbiter.OverlapSkip) {
		s.Overlap = j.Overlap
	}
	return s
}

// shortDuration is the duration text d without its zero units ("1h0m0s" → "1h"), or "" when
// it is the default def; a zero that is not the default is "0". Text that is not a duration
// is kept as it is.
func shortDuration(d string, def time.Duration) string {
	if d == "" {
		return ""
	}
	v, err := time.ParseDuration(d)
	if err != nil {
		return d
	}
	if v == def {
		return ""
	}
	if v == 0 {
		return "0"
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
