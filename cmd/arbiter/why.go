package main

import (
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// maxProseWidth is where explanations wrap, on a wider terminal and off a terminal: lines
// longer than this read badly.
const maxProseWidth = 100

func (a *app) whyCmd() *cobra.Command {
	var (
		out *format
		at  string
	)
	cmd := &cobra.Command{
		Use:   "why JOB [--at TIME]",
		Short: "Explain what happened, or will happen, to a job's fire",
		Long: `Explain what happened, or will happen, to the job's first fire at or after --at (default:
now): whether it ran, was skipped, queued, retried, caught up or missed, and why. The runs and
records of that fire follow.

TIME is RFC 3339 (2026-11-22T14:00:00+01:00) or a local time such as '2026-11-22 14:00'.`,
		Example: `  arbiter why backup-sh
  arbiter why backup-sh --at '2026-11-22 03:00'`,
		Args:              argsNamed(1, "JOB"),
		ValidArgsFunction: a.completeJobs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t time.Time // zero: the daemon's now, to the nanosecond, so "now" is never a fire just past
			if at != "" {
				var err error
				if t, err = parseTime(at, time.Local); err != nil {
					return arbiter.Invalidf("--at", "%q is not a time; %s", at, timeForms)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			why, err := c.Why(cmd.Context(), args[0], t)
			if err != nil {
				return err
			}
			if *out == formatJSON {
				if why.Runs == nil {
					why.Runs = []api.Run{} // [] rather than null, as the daemon sends it
				}
				return writeJSON(a.out, why)
			}
			return renderWhy(a.out, why, time.Now(), time.Local, proseWidth(a.out))
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "explain the first fire at or after `TIME` (default: now)")
	out = outputFlag(cmd)
	return cmd
}

// renderWhy prints the explanation wrapped to width, then the runs of the fire, if any, in a
// table without the job and fire columns that the explanation already gives.
func renderWhy(w io.Writer, why api.Why, now time.Time, loc *time.Location, width int) error {
	if _, err := io.WriteString(w, wrap(why.Explanation, width)); err != nil {
		return err
	}
	if len(why.Runs) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	t := newTable(w, "ID", "STATE", "TRIGGER", "ATTEMPT", "STARTED", "DURATION", "EXIT", "REASON")
	for _, r := range why.Runs {
		c := cellsOf(r, now, loc)
		t.row(c.id, r.State, r.Trigger, c.attempt, c.started, c.took, c.exit, c.reason)
	}
	return t.flush()
}

// wrap breaks text into lines of at most width columns at spaces, keeping its own line breaks;
// a word longer than width gets a line of its own. Control characters become spaces, as in
// tables, so that the daemon's text cannot drive the terminal.
func wrap(text string, width int) string {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		col := 0
		for _, word := range strings.Fields(oneLine(para)) {
			n := len([]rune(word))
			switch {
			case col == 0:
			case col+1+n > width:
				b.WriteByte('\n')
				col = 0
			default:
				b.WriteByte(' ')
				col++
			}
			b.WriteString(word)
			col += n
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// proseWidth is the terminal's width when w is one, at most maxProseWidth.
func proseWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return min(int(ws.Col), maxProseWidth)
		}
	}
	return maxProseWidth
}
