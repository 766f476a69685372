package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/jobfile"
)

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check job files without a daemon",
		Long: `Check job files (TOML, one [jobs.NAME] table per job) by the rules the daemon applies,
without contacting it. PATH is a file, a directory (its *.toml files) or - for stdin.

Every problem is printed on its own line as file:line:col: message, and the exit status is 2;
a clean set prints how many jobs it holds and exits 0.`,
		Example: `  arbiter validate jobs/
  arbiter validate backup.toml health.toml
  arbiter export | arbiter validate -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "missing PATH")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, errs := jobfile.LoadFrom(a.in, args...)
			if len(errs) > 0 {
				for _, err := range errs {
					fmt.Fprintln(a.err, err)
				}
				return &exitError{code: 2}
			}
			noun := "jobs"
			if len(jobs) == 1 {
				noun = "job"
			}
			fmt.Fprintf(a.out, "%d %s OK\n", len(jobs), noun)
			return nil
		},
	}
}
