package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestDaemonConfig(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		flags  daemonFlags
		socket string       // --socket
		want   daemonConfig // relative paths are relative to the test's working directory
	}{
		{
			name:  "environment",
			env:   map[string]string{"ARBITER_DATA_DIR": "/srv/arb", "ARBITER_SOCKET": "/run/a.sock"},
			flags: daemonFlags{logLevel: "info", shutdownGrace: 30 * time.Second, maxRunning: 64, outputCap: 1 << 20},
			want:  daemonConfig{DataDir: "/srv/arb", Socket: "/run/a.sock", ShutdownGrace: 30 * time.Second, LogLevel: slog.LevelInfo, MaxRunning: 64, OutputCap: 1 << 20},
		},
		{
			name:   "flags win over environment",
			env:    map[string]string{"ARBITER_DATA_DIR": "/srv/arb", "ARBITER_SOCKET": "/run/a.sock"},
			flags:  daemonFlags{dataDir: "/data", socketGroup: "ops", logLevel: "debug", shutdownGrace: time.Minute, maxRunning: 2, outputCap: 4096},
			socket: "/tmp/b.sock",
			want:   daemonConfig{DataDir: "/data", Socket: "/tmp/b.sock", SocketGroup: "ops", ShutdownGrace: time.Minute, LogLevel: slog.LevelDebug, MaxRunning: 2, OutputCap: 4096},
		},
		{
			name:  "relative paths become absolute",
			env:   map[string]string{"ARBITER_SOCKET": "s.sock"},
			flags: daemonFlags{dataDir: "data", logLevel: "WARN", maxRunning: 1, outputCap: 1024},
			want:  daemonConfig{DataDir: "data", Socket: "s.sock", LogLevel: slog.LevelWarn, MaxRunning: 1, OutputCap: 1024},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"ARBITER_DATA_DIR", "ARBITER_SOCKET", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"} {
				t.Setenv(k, tt.env[k])
			}
			cwd := shortDir(t)
			t.Chdir(cwd)
			want := tt.want
			want.Version, want.Commit = version, commit
			for _, p := range []*string{&want.DataDir, &want.Socket} {
				if !filepath.IsAbs(*p) {
					*p = filepath.Join(cwd, *p)
				}
			}
			got, err := tt.flags.config(&cobra.Command{Use: "daemon"}, tt.socket)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("config =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
