package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/internal/config"
)

func (a *app) configCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the daemon's effective configuration and where each value comes from",
		Long: `Show the settings 'arbiter daemon' would run with, without contacting a daemon, and where
each value comes from: a flag, an environment variable, the config file (with its line) or the
default. Flags win over the environment (ARBITER_DAEMON_<KEY>, and ARBITER_DATA_DIR and
ARBITER_SOCKET), which wins over the config file, which wins over the defaults.

The config file is --config, else $ARBITER_CONFIG, else /etc/arbiter/arbiter.toml for root,
else $XDG_CONFIG_HOME/arbiter/config.toml (~/.config/arbiter/config.toml). A missing default
file is fine; a missing file named by --config or $ARBITER_CONFIG is an error.

  [daemon]
  data_dir = "/var/lib/arbiter"
  socket = "/run/arbiter/arbiter.sock"
  socket_group = "arbiter"
  key_file = "/etc/arbiter/secret.key"
  jobs_dir = "/etc/arbiter/jobs"
  shutdown_grace = "30s"
  max_running = 64
  output_cap = 1048576
  log_level = "info"

Relative paths in the file are relative to the file's directory.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, configJSON(r))
			}
			return renderConfig(a.out, r)
		},
	}
	configFlag(cmd)
	out = outputFlag(cmd)
	return cmd
}

// configView is the JSON form of `arbiter config`.
type configView struct {
	File     string          `json:"file"`      // "" when no file was read
	FileFrom string          `json:"file_from"` // --config, $ARBITER_CONFIG or default; "" without a file
	Searched string          `json:"searched,omitempty"`
	Settings []configSetting `json:"settings"`
}

type configSetting struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"` // default, flag --NAME, env NAME, file PATH:LINE
}

func configJSON(r *config.Resolved) configView {
	v := configView{File: r.File, FileFrom: r.FileFrom, Searched: r.Searched, Settings: []configSetting{}}
	for _, s := range r.Settings() {
		v.Settings = append(v.Settings, configSetting{Key: s.Key, Value: s.Value, Source: s.Source.String()})
	}
	return v
}

func renderConfig(w io.Writer, r *config.Resolved) error {
	file := "none"
	switch {
	case r.File != "":
		file = fmt.Sprintf("%s (%s)", r.File, r.FileFrom)
	case r.Searched != "":
		file = fmt.Sprintf("none (%s does not exist)", r.Searched)
	}
	if _, err := fmt.Fprintf(w, "Config file: %s\n\n", file); err != nil {
		return err
	}
	t := newTable(w, "KEY", "VALUE", "SOURCE")
	for _, s := range r.Settings() {
		value := fmt.Sprint(s.Value)
		if value == "" {
			value = "-"
		}
		t.row(s.Key, value, s.Source.String())
	}
	return t.flush()
}
