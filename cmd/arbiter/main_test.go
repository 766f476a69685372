package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/client"
	"github.com/arbiterd/arbiter/tui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(withBinaryCleanup{m}) }

// cli runs the command tree in-process and returns what it printed and its exit code.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := streams{in: strings.NewReader(""), out: &out, err: &errOut}
	code = execute(context.Background(), newRootCmd(s), args, &errOut)
	return out.String(), errOut.String(), code
}

// deadSocket is a socket path nothing listens on, so that a command that wrongly contacts
// the daemon fails with exit 1 instead of passing by luck.
func deadSocket(t *testing.T) string {
	return filepath.Join(shortDir(t), "none.sock")
}

// shortDir is a temporary directory whose paths fit the 108-byte limit of socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "arb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fakeDaemon serves mux on a Unix socket and returns the socket's path. It stands in for the
// daemon where a test needs an answer; the real daemon has its own end-to-end tests.
func fakeDaemon(t *testing.T, mux *http.ServeMux) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return path
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	sock := deadSocket(t)
	tests := []struct {
		name string
		args []string
		want string // in stderr
		hint bool
	}{
		{"unknown command", []string{"lss"}, `unknown command "lss"; did you mean "ls"?`, true},
		{"unknown flag", []string{"ls", "--bogus"}, "unknown flag: --bogus", true},
		{"bad output format", []string{"ls", "-o", "yaml"}, `"yaml" is not an output format`, true},
		{"missing arg", []string{"show"}, "missing JOB", true},
		{"extra arg", []string{"show", "a", "b"}, `unexpected argument "b"`, true},
		{"cancel non-number", []string{"cancel", "abc"}, `"abc" is not a run id`, true},
		{"runs bad state", []string{"runs", "--state", "done"}, `--state: "done" is not a run state`, true},
		{"runs bad limit", []string{"runs", "--limit", "0"}, "--limit must be at least 1", true},
		{"logs bad target", []string{"logs", "Not A Job"}, "neither a run id nor a job name", true},
		{"completion shell", []string{"completion", "powershell"}, "not a supported shell", true},
		{"completion missing", []string{"completion"}, "missing SHELL", true},
		{"daemon log level", []string{"daemon", "--log-level", "loud"}, `--log-level: "loud" is not one of`, true},
		{"daemon grace", []string{"daemon", "--shutdown-grace", "-1s"}, "--shutdown-grace must not be negative", true},
		{"daemon max running", []string{"daemon", "--max-running", "0"}, "--max-running must be at least 1", true},
		{"daemon output cap", []string{"daemon", "--output-cap", "10"}, "--output-cap must be at least 1024 bytes", true},
		{"daemon grace syntax", []string{"daemon", "--shutdown-grace", "soon"}, `invalid argument "soon"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := cli(t, append(tt.args, "--socket", sock)...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "arbiter: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want arbiter: ...%s", stderr, tt.want)
			}
			if got := strings.Contains(stderr, "--help' for usage."); got != tt.hint {
				t.Errorf("hint shown = %v, want %v: %q", got, tt.hint, stderr)
			}
		})
	}
}

func TestNotRunning(t *testing.T) {
	t.Parallel()
	sock := deadSocket(t)
	for _, args := range [][]string{{"ls"}, {"status"}, {"show", "x"}, {"runs"}, {"logs", "3"}} {
		_, stderr, code := cli(t, append(args, "--socket", sock)...)
		want := "arbiter: cannot reach the arbiter daemon at " + sock + ": is `arbiter daemon` running? (set --socket or ARBITER_SOCKET to use another socket)\n"
		if code != 1 || stderr != want {
			t.Errorf("%v: exit %d, stderr %q; want 1, %q", args, code, stderr, want)
		}
	}
}

func TestSocketFromEnv(t *testing.T) {
	sock := deadSocket(t)
	t.Setenv("ARBITER_SOCKET", sock)
	if _, stderr, code := cli(t, "status"); code != 1 || !strings.Contains(stderr, sock) {
		t.Errorf("exit %d, stderr %q; want the socket from ARBITER_SOCKET", code, stderr)
	}
	other := deadSocket(t)
	if _, stderr, _ := cli(t, "status", "--socket", other); !strings.Contains(stderr, other) {
		t.Errorf("--socket did not win over ARBITER_SOCKET: %q", stderr)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"usage", &usageError{cmd: "arbiter", err: errors.New("x")}, 2},
		{"local invalid", arbiter.Invalidf("schedule", "bad"), 2},
		{"wrapped invalid", fmt.Errorf("add: %w", arbiter.Invalidf("name", "bad")), 2},
		{"api invalid", &client.APIError{Status: 400, Code: "invalid_argument"}, 2},
		{"api not found", &client.APIError{Status: 404, Code: "not_found"}, 1},
		{"api conflict", &client.APIError{Status: 409, Code: "conflict"}, 1},
		{"not running", &client.NotRunningError{Socket: "/x"}, 1},
		{"other", errors.New("boom"), 1},
		{"passed on", &exitError{code: 137}, 137},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestInterruptedIsQuiet(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	sock := fakeDaemon(t, mux)
	code := execute(ctx, newRootCmd(streams{out: &out, err: &errOut}), []string{"logs", "-f", "1", "--socket", sock}, &errOut)
	if code != 130 || errOut.Len() != 0 {
		t.Errorf("exit %d, stderr %q; want 130 and silence", code, errOut.String())
	}
}

func TestHandlesSignals(t *testing.T) {
	t.Parallel()
	root := newRootCmd(streams{})
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"daemon"}, true},
		{[]string{"daemon", "--data-dir", "/x"}, true},
		{[]string{"--socket", "/x.sock", "daemon"}, true},
		{[]string{"ls"}, false},
		{[]string{"logs", "-f", "daemon"}, false},
		{nil, false},
		{[]string{"nosuch"}, false},
	}
	for _, tt := range tests {
		if got := handlesSignals(root, tt.args); got != tt.want {
			t.Errorf("handlesSignals(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestVersionWithoutDaemon(t *testing.T) {
	t.Parallel()
	sock := deadSocket(t)
	stdout, stderr, code := cli(t, "version", "--socket", sock)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "client:  dev (go") || !strings.Contains(stdout, "daemon:  not running at "+sock) {
		t.Errorf("stdout:\n%s", stdout)
	}
	stdout, _, code = cli(t, "version", "-o", "json", "--socket", sock)
	var v versions
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != 0 || v.Client.Version != "dev" || v.Daemon != nil {
		t.Errorf("json: exit %d, %v, %+v", code, err, v)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		stdout, stderr, code := cli(t, "completion", shell)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "arbiter") {
			t.Errorf("%s: exit %d, stderr %q, %d bytes", shell, code, stderr, len(stdout))
		}
	}
}

// The dashboard's seam must stay satisfied by the one client.
var _ tui.Source = (*client.Client)(nil)

// A user without a daemon of their own reaches the system daemon's socket (the packaged
// service's); their own socket wins whenever it exists.
func TestPreferSystemSocket(t *testing.T) {
	dir := shortDir(t)
	user, system := filepath.Join(dir, "user.sock"), filepath.Join(dir, "system.sock")
	if got := preferSystemSocket(user, system); got != user {
		t.Errorf("neither exists: %s, want the user's, to name in the error", got)
	}
	if err := os.WriteFile(system, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := preferSystemSocket(user, system); got != system {
		t.Errorf("only the system socket exists: %s, want it", got)
	}
	if err := os.WriteFile(user, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := preferSystemSocket(user, system); got != user {
		t.Errorf("both exist: %s, want the user's", got)
	}
	if got := preferSystemSocket("", system); got != system {
		t.Errorf("no user socket at all: %q, want the system's", got)
	}
}
