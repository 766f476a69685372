package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

func (a *app) eventsCmd() *cobra.Command {
	var (
		out    *format
		job    string
		n      int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events [--job JOB] [-n N] [-f]",
		Short: "Print the event log: job changes, runs starting and ending, secrets read",
		Long: `Print the newest events of the log, oldest first: jobs created, changed, paused and deleted,
runs queued, running and ended, secrets read by runs, with who did it.

With -f, keep printing each event as it happens, until interrupted. -o json prints one JSON
object a line, as GET /v1/events does.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job != "" {
				if err := arbiter.ValidateName(job); err != nil {
					return usagef(cmd, "--job: %v", err)
				}
			}
			if n < 1 || n > 1000 {
				return usagef(cmd, "-n must be from 1 to 1000, got %d", n)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// Following starts from the newest event of all, read before the listing: a job's
			// last event may be old, and the stream would replay every job's events since.
			var after int64
			if follow {
				st, err := c.Status(ctx)
				if err != nil {
					return err
				}
				after = st.LastEventID
			}
			events, err := c.Events(ctx, client.EventsQuery{Job: job, Limit: n, Latest: true})
			if err != nil {
				return err
			}
			print := eventPrinter(a.out, *out)
			for _, e := range events {
				if err := print(e); err != nil {
					return err
				}
				after = max(after, e.ID) // listed already: not again from the stream
			}
			if !follow {
				return nil
			}
			err = c.WatchEvents(ctx, after, func(e api.Event) error {
				if job != "" && e.Job != job {
					return nil
				}
				return print(e)
			})
			if ctx.Err() != nil {
				return nil // interrupted: the way to stop following
			}
			return err
		},
	}
	out = outputFlag(cmd)
	cmd.Flags().StringVar(&job, "job", "", "only the events of this job")
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "how many of the newest events to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing events as they happen")
	_ = cmd.RegisterFlagCompletionFunc("job", a.completeJobs)
	return cmd
}

// eventPrinter prints one event a line: a JSON object, or columns wide enough for the usual
// kinds and names so that a followed log stays aligned without knowing what comes next.
func eventPrinter(w io.Writer, f format) func(api.Event) error {
	if f == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(e api.Event) error { return enc.Encode(e) }
	}
	return func(e api.Event) error {
		run := ""
		if e.RunID != 0 {
			run = fmt.Sprintf("run %d", e.RunID)
		}
		line := fmt.Sprintf("%s  %-14s %-20s %-10s %-9s %s",
			e.At.In(time.Local).Format("2006-01-02 15:04:05"), e.Kind, orDash(e.Job), run, e.Actor, e.Detail)
		_, err := fmt.Fprintln(w, strings.TrimRight(line, " "))
		return err
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
