package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/client"
	"github.com/arbiterd/arbiter/internal/config"
	"github.com/arbiterd/arbiter/internal/paths"
)

// annSignals marks a command that handles SIGINT and SIGTERM itself (value "self").
const annSignals = "arbiter/signals"

type streams struct {
	in       io.Reader
	out, err io.Writer
}

// app is what the commands share: the streams and the root's persistent flags.
type app struct {
	streams
	socket string
}

func newRootCmd(s streams) *cobra.Command {
	a := &app{streams: s}
	root := &cobra.Command{
		Use:   "arbiter",
		Short: "Run commands on a schedule, reliably",
		Long: `arbiter runs commands on cron schedules and keeps a record of every run.

'arbiter daemon' is the scheduler; every other command talks to it over its Unix socket.`,
		// Without Args and RunE, cobra would report an unknown command with an error we could
		// not tell apart from a failure.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q", args[0])
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += fmt.Sprintf("; did you mean %q?", s[0])
				}
				return usagef(cmd, "%s", msg)
			}
			return nil
		},
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceErrors:              true, // execute prints errors, once
		SilenceUsage:               true, // a failing request is no reason to print the usage
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	})
	root.PersistentFlags().StringVar(&a.socket, "socket", "",
		"the daemon's Unix socket (default $ARBITER_SOCKET, else the system or user socket)")

	root.AddCommand(
		a.addCmd(), a.lsCmd(), a.showCmd(), a.rmCmd(), a.pauseCmd(), a.resumeCmd(),
		a.runCmd(), a.runsCmd(), a.logsCmd(), a.cancelCmd(),
		a.applyCmd(), a.diffCmd(), a.reloadCmd(), a.nextCmd(), a.whyCmd(), a.secretCmd(), a.statusCmd(), a.versionCmd(), a.completionCmd(), a.daemonCmd(),
		a.validateCmd(), a.exportCmd(), a.configCmd(),
		a.importCmd(), a.topCmd(), a.eventsCmd(), a.manCmd(), a.doctorCmd(), a.nodesCmd(), a.storeCmd(),
	)
	return root
}

// socketPath is --socket, else the socket paths resolves from the environment.
func (a *app) socketPath() (string, error) {
	if a.socket != "" {
		return a.socket, nil
	}
	// The daemon's own settings (environment, then its config file) say where it listens. A
	// config file this user cannot read leaves the environment and the defaults.
	if cfg, err := config.Load(config.Options{}); err == nil && cfg.Sources[config.KeySocket].Origin != config.FromDefault {
		return cfg.Socket, nil
	}
	dataDir, err := paths.DataDir()
	sock := preferSystemSocket(paths.Socket(dataDir), paths.SystemSocket)
	if sock == "" {
		return "", fmt.Errorf("cannot find the daemon's socket (%v); set --socket or ARBITER_SOCKET", err)
	}
	return sock, nil
}

// preferSystemSocket picks the system daemon's socket (the packaged service's) for a user whose
// own daemon is not running there: members of group arbiter type plain `arbiter ls`, as with
// docker. The user's own socket wins whenever it exists; when neither does, the user's is the
// one named in the error.
func preferSystemSocket(user, system string) string {
	if user == system || user != "" && exists(user) {
		return user
	}
	if exists(system) {
		return system
	}
	return user
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (a *app) client() (*client.Client, error) {
	sock, err := a.socketPath()
	if err != nil {
		return nil, err
	}
	return client.New(sock), nil
}

// argsNamed accepts between min and len(names) positional arguments; the names make the
// messages say what is missing.
func argsNamed(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usagef(cmd, "missing %s", strings.Join(names[len(args):min], " and "))
		case len(args) > len(names):
			return usagef(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// completeJobs offers the daemon's job names for a command's first argument.
func (a *app) completeJobs(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	// A shell waiting on a hung daemon is worse than no completion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	jobs, err := c.ListJobs(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
