package main

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

func (a *app) statusCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's state; exits 0 when it answers",
		Args:  argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, st)
			}
			return renderStatus(a.out, st, time.Now(), time.Local)
		},
	}
	out = outputFlag(cmd)
	return cmd
}

// versions is the JSON answer of `arbiter version`; Daemon is null when it did not answer.
type versions struct {
	Client api.Version  `json:"client"`
	Daemon *api.Version `json:"daemon"`
}

func (a *app) versionCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of arbiter and of the daemon, if it runs",
		Args:  argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versions{Client: api.Version{Version: version, Commit: commit, Go: runtime.Version()}}
			// The daemon's answer is a bonus: without it the command still succeeds.
			daemon := "not reachable"
			if c, err := a.client(); err != nil {
				daemon += " (" + err.Error() + ")"
			} else {
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
				dv, err := c.Version(ctx)
				cancel()
				var nr *client.NotRunningError
				switch {
				case err == nil:
					v.Daemon, daemon = &dv, versionText(dv, "")
				case errors.As(err, &nr):
					daemon = "not running at " + nr.Socket
				default:
					daemon += " (" + err.Error() + ")"
				}
			}
			if *out == formatJSON {
				return writeJSON(a.out, v)
			}
			t := newTable(a.out)
			t.row("client:", versionText(v.Client, date))
			t.row("daemon:", daemon)
			return t.flush()
		},
	}
	out = outputFlag(cmd)
	return cmd
}

func versionText(v api.Version, built string) string {
	s := v.Version + " (" + v.Go
	if v.Commit != "" {
		s += ", commit " + v.Commit
	}
	if built != "" {
		s += ", built " + built
	}
	return s + ")"
}

func (a *app) completionCmd() *cobra.Command {
	shells := []string{"bash", "zsh", "fish"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script. For example:

  arbiter completion bash > /etc/bash_completion.d/arbiter
  arbiter completion zsh > "${fpath[1]}/_arbiter"
  arbiter completion fish > ~/.config/fish/completions/arbiter.fish`,
		ValidArgs: shells,
		Args:      argsNamed(1, "SHELL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.out, true)
			case "zsh":
				return root.GenZshCompletion(a.out)
			case "fish":
				return root.GenFishCompletion(a.out, true)
			}
			return usagef(cmd, "%q is not a supported shell; use bash, zsh or fish", args[0])
		},
	}
}
