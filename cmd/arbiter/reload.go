package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Apply the daemon's jobs dir again (as SIGHUP does) and wait for the result",
		Long: `Apply the daemon's jobs dir again, as SIGHUP does, and print what changed. A jobs dir with
an error in any file changes nothing: the error is printed and the running jobs stay as they
were.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			plan, err := c.Reload(cmd.Context())
			if err != nil {
				return err
			}
			printPlan(a.out, plan)
			if plan.Applied {
				fmt.Fprintf(a.out, "applied: %d created, %d updated, %d deleted\n", len(plan.Create), len(plan.Update), len(plan.Delete))
			}
			return nil
		},
	}
}
