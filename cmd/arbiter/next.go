package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
)

// maxNext bounds -n; more fire times than this are no longer a preview.
const maxNext = 10000

func (a *app) nextCmd() *cobra.Command {
	var (
		out      *format
		n        int
		from, tz string
	)
	cmd := &cobra.Command{
		Use:   "next EXPR [-n N] [--from TIME] [--tz ZONE]",
		Short: "Print the next fire times of a schedule",
		Long: `Print the next fire times of a schedule, strictly after --from (default: now), the way
the scheduler will fire them, daylight-saving changes included. Needs no daemon.`,
		Example: `  arbiter next '30 2 * * *' --tz Europe/Berlin --from 2026-03-28T00:00:00Z -n 3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef(cmd, "give the expression as one quoted argument, e.g. arbiter next '*/5 * * * *'")
			}
			return argsNamed(1, "EXPR")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// Check everything before printing anything, so bad input leaves stdout empty.
			if n < 1 || n > maxNext {
				return usagef(cmd, "-n must be between 1 and %d", maxNext)
			}
			loc, err := arbiter.LoadZone(tz)
			if err != nil {
				return err
			}
			start := time.Now()
			if from != "" {
				if start, err = time.Parse(time.RFC3339, from); err != nil {
					return arbiter.Invalidf("--from", "%q is not an RFC 3339 time such as 2026-03-01T09:00:00Z", from)
				}
			}
			sched, err := arbiter.ParseSchedule(args[0], loc)
			if err != nil {
				return err
			}
			times := make([]string, 0, n)
			last := start
			for range n {
				t := sched.Next(last)
				if t.IsZero() {
					break
				}
				times = append(times, t.In(loc).Format(time.RFC3339))
				last = t
			}
			if *out == formatJSON {
				err = writeJSON(a.out, times)
			} else {
				for _, t := range times {
					fmt.Fprintln(a.out, t)
				}
			}
			if err == nil && len(times) < n {
				err = fmt.Errorf("schedule %q never fires after %s", args[0], last.In(loc).Format(time.RFC3339))
			}
			return err
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 5, "how many fire times to print")
	cmd.Flags().StringVar(&from, "from", "", "start after this RFC 3339 time (default: now)")
	cmd.Flags().StringVar(&tz, "tz", "", "IANA time zone to evaluate the schedule in (default: local)")
	out = outputFlag(cmd)
	return cmd
}
