package main

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

func intp(n int) *int { return &n }

func TestRunExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  api.Run
		want int
	}{
		{"succeeded", api.Run{State: "succeeded", ExitCode: intp(0)}, 0},
		{"failed", api.Run{State: "failed", ExitCode: intp(3)}, 3},
		{"timed out", api.Run{State: "timed_out", ExitCode: intp(-1), Signal: "SIGTERM"}, 124},
		{"killed", api.Run{State: "failed", ExitCode: intp(-1), Signal: "SIGKILL"}, 137},
		{"cancelled while running", api.Run{State: "cancelled", ExitCode: intp(-1), Signal: "SIGTERM"}, 143},
		{"cancelled before start", api.Run{State: "cancelled"}, 1},
		{"lost", api.Run{State: "lost"}, 1},
		{"could not start", api.Run{State: "failed", Reason: "no such file"}, 1},
		{"unknown signal", api.Run{State: "failed", Signal: "SIGWHAT"}, 1},
	}
	for _, tt := range tests {
		if got := runExitCode(tt.run); got != tt.want {
			t.Errorf("%s: runExitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRunSummary(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(1200 * time.Millisecond)
	tests := []struct {
		run  api.Run
		want string
	}{
		{api.Run{ID: 12, State: "failed", ExitCode: intp(3), StartedAt: &start, FinishedAt: &end}, "run 12 failed: exit 3 after 1.2s"},
		{api.Run{ID: 12, State: "succeeded", ExitCode: intp(0), StartedAt: &start, FinishedAt: &end}, "run 12 succeeded after 1.2s"},
		{api.Run{ID: 5, State: "timed_out", Signal: "SIGTERM", StartedAt: &start, FinishedAt: &end}, "run 5 timed out: killed by SIGTERM after 1.2s"},
		{api.Run{ID: 6, State: "cancelled", Reason: "cancelled by uid:1000"}, "run 6 cancelled: cancelled by uid:1000"},
	}
	for _, tt := range tests {
		if got := runSummary(tt.run); got != tt.want {
			t.Errorf("runSummary = %q, want %q", got, tt.want)
		}
	}
}

// runMux is a fake daemon with one run that ends as final once its output was streamed.
func runMux(final api.Run, output string) *http.ServeMux {
	var streamed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs/{name}/trigger", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 202, api.Run{ID: final.ID, Job: r.PathValue("name"), State: "queued", Trigger: "manual"})
	})
	mux.HandleFunc("GET /v1/runs/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "1" {
			http.Error(w, "want follow", 400)
			return
		}
		io.WriteString(w, output)
		streamed.Store(true)
	})
	mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !streamed.Load() {
			reply(w, 200, api.Run{ID: final.ID, State: "running"})
			return
		}
		reply(w, 200, final)
	})
	return mux
}

func TestRunWait(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Second)
	tests := []struct {
		name       string
		final      api.Run
		wantCode   int
		wantStatus string
	}{
		{"succeeded", api.Run{ID: 12, State: "succeeded", ExitCode: intp(0), StartedAt: &start, FinishedAt: &end}, 0, "run 12 succeeded after 2s"},
		{"failed", api.Run{ID: 12, State: "failed", ExitCode: intp(3), StartedAt: &start, FinishedAt: &end}, 3, "run 12 failed: exit 3 after 2s"},
		{"killed", api.Run{ID: 12, State: "failed", ExitCode: intp(-1), Signal: "SIGKILL", StartedAt: &start, FinishedAt: &end}, 137, "run 12 failed: killed by SIGKILL after 2s"},
		{"timed out", api.Run{ID: 12, State: "timed_out", Signal: "SIGTERM", StartedAt: &start, FinishedAt: &end}, 124, "run 12 timed out: killed by SIGTERM after 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sock := fakeDaemon(t, runMux(tt.final, "hello\nworld\n"))
			stdout, stderr, code := cli(t, "run", "--wait", "backup", "--socket", sock)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr)
			}
			if stdout != "hello\nworld\n" {
				t.Errorf("stdout = %q, want the run's output only", stdout)
			}
			if want := "run 12 of backup triggered\n" + tt.wantStatus + "\n"; stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestRunNoWait(t *testing.T) {
	t.Parallel()
	sock := fakeDaemon(t, runMux(api.Run{ID: 41}, ""))
	stdout, stderr, code := cli(t, "run", "backup", "--socket", sock)
	if code != 0 || stdout != "41\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestLogsOfJob(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("job") == "empty" {
			reply(w, 200, api.RunList{Runs: []api.Run{}})
			return
		}
		if q.Get("job") != "backup" || q.Get("limit") != "1" || strings.Contains(q.Get("state"), "skipped") {
			http.Error(w, "unexpected query "+r.URL.RawQuery, 400)
			return
		}
		reply(w, 200, api.RunList{Runs: []api.Run{{ID: 77}}})
	})
	mux.HandleFunc("GET /v1/runs/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "output of "+r.PathValue("id")+" follow="+r.URL.Query().Get("follow")+"\n")
	})
	sock := fakeDaemon(t, mux)
	tests := []struct {
		args []string
		out  string
		code int
	}{
		{[]string{"logs", "backup"}, "output of 77 follow=\n", 0},
		{[]string{"logs", "-f", "backup"}, "output of 77 follow=1\n", 0},
		{[]string{"logs", "5"}, "output of 5 follow=\n", 0},
		{[]string{"logs", "empty"}, "", 1},
	}
	for _, tt := range tests {
		stdout, stderr, code := cli(t, append(tt.args, "--socket", sock)...)
		if stdout != tt.out || code != tt.code {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tt.args, code, stdout, stderr)
		}
	}
}
