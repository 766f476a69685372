package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter"
)

// isolateConfig points every variable the daemon's settings read at nothing, so that neither
// the caller's environment nor a config file on the machine reaches the test.
func isolateConfig(t *testing.T) {
	t.Helper()
	for _, k := range []string{"ARBITER_DATA_DIR", "ARBITER_SOCKET", "XDG_RUNTIME_DIR", "XDG_STATE_HOME",
		"ARBITER_DAEMON_DATA_DIR", "ARBITER_DAEMON_SOCKET", "ARBITER_DAEMON_SOCKET_GROUP",
		"ARBITER_DAEMON_KEY_FILE", "ARBITER_DAEMON_JOBS_DIR", "ARBITER_DAEMON_SHUTDOWN_GRACE",
		"ARBITER_DAEMON_MAX_RUNNING", "ARBITER_DAEMON_OUTPUT_CAP", "ARBITER_DAEMON_LOG_LEVEL",
		"ARBITER_DAEMON_STORE", "ARBITER_DAEMON_NODE_NAME", "ARBITER_DAEMON_ROLES", "ARBITER_DAEMON_LABELS",
		"ARBITER_DAEMON_NODE_LEASE"} {
		t.Setenv(k, "")
	}
	// An empty file: the default file of the machine, if any, is not read.
	empty := filepath.Join(t.TempDir(), "empty.toml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARBITER_CONFIG", empty)
}

// parsed is the command args select, with its flags parsed as cobra would before RunE.
func parsed(t *testing.T, args ...string) *cobra.Command {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd(streams{in: strings.NewReader(""), out: &out, err: &out})
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestDaemonConfig(t *testing.T) {
	defaults := daemonConfig{ShutdownGrace: 30 * time.Second, LogLevel: slog.LevelInfo, MaxRunning: 64, OutputCap: 1 << 20}
	with := func(edit func(c *daemonConfig)) daemonConfig {
		c := defaults
		edit(&c)
		return c
	}
	const file = `[daemon]
data_dir = "/file/data"
socket = "/file/a.sock"
socket_group = "filegroup"
jobs_dir = "jobs"
shutdown_grace = "2m"
max_running = 8
output_cap = 2048
log_level = "warn"
`
	tests := []struct {
		name string
		env  map[string]string
		file string // the config file, in the directory FILEDIR
		args []string
		want daemonConfig // relative paths are relative to the test's working directory
	}{
		{
			name: "environment",
			env:  map[string]string{"ARBITER_DATA_DIR": "/srv/arb", "ARBITER_SOCKET": "/run/a.sock"},
			want: with(func(c *daemonConfig) { c.DataDir, c.Socket = "/srv/arb", "/run/a.sock" }),
		},
		{
			name: "flags win over environment",
			env:  map[string]string{"ARBITER_DATA_DIR": "/srv/arb", "ARBITER_SOCKET": "/run/a.sock"},
			args: []string{"--data-dir", "/data", "--socket-group", "ops", "--log-level", "debug", "--shutdown-grace", "1m",
				"--max-running", "2", "--output-cap", "4096", "--socket", "/tmp/b.sock", "--jobs", "/etc/jobs", "--key-file", "/k"},
			want: daemonConfig{DataDir: "/data", Socket: "/tmp/b.sock", SocketGroup: "ops", ShutdownGrace: time.Minute,
				LogLevel: slog.LevelDebug, MaxRunning: 2, OutputCap: 4096, JobsDir: "/etc/jobs", KeyFile: "/k"},
		},
		{
			name: "relative paths become absolute",
			env:  map[string]string{"ARBITER_SOCKET": "s.sock"},
			args: []string{"--data-dir", "data", "--log-level", "WARN", "--max-running", "1", "--output-cap", "1024", "--jobs", "jobs"},
			want: with(func(c *daemonConfig) {
				c.DataDir, c.Socket, c.JobsDir, c.LogLevel, c.MaxRunning, c.OutputCap = "data", "s.sock", "jobs", slog.LevelWarn, 1, 1024
			}),
		},
		{
			name: "config file",
			file: file,
			want: daemonConfig{DataDir: "/file/data", Socket: "/file/a.sock", SocketGroup: "filegroup", JobsDir: "FILEDIR/jobs",
				ShutdownGrace: 2 * time.Minute, MaxRunning: 8, OutputCap: 2048, LogLevel: slog.LevelWarn},
		},
		{
			name: "environment over the file, flags over both",
			file: file,
			env: map[string]string{"ARBITER_DATA_DIR": "/env/data", "ARBITER_DAEMON_MAX_RUNNING": "4",
				"ARBITER_DAEMON_SOCKET_GROUP": "envgroup", "ARBITER_DAEMON_JOBS_DIR": "/env/jobs"},
			args: []string{"--max-running", "3", "--jobs", "/flag/jobs"},
			want: daemonConfig{DataDir: "/env/data", Socket: "/file/a.sock", SocketGroup: "envgroup", JobsDir: "/flag/jobs",
				ShutdownGrace: 2 * time.Minute, MaxRunning: 3, OutputCap: 2048, LogLevel: slog.LevelWarn},
		},
		{
			name: "a node of a cluster",
			args: []string{"--data-dir", "/d", "--socket", "/s", "--store", "postgres://arbiter:pw@db/arbiter",
				"--node-name", "n1", "--roles", "worker,scheduler", "--label", "gpu", "--label", "ssd,eu", "--node-lease", "5s"},
			want: with(func(c *daemonConfig) {
				c.DataDir, c.Socket, c.Store, c.NodeName = "/d", "/s", "postgres://arbiter:pw@db/arbiter", "n1"
				c.Roles, c.Labels, c.NodeLease = []arbiter.Role{arbiter.RoleScheduler, arbiter.RoleWorker}, []string{"eu", "gpu", "ssd"}, 5*time.Second
			}),
		},
		{
			name: "a flag left at its default does not hide the file",
			file: file,
			args: []string{"--log-level", "error"},
			want: daemonConfig{DataDir: "/file/data", Socket: "/file/a.sock", SocketGroup: "filegroup", JobsDir: "FILEDIR/jobs",
				ShutdownGrace: 2 * time.Minute, MaxRunning: 8, OutputCap: 2048, LogLevel: slog.LevelError},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateConfig(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"daemon"}, tt.args...)
			fileDir := ""
			if tt.file != "" {
				fileDir = t.TempDir()
				path := filepath.Join(fileDir, "arbiter.toml")
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
			}
			cwd := shortDir(t)
			t.Chdir(cwd)
			want := tt.want
			want.Version, want.Commit = version, commit
			for _, p := range []*string{&want.DataDir, &want.Socket, &want.JobsDir} {
				if *p = strings.Replace(*p, "FILEDIR", fileDir, 1); *p != "" && !filepath.IsAbs(*p) {
					*p = filepath.Join(cwd, *p)
				}
			}
			if want.Roles == nil {
				want.Roles = arbiter.Roles
			}
			if want.NodeLease == 0 {
				want.NodeLease = 10 * time.Second
			}
			got, err := daemonSettings(parsed(t, args...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestDaemonConfigErrors: a bad flag is a usage error with the hint; a bad variable or file
// is invalid input (exit 2) without it.
func TestDaemonConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		args []string
		want string
		hint bool
	}{
		{"flag", nil, "", []string{"--max-running", "0"}, "arbiter: --max-running must be at least 1\n", true},
		{"env", map[string]string{"ARBITER_DAEMON_MAX_RUNNING": "x"}, "",
			nil, "arbiter: ARBITER_DAEMON_MAX_RUNNING: \"x\" is not a whole number\n", false},
		{"file", nil, "[daemon]\nmax_runing = 3\n",
			nil, "arbiter: FILE:2:1: unknown key \"max_runing\" (did you mean \"max_running\"?)\n", false},
		{"missing file", map[string]string{"ARBITER_CONFIG": "/nonexistent/arbiter.toml"}, "",
			nil, "arbiter: config file /nonexistent/arbiter.toml: no such file (named by $ARBITER_CONFIG)\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateConfig(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"daemon", "--socket", deadSocket(t)}, tt.args...)
			want := tt.want
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "arbiter.toml")
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
				want = strings.Replace(want, "FILE", path, 1)
			}
			if tt.hint {
				want += "Run 'arbiter daemon --help' for usage.\n"
			}
			stdout, stderr, code := cli(t, args...)
			if code != 2 || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, %q", code, stdout, stderr, want)
			}
		})
	}
}
