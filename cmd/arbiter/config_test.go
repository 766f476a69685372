package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arbiter.toml")
	err := os.WriteFile(path, []byte(`# The golden config.
[daemon]
data_dir = "/var/lib/arbiter"  # hidden by ARBITER_DATA_DIR
socket_group = "arbiter"
jobs_dir = "/etc/arbiter/jobs"
shutdown_grace = "1m30s"
max_running = 16
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"config", []string{"config", "--config", path, "--socket", "/run/flag.sock"}},
		{"config-json", []string{"config", "--config", path, "--socket", "/run/flag.sock", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateConfig(t)
			t.Setenv("ARBITER_DATA_DIR", "/srv/arbiter")
			t.Setenv("ARBITER_DAEMON_OUTPUT_CAP", "65536")
			stdout, stderr, code := cli(t, tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			// The file's path is the one thing that varies; it is never padded.
			golden(t, tt.name, []byte(strings.ReplaceAll(stdout, dir, "/CONFIGDIR")))
		})
	}
}

func TestConfigCommandNoFile(t *testing.T) {
	isolateConfig(t)
	t.Setenv("ARBITER_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	stdout, stderr, code := cli(t, "config", "-o", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// As root the daemon looks for the system file, else for the user's.
	if !strings.Contains(stdout, `"file": "",`) || !strings.Contains(stdout, `"searched": "/`) {
		t.Errorf("stdout = %s; want no file and the searched path", stdout)
	}
}

func TestConfigCommandErrors(t *testing.T) {
	isolateConfig(t)
	t.Setenv("ARBITER_DAEMON_SHUTDOWN_GRACE", "30")
	_, stderr, code := cli(t, "config")
	want := "arbiter: ARBITER_DAEMON_SHUTDOWN_GRACE: \"30\" is not a duration such as \"30s\" or \"1m30s\"\n"
	if code != 2 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
}

// Clients find the daemon where its config file says it listens.
func TestClientsFindTheSocketInTheConfigFile(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jobs":[]}`))
	})
	sock := fakeDaemon(t, mux)
	cfg := filepath.Join(shortDir(t), "arbiter.toml")
	if err := os.WriteFile(cfg, []byte("[daemon]\nsocket = \""+sock+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ARBITER_SOCKET", "ARBITER_DAEMON_SOCKET"} {
		t.Setenv(k, "")
	}
	t.Setenv("ARBITER_CONFIG", cfg)
	if _, stderr, code := cli(t, "ls", "-o", "json"); code != 0 {
		t.Fatalf("ls with the socket from the config file: exit %d: %s", code, stderr)
	}
}
