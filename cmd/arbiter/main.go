// Command arbiter is the job scheduler. `arbiter daemon` runs the scheduler; every other
// subcommand is a client that talks to the daemon over its Unix socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // so --tz and job zones work on systems without /usr/share/zoneinfo

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
)

// Set at build time: go build -ldflags "-X main.version=1.2.0 -X main.commit=abc123 -X main.date=...".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() { os.Exit(realMain()) }

func realMain() int {
	s := streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	root := newRootCmd(s)
	args := os.Args[1:]
	ctx := context.Background()
	// The daemon handles signals itself: it must see a second SIGINT to cut its shutdown grace
	// short, and a NotifyContext here would swallow it.
	if !handlesSignals(root, args) {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return execute(ctx, root, args, s.err)
}

// handlesSignals reports whether the command args select installs its own signal handling.
func handlesSignals(root *cobra.Command, args []string) bool {
	cmd, _, err := root.Find(args)
	return err == nil && cmd.Annotations[annSignals] == "self"
}

// execute runs the command tree and turns its error into an exit code, printing the error
// once.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return 130 // interrupted: the user knows, so say nothing (128 + SIGINT, like a shell)
	}
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "arbiter: %s\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmd)
		}
	}
	return exitCode(err)
}

// exitCode maps an error to the exit status: 2 for usage errors and invalid input (found
// locally or by the daemon), 1 for everything else.
func exitCode(err error) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.Is(err, arbiter.ErrInvalid):
		return 2
	}
	return 1
}

// usageError is a mistake in the command line itself; the user gets a hint to read --help.
type usageError struct {
	cmd string // the command's path, for the hint
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// exitError ends the program with code after the command has said everything itself, as
// `run --wait` does when passing on the job's exit status.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
