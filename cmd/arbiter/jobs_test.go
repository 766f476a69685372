package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
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
	// A daemon that counts what reaches it: bad input must fail before any request.
	var calls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		replyError(w, 500, "internal", "the daemon was contacted")
	})
	sock := fakeDaemon(t, mux)
	cmd := []string{"--", "true"}
	tests := []struct {
		name string
		args []string
		want string
		hint bool // the usage hint follows the message
	}{
		{"no schedule", cmd, "give a schedule: --cron EXPR, or --at TIME or --in DURATION for a one-off job", true},
		{"cron and at", append([]string{"--cron", "@daily", "--at", "2099-01-01T00:00:00Z"}, cmd...), "give only one of --cron, --at and --in", true},
		{"at and in", append([]string{"--at", "2099-01-01T00:00:00Z", "--in", "5m"}, cmd...), "give only one of --cron, --at and --in", true},
		{"all three", append([]string{"--cron", "@daily", "--at", "2099-01-01T00:00:00Z", "--in", "5m"}, cmd...), "give only one of", true},
		{"no command", []string{"--cron", "@daily"}, "give the command after --", true},
		{"no command one-off", []string{"--in", "5m"}, "give the command after --", true},
		{"both", []string{"--cron", "@daily", "--shell", "x", "--", "true"}, "not both", true},
		{"bad cron", []string{"--cron", "* * * * * * *", "--", "true"}, "schedule: ", false},
		{"bad field", []string{"--cron", "0 25 * * *", "--", "true"}, "hour", false},
		{"bad zone", []string{"--cron", "@daily", "--tz", "Nowhere/Land", "--", "true"}, "unknown time zone", false},
		{"bad timeout", []string{"--cron", "@daily", "--timeout", "10", "--", "true"}, "timeout: ", false},
		{"negative timeout", []string{"--cron", "@daily", "--timeout", "-5s", "--", "true"}, "timeout: must not be negative", false},
		{"env without =", []string{"--cron", "@daily", "--env", "FOO", "--", "true"}, `--env: "FOO" is not KEY=VALUE`, false},
		{"env bad key", []string{"--cron", "@daily", "--env", "1X=2", "--", "true"}, "env: ", false},
		{"bad name", []string{"--name", "Bad Name", "--cron", "@daily", "--", "true"}, "not a valid job name", false},
		{"bad name one-off", []string{"--name", "Bad Name", "--in", "1h", "--", "true"}, "not a valid job name", false},
		{"flag after command is the command's", []string{"true", "--cron", "@daily"}, "give a schedule", true},

		{"overlap unknown", []string{"--cron", "@daily", "--overlap", "never", "--", "true"}, `--overlap: "never" is not one of skip, queue, allow, replace`, false},
		{"overlap is case-sensitive", []string{"--cron", "@daily", "--overlap", "Skip", "--", "true"}, `--overlap: "Skip" is not one of`, false},
		{"catchup not a duration", []string{"--cron", "@daily", "--catchup", "5", "--", "true"}, `--catchup: "5" is not a duration`, false},
		{"catchup negative", []string{"--cron", "@daily", "--catchup", "-1m", "--", "true"}, "--catchup: must not be negative; use 0 to turn catch-up off", false},
		{"retries too many", []string{"--cron", "@daily", "--retries", "101", "--", "true"}, "--retries: 101 is out of range 0-100", false},
		{"retries negative", []string{"--cron", "@daily", "--retries", "-1", "--", "true"}, "--retries: -1 is out of range 0-100", false},
		{"retries not a number", []string{"--cron", "@daily", "--retries", "three", "--", "true"}, `invalid argument "three" for "--retries"`, true},
		{"retry delay not a duration", []string{"--cron", "@daily", "--retries", "2", "--retry-delay", "soon", "--", "true"}, `--retry-delay: "soon" is not a duration`, false},
		{"retry delay zero", []string{"--cron", "@daily", "--retries", "2", "--retry-delay", "0", "--", "true"}, "--retry-delay: must be positive", false},
		{"retry delay negative", []string{"--cron", "@daily", "--retries", "2", "--retry-delay", "-1s", "--", "true"}, "--retry-delay: must be positive", false},
		{"retry delay over the cap", []string{"--cron", "@daily", "--retries", "2", "--retry-delay", "2h", "--", "true"}, "--retry-delay: 2h is more than the backoff's cap of 1h", false},
		{"retry delay without retries", []string{"--cron", "@daily", "--retry-delay", "30s", "--", "true"}, "--retry-delay: has no effect without --retries N", false},
		{"jitter not a duration", []string{"--cron", "@daily", "--jitter", "a bit", "--", "true"}, `--jitter: "a bit" is not a duration`, false},
		{"jitter negative", []string{"--cron", "@daily", "--jitter", "-5s", "--", "true"}, "--jitter: must not be negative", false},

		{"at not a time", []string{"--at", "tomorrow", "--", "true"}, `--at: "tomorrow" is not a time; use RFC 3339 (2026-12-01T09:00:00Z) or a local time`, false},
		{"at with a fraction", []string{"--at", "2099-12-01T09:00:00.5Z", "--", "true"}, "schedule: ", false},
		{"at in a DST gap", []string{"--at", "2099-03-29 02:30", "--tz", "Europe/Berlin", "--", "true"}, "schedule: @at 2099-03-29 02:30", false},
		{"at date only", []string{"--at", "2099-12-01", "--", "true"}, `--at: "2099-12-01" is not a time`, false},
		{"at in the past", []string{"--at", "2020-01-01T00:00:00Z", "--", "true"}, `--at: "2020-01-01T00:00:00Z" is in the past`, false},
		{"at local in the past", []string{"--at", "2020-01-01 09:00", "--tz", "Europe/Berlin", "--", "true"}, `--at: "2020-01-01 09:00" is in the past`, false},
		{"at bad zone", []string{"--at", "2099-12-01 09:00", "--tz", "Nowhere/Land", "--", "true"}, "unknown time zone", false},
		{"in not a duration", []string{"--in", "an hour", "--", "true"}, `--in: "an hour" is not a duration`, false},
		{"in zero", []string{"--in", "0s", "--", "true"}, "--in: must be positive", false},
		{"in negative", []string{"--in", "-5m", "--", "true"}, "--in: must be positive", false},
		{"one-off bad policy", []string{"--in", "5m", "--overlap", "later", "--", "true"}, `--overlap: "later"`, false},

		{"label upper case", []string{"--cron", "@daily", "--label", "GPU", "--", "true"},
			`--label: "GPU" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`, false},
		{"label key=value", []string{"--cron", "@daily", "--label", "region=eu", "--", "true"}, `--label: "region=eu" is not a valid label`, false},
		{"label empty", []string{"--cron", "@daily", "--label", "", "--", "true"}, `--label: "" is not a valid label`, false},
		{"label list with a hole", []string{"--cron", "@daily", "--label", "gpu,,eu", "--", "true"}, `--label: "" is not a valid label`, false},
		{"too many labels", []string{"--cron", "@daily", "--label", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", "--label", "q,a", "--", "true"},
			"--label: 17 labels; a job may require at most 16", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := cli(t, append([]string{"add", "--socket", sock}, tt.args...)...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "arbiter: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tt.want)
			}
			if got := strings.Contains(stderr, "--help' for usage."); got != tt.hint {
				t.Errorf("hint shown = %v, want %v: %q", got, tt.hint, stderr)
			}
		})
	}
	t.Cleanup(func() {
		if n := calls.Load(); n != 0 {
			t.Errorf("the daemon got %d requests; bad input must fail before any", n)
		}
	})
}

// jobsDaemon is a fake daemon that keeps jobs by name and records the specs it was sent.
type jobsDaemon struct {
	mu     sync.Mutex
	taken  map[string]bool
	specs  []api.JobSpec
	bodies []string // as sent, to check the JSON itself
}

func (d *jobsDaemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var spec api.JobSpec
		if err == nil {
			err = json.Unmarshal(body, &spec)
		}
		if err != nil {
			replyError(w, 400, "invalid_argument", err.Error())
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.specs = append(d.specs, spec)
		d.bodies = append(d.bodies, strings.TrimSpace(string(body)))
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
		wantBody string // the JSON itself, when set
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
			name: "every policy flag",
			args: []string{"--name", "sync", "--cron", "*/5 * * * *", "--overlap", "queue", "--catchup", "0",
				"--retries", "3", "--retry-delay", "30s", "--jitter", "15s", "--", "sync.sh"},
			wantSpec: api.JobSpec{Name: "sync", Schedule: "*/5 * * * *", Command: []string{"sync.sh"},
				Overlap: "queue", Catchup: "0", Retries: 3, RetryDelay: "30s", Jitter: "15s"},
			// catchup "0" must reach the daemon: it turns catch-up off, while "" means the default.
			wantBody: `{"name":"sync","schedule":"*/5 * * * *","command":["sync.sh"],"overlap":"queue","catchup":"0","retries":3,"retry_delay":"30s","jitter":"15s"}`,
			wantOut:  "added job sync (next run: ",
		},
		{
			name:     "defaults are left to the daemon",
			args:     []string{"--name", "plain", "--cron", "@daily", "--", "true"},
			wantSpec: api.JobSpec{Name: "plain", Schedule: "@daily", Command: []string{"true"}},
			wantBody: `{"name":"plain","schedule":"@daily","command":["true"]}`,
			wantOut:  "added job plain (next run: ",
		},
		{
			name:     "overlap allow",
			args:     []string{"--name", "side", "--cron", "@hourly", "--overlap", "allow", "--", "true"},
			wantSpec: api.JobSpec{Name: "side", Schedule: "@hourly", Command: []string{"true"}, Overlap: "allow"},
			wantOut:  "added job side (next run: ",
		},
		{
			name:     "overlap replace",
			args:     []string{"--name", "fresh", "--cron", "@hourly", "--overlap", "replace", "--", "true"},
			wantSpec: api.JobSpec{Name: "fresh", Schedule: "@hourly", Command: []string{"true"}, Overlap: "replace"},
			wantOut:  "added job fresh (next run: ",
		},
		{
			name:     "overlap skip, catch-up window, retries with the default delay",
			args:     []string{"--name", "careful", "--cron", "@hourly", "--overlap", "skip", "--catchup", "2h", "--retries", "100", "--", "true"},
			wantSpec: api.JobSpec{Name: "careful", Schedule: "@hourly", Command: []string{"true"}, Overlap: "skip", Catchup: "2h", Retries: 100},
			wantOut:  "added job careful (next run: ",
		},
		{
			name:     "at RFC 3339 passes through",
			args:     []string{"--name", "launch", "--at", "2099-12-01T09:00:00+01:00", "--", "launch.sh"},
			wantSpec: api.JobSpec{Name: "launch", Schedule: "@at 2099-12-01T09:00:00+01:00", Command: []string{"launch.sh"}},
			wantBody: `{"name":"launch","schedule":"@at 2099-12-01T09:00:00+01:00","command":["launch.sh"]}`,
			wantOut:  "added job launch (runs once: ",
		},
		{
			name:     "at local time in the zone",
			args:     []string{"--at", "2099-12-01 09:00", "--tz", "Europe/Berlin", "--retries", "2", "--", "./migrate.sh"},
			wantSpec: api.JobSpec{Name: "migrate-sh", Schedule: "@at 2099-12-01 09:00", Timezone: "Europe/Berlin", Command: []string{"./migrate.sh"}, Retries: 2},
			wantOut:  "added job migrate-sh (runs once: ",
		},
		{
			name:     "at local time with seconds",
			args:     []string{"--name", "secs", "--at", "2099-12-01 09:00:30", "--", "true"},
			wantSpec: api.JobSpec{Name: "secs", Schedule: "@at 2099-12-01 09:00:30", Command: []string{"true"}},
			wantOut:  "added job secs (runs once: ",
		},
		{
			name:     "at local time with a T",
			args:     []string{"--name", "t-form", "--at", "2099-12-01T09:00", "--shell", "echo hi"},
			wantSpec: api.JobSpec{Name: "t-form", Schedule: "@at 2099-12-01T09:00", Shell: "echo hi"},
			wantOut:  "added job t-form (runs once: ",
		},
		{
			name:     "labels repeated and comma-separated, sorted, each once",
			args:     []string{"--name", "train", "--cron", "@daily", "--label", "gpu", "--label", "eu, ssd", "--label", "gpu", "--", "train.sh"},
			wantSpec: api.JobSpec{Name: "train", Schedule: "@daily", Command: []string{"train.sh"}, Labels: []string{"eu", "gpu", "ssd"}},
			wantBody: `{"name":"train","schedule":"@daily","command":["train.sh"],"labels":["eu","gpu","ssd"]}`,
			wantOut:  "added job train (next run: ",
		},
		{
			name:     "sixteen labels",
			args:     []string{"--name", "many", "--cron", "@daily", "--label", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", "--label", "a", "--", "true"},
			wantSpec: api.JobSpec{Name: "many", Schedule: "@daily", Command: []string{"true"}, Labels: strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", ",")},
			wantOut:  "added job many (next run: ",
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
		last, body := d.specs[len(d.specs)-1], d.bodies[len(d.bodies)-1]
		d.mu.Unlock()
		if !reflect.DeepEqual(last, tt.wantSpec) {
			t.Errorf("%s: sent %+v\nwant %+v", tt.name, last, tt.wantSpec)
		}
		if tt.wantBody != "" && body != tt.wantBody {
			t.Errorf("%s: sent body\n%s\nwant\n%s", tt.name, body, tt.wantBody)
		}
	}
}

func TestAddIn(t *testing.T) {
	t.Parallel()
	d := &jobsDaemon{taken: map[string]bool{}}
	sock := fakeDaemon(t, d.mux())
	before := time.Now()
	if _, stderr, code := cli(t, "add", "--socket", sock, "--name", "soon", "--in", "90m", "--", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	after := time.Now()
	sched := d.specs[0].Schedule
	text, ok := strings.CutPrefix(sched, "@at ")
	if !ok || !strings.HasSuffix(text, "Z") {
		t.Fatalf("schedule %q, want @at and an RFC 3339 UTC time", sched)
	}
	got, err := time.Parse(time.RFC3339, text)
	if err != nil {
		t.Fatal(err)
	}
	// Rounded up to the second: never earlier than asked, at most a second later.
	lo, hi := before.Add(90*time.Minute), after.Add(90*time.Minute+time.Second)
	if got.Before(lo) || got.After(hi) {
		t.Errorf("--in 90m gave %s, want within [%s, %s]", got, lo.UTC(), hi.UTC())
	}
}

func TestInSchedule(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		now  time.Time
		in   string
		want string
	}{
		{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "90m", "@at 2026-03-01T13:30:00Z"},
		{time.Date(2026, 3, 1, 12, 0, 0, 300, time.UTC), "90m", "@at 2026-03-01T13:30:01Z"},
		{time.Date(2026, 3, 1, 12, 0, 0, 0, berlin), "1500ms", "@at 2026-03-01T11:00:02Z"},
		{time.Date(2026, 3, 28, 23, 0, 0, 0, berlin), "24h", "@at 2026-03-29T22:00:00Z"}, // across the DST change: 24 real hours
	}
	for _, tt := range tests {
		got, err := (&addOptions{in: tt.in}).schedule(tt.now)
		if err != nil || got != tt.want {
			t.Errorf("--in %s at %s = %q, %v; want %q", tt.in, tt.now, got, err, tt.want)
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
	// The daemon sends the job list as the CLI prints JSON (see daemon's TestListJobsFormat),
	// and ls -o json passes it through.
	var want strings.Builder
	if err := writeJSON(&want, jobs); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, want.String()) })
	mux.HandleFunc("GET /v1/runs", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, api.RunList{}) })
	sock := fakeDaemon(t, mux)

	stdout, stderr, code := cli(t, "ls", "-o", "json", "--socket", sock)
	if code != 0 || stdout != want.String() || !strings.Contains(stdout, `"a && b"`) {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want.String())
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
