package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter/client"
	"github.com/arbiterd/arbiter/tui"
)

// The dashboard knows the daemon only through tui.Source (DESIGN.md's arrows: tui → api).
var _ tui.Source = (*client.Client)(nil)

func (a *app) topCmd() *cobra.Command {
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch jobs, runs and output live in a terminal dashboard, and act on them",
		Long: `top shows every job with its next fire, last runs and state, live, and lets you act on them.

Keys: ↑/↓ or j/k move, g/G first/last, enter opens a job's runs and then a run's log, l opens
the log of the selected run, esc goes back, / filters (or searches a log), s changes the sort,
r runs the job now, p pauses or resumes it, c cancels the running run, d deletes the job (after
asking), ? shows every key, q quits.

It follows the daemon's event stream, and reconnects by itself when the daemon restarts.
NO_COLOR (or TERM=dumb) gives a monochrome screen; --readonly disables every action.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock, err := a.socketPath()
			if err != nil {
				return err
			}
			in, inOK := a.in.(*os.File)
			out, outOK := a.out.(*os.File)
			if !inOK || !outOK || !isTerminal(in) || !isTerminal(out) {
				return errors.New("arbiter top needs a terminal; in scripts use arbiter ls, runs, or logs -f")
			}
			return tui.Run(cmd.Context(), client.New(sock), tui.Options{
				ReadOnly: readOnly,
				NoColor:  os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
				Socket:   sock,
			})
		},
	}
	cmd.Flags().BoolVar(&readOnly, "readonly", false, "only watch: running, pausing, cancelling and deleting are disabled")
	return cmd
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}
