package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
	"github.com/arbiterd/arbiter/jobfile"
)

func (a *app) applyCmd() *cobra.Command {
	var dryRun, prune, yes bool
	var out *format
	cmd := &cobra.Command{
		Use:   "apply PATH... [--dry-run] [--prune] [-y]",
		Short: "Make the daemon's jobs those of job files: print the plan, then apply it at once",
		Long: `Read job files (files, directories of *.toml files, or - for stdin), print what would
change (jobs to create, to update with each changed field, and with --prune to delete), and
apply it in one transaction: all of it or nothing. Jobs remember the file they came from.
--prune deletes only jobs that came from files under the given paths and are no longer in
them; jobs made from the CLI are never pruned. At a terminal, apply asks before changing
anything unless -y is given.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, req, plan, err := a.planApply(cmd.Context(), args, prune)
			if err != nil {
				return err
			}
			if *out == formatJSON && (dryRun || !plan.Changed()) {
				return writeJSON(a.out, plan)
			}
			if *out != formatJSON {
				printPlan(a.out, plan)
			}
			if dryRun || !plan.Changed() {
				return nil
			}
			if !yes && !a.confirm("Apply these changes?") {
				return fmt.Errorf("nothing changed")
			}
			req.DryRun = false
			applied, err := c.Apply(cmd.Context(), req)
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, applied)
			}
			fmt.Fprintf(a.out, "applied: %d created, %d updated, %d deleted\n", len(applied.Create), len(applied.Update), len(applied.Delete))
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan only")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete jobs that came from files under these paths and are no longer in them")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	out = outputFlag(cmd)
	return cmd
}

func (a *app) diffCmd() *cobra.Command {
	var prune bool
	cmd := &cobra.Command{
		Use:   "diff PATH... [--prune]",
		Short: "Compare job files with the daemon's jobs: exit 0 when in sync, 1 when not",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, plan, err := a.planApply(cmd.Context(), args, prune)
			if err != nil {
				return err
			}
			printPlan(a.out, plan)
			if plan.Changed() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&prune, "prune", false, "also count jobs that --prune would delete")
	return cmd
}

// applyRequest reads the job files; any error in them stops here, before the daemon is asked.
func (a *app) applyRequest(paths []string, prune bool) (api.ApplyRequest, error) {
	jobs, errs := jobfile.LoadFrom(a.in, paths...)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(a.err, err)
		}
		return api.ApplyRequest{}, &exitError{code: 2}
	}
	req := api.ApplyRequest{Jobs: make([]api.JobSpec, 0, len(jobs)), Prune: prune}
	for _, p := range paths {
		if p == "-" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return req, err
		}
		req.Roots = append(req.Roots, abs)
	}
	for _, j := range jobs {
		spec := j.Spec
		spec.Source = "" // from stdin: an existing job keeps its source, a new one is the CLI's
		if j.Source != jobfile.StdinName {
			// Absolute, so the job is found again by --prune from any directory.
			abs, err := filepath.Abs(j.Source)
			if err != nil {
				return req, err
			}
			spec.Source = abs
		}
		req.Jobs = append(req.Jobs, spec)
	}
	return req, nil
}

// printPlan shows a plan the way terraform users expect: + create, ~ update with each field, -
// delete, then the counts.
func printPlan(w io.Writer, p api.Plan) {
	for _, j := range p.Create {
		fmt.Fprintf(w, "+ create %s (%s)\n", j.Name, j.Source)
	}
	for _, j := range p.Update {
		fmt.Fprintf(w, "~ update %s (%s)\n", j.Name, j.Source)
		for _, c := range j.Changes {
			fmt.Fprintf(w, "    %s: %s -> %s\n", c.Field, orNone(c.From), orNone(c.To))
		}
	}
	for _, j := range p.Delete {
		fmt.Fprintf(w, "- delete %s (%s)\n", j.Name, j.Source)
	}
	fmt.Fprintf(w, "plan: %d to create, %d to update, %d to delete, %d unchanged\n",
		len(p.Create), len(p.Update), len(p.Delete), len(p.Unchanged))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// confirm asks a yes/no question on a terminal; off a terminal the answer is yes, as with
// kubectl apply, so scripts and CI need no -y.
func (a *app) confirm(question string) bool {
	f, ok := a.in.(*os.File)
	if !ok {
		return true
	}
	if restore, isTerm := hideInput(f); isTerm {
		restore() // only asked to know whether it is a terminal
		fmt.Fprintf(a.err, "%s [y/N] ", question)
		line, _ := bufio.NewReader(f).ReadString('\n')
		answer := strings.ToLower(strings.TrimSpace(line))
		return answer == "y" || answer == "yes"
	}
	return true
}

// planApply reads the job files at paths and asks the daemon what applying them would do,
// changing nothing; it returns the client and request for applying it after all.
func (a *app) planApply(ctx context.Context, paths []string, prune bool) (*client.Client, api.ApplyRequest, api.Plan, error) {
	req, err := a.applyRequest(paths, prune)
	if err != nil {
		return nil, req, api.Plan{}, err
	}
	c, err := a.client()
	if err != nil {
		return nil, req, api.Plan{}, err
	}
	req.DryRun = true
	plan, err := c.Apply(ctx, req)
	return c, req, plan, err
}
