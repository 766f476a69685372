package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

func TestDeriveName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv  []string
		shell string
		want  string
	}{
		{[]string{"/usr/bin/backup.sh", "--full"}, "", "backup-sh"},
		{nil, "pg_dump db | gzip", "pg-dump"},
		{nil, "PGHOST=db pg_dump x", "pg-dump"},
		{nil, "'/opt/bin/pg_dump' db", "pg-dump"},
		{[]string{"Sync_Photos.PY"}, "", "sync-photos-py"},
		{[]string{"./__init__"}, "", "init"},
		{[]string{"..."}, "", "job"},
		{[]string{"/"}, "", "job"},
		{nil, "   ", "job"},
		{[]string{"日本語"}, "", "job"},
		{[]string{strings.Repeat("ab", 40)}, "", strings.Repeat("ab", 31) + "a"},
		{[]string{strings.Repeat("a", 62) + "-b"}, "", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		if got := deriveName(tt.argv, tt.shell); got != tt.want {
			t.Errorf("deriveName(%q, %q) = %q, want %q", tt.argv, tt.shell, got, tt.want)
		}
	}
}

func TestWithSuffix(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60) + "-bc"
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"backup-sh", 2, "backup-sh-2"},
		{"backup-sh", 17, "backup-sh-17"},
		{long, 2, strings.Repeat("a", 60) + "-2"}, // the cut leaves a trailing '-', which goes
		{strings.Repeat("x", 63), 100, strings.Repeat("x", 59) + "-100"},
	}
	for _, tt := range tests {
		if got := withSuffix(tt.name, tt.n); got != tt.want || len(got) > 63 {
			t.Errorf("withSuffix(%q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

func TestAddInvalidNeedsNoDaemon(t *testing.T) {
	t.Parallel()
	sock := deadSocket(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no cron", []string{"--", "true"}, "--cron is required"},
		{"no command", []string{"--cron", "@daily"}, "give the command after --"},
		{"both", []string{"--cron", "@daily", "--shell", "x", "--", "true"}, "not both"},
		{"bad cron", []string{"--cron", "* * * * * * *", "--", "true"}, "schedule: "},
		{"bad field", []string{"--cron", "0 25 * * *", "--", "true"}, "hour"},
		{"bad zone", []string{"--cron", "@daily", "--tz", "Nowhere/Land", "--", "true"}, "unknown time zone"},
		{"bad timeout", []string{"--cron", "@daily", "--timeout", "10", "--", "true"}, "timeout: "},
		{"negative timeout", []string{"--cron", "@daily", "--timeout", "-5s", "--", "true"}, "timeout: must not be negative"},
		{"env without =", []string{"--cron", "@daily", "--env", "FOO", "--", "true"}, `--env: "FOO" is not KEY=VALUE`},
		{"env bad key", []string{"--cron", "@daily", "--env", "1X=2", "--", "true"}, "env: "},
		{"bad name", []string{"--name", "Bad Name", "--cron", "@daily", "--", "true"}, "not a valid job name"},
		{"flag after command is the command's", []string{"true", "--cron", "@daily"}, "--cron is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := cli(t, append([]string{"add", "--socket", sock}, tt.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

// jobsDaemon is a fake daemon that keeps jobs by name and records the specs it was sent.
type jobsDaemon struct {
	mu    sync.Mutex
	taken map[string]bool
	specs []api.JobSpec
}

func (d *jobsDaemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		var spec api.JobSpec
		if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
			replyError(w, 400, "invalid_argument", err.Error())
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.specs = append(d.specs, spec)
		if d.taken[spec.Name] {
			replyError(w, 409, "conflict", "job "+spec.Name+" already exists")
			return
		}
		d.taken[spec.Name] = true
		next := time.Now().Add(4*time.Minute + 30*time.Second)
		reply(w, 201, api.Job{Name: spec.Name, Schedule: spec.Schedule, NextRun: &next})
	})
	return mux
}

func TestAdd(t *testing.T) {
	t.Parallel()
	d := &jobsDaemon{taken: map[string]bool{"backup-sh": true, "backup-sh-2": true, "mine": true}}
	sock := fakeDaemon(t, d.mux())
	dir := shortDir(t)

	tests := []struct {
		name     string
		args     []string
		wantSpec api.JobSpec
		wantOut  string
		wantCode int
	}{
		{
			name: "derived name skips taken ones",
			args: []string{"--cron", "*/5 * * * *", "--tz", "UTC", "--timeout", "90s", "--env", "A=1", "--env", "B=x=y,z",
				"--dir", dir, "--paused", "--", "/usr/bin/backup.sh", "--full"},
			wantSpec: api.JobSpec{Name: "backup-sh-3", Schedule: "*/5 * * * *", Timezone: "UTC", Timeout: "90s",
				Env: map[string]string{"A": "1", "B": "x=y,z"}, Dir: dir, Paused: true, Command: []string{"/usr/bin/backup.sh", "--full"}},
			wantOut: "added job backup-sh-3 (next run: ",
		},
		{
			name:     "shell without --",
			args:     []string{"--cron", "@daily", "--shell", "pg_dump db | gzip"},
			wantSpec: api.JobSpec{Name: "pg-dump", Schedule: "@daily", Shell: "pg_dump db | gzip"},
			wantOut:  "added job pg-dump (next run: ",
		},
		{
			name:     "command without --",
			args:     []string{"--cron", "@hourly", "--name", "tidy", "find", "/tmp", "-delete"},
			wantSpec: api.JobSpec{Name: "tidy", Schedule: "@hourly", Command: []string{"find", "/tmp", "-delete"}},
			wantOut:  "added job tidy (next run: ",
		},
		{
			name:     "chosen name is never changed",
			args:     []string{"--name", "mine", "--cron", "@daily", "--", "true"},
			wantSpec: api.JobSpec{Name: "mine", Schedule: "@daily", Command: []string{"true"}},
			wantCode: 1,
		},
	}
	for _, tt := range tests {
		// Sequential: the cases share the fake's state.
		d.mu.Lock()
		d.specs = nil
		d.mu.Unlock()
		stdout, stderr, code := cli(t, append([]string{"add", "--socket", sock}, tt.args...)...)
		if code != tt.wantCode {
			t.Errorf("%s: exit %d, want %d; stderr %q", tt.name, code, tt.wantCode, stderr)
		}
		if !strings.HasPrefix(stdout, tt.wantOut) || (tt.wantOut != "" && !strings.HasSuffix(stdout, ", in 4m)\n")) {
			t.Errorf("%s: stdout %q, want %q...", tt.name, stdout, tt.wantOut)
		}
		d.mu.Lock()
		last := d.specs[len(d.specs)-1]
		d.mu.Unlock()
		if !reflect.DeepEqual(last, tt.wantSpec) {
			t.Errorf("%s: sent %+v\nwant %+v", tt.name, last, tt.wantSpec)
		}
	}
}

func TestAddRelativeDir(t *testing.T) {
	d := &jobsDaemon{taken: map[string]bool{}}
	sock := fakeDaemon(t, d.mux())
	dir := shortDir(t)
	t.Chdir(dir)
	if err := os.Mkdir("work", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli(t, "add", "--socket", sock, "--cron", "@daily", "--dir", "work", "--", "make"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := d.specs[0].Dir, filepath.Join(dir, "work"); got != want {
		t.Errorf("dir = %q, want %q", got, want)
	}
}

func TestListJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	jobs := api.JobList{Jobs: []api.Job{{Name: "a", Schedule: "@daily", Timezone: "UTC", Shell: "a && b", CreatedAt: at, UpdatedAt: at}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, jobs) })
	mux.HandleFunc("GET /v1/runs", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, api.RunList{}) })
	sock := fakeDaemon(t, mux)

	stdout, stderr, code := cli(t, "ls", "-o", "json", "--socket", sock)
	want, _ := json.MarshalIndent(jobs, "", "  ")
	if code != 0 || stdout != strings.Replace(string(want), `\u0026\u0026`, "&&", 1)+"\n" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	// An empty list is [] as the daemon would send it, never null.
	stdout, _, _ = cli(t, "runs", "-o", "json", "--socket", sock)
	if stdout != "{\n  \"runs\": []\n}\n" {
		t.Errorf("empty runs: %q", stdout)
	}
}

func TestCompleteJobNames(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, api.JobList{Jobs: []api.Job{{Name: "backup"}, {Name: "pg-dump"}}})
	})
	sock := fakeDaemon(t, mux)
	stdout, _, code := cli(t, "__complete", "--socket", sock, "show", "")
	if code != 0 || !strings.HasPrefix(stdout, "backup\npg-dump\n:4\n") {
		t.Errorf("exit %d, completions %q", code, stdout)
	}
}
