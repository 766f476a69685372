package main

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/jobfile"
)

// exportJobs are jobs as the daemon reports them: every setting filled in, durations as Go
// prints them.
var exportJobs = []api.Job{
	{Name: "nightly-backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
		Command: []string{"pg_dump", "--file=/var/backups/app.dump", "app"}, Dir: "/var/backups",
		Env: map[string]string{"PGPASSWORD": "secret:pg", "PGUSER": "backup"}, Labels: []string{"db", "eu"},
		Timeout: "2h0m0s", KillGrace: "30s", Overlap: "skip", Catchup: "5m0s", Retries: 2, RetryDelay: "5m0s",
		Source: "cli"},
	{Name: "health", Schedule: "*/30 * * * * *", Command: []string{"test", "-w", "/tmp"},
		KillGrace: "10s", Overlap: "queue", Catchup: "0s", RetryDelay: "10s", Jitter: "1m30s", Paused: true, Source: "cli"},
	{Name: "rotate-logs", Schedule: "@daily", Shell: `find /var/log/app -name '*.log' -mtime +7 -delete`,
		KillGrace: "10s", Overlap: "skip", Catchup: "1h0m0s", RetryDelay: "10s", Source: "/etc/arbiter/jobs.toml"},
}

func exportDaemon(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, api.JobList{Jobs: exportJobs})
	})
	mux.HandleFunc("GET /v1/jobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, j := range exportJobs {
			if j.Name == r.PathValue("name") {
				reply(w, 200, j)
				return
			}
		}
		replyError(w, 404, "not_found", "job "+r.PathValue("name")+" not found")
	})
	return fakeDaemon(t, mux)
}

func TestExport(t *testing.T) {
	t.Parallel()
	sock := exportDaemon(t)
	stdout, stderr, code := cli(t, "export", "--socket", sock)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	golden(t, "export", []byte(stdout))

	// The file makes the same jobs: what the daemon would build from it equals what it has.
	jobs, errs := jobfile.Parse("export.toml", []byte(stdout))
	if len(errs) > 0 {
		t.Fatalf("the export does not parse: %v", errs)
	}
	byName := map[string]api.Job{}
	for _, j := range exportJobs {
		byName[j.Name] = j
	}
	for _, j := range jobs {
		got, err := j.Spec.ToJob()
		if err != nil {
			t.Fatal(err)
		}
		got.Normalize()
		got.Source = byName[j.Spec.Name].Source
		if want := api.FromJob(got, time.Time{}, nil); !reflect.DeepEqual(want, byName[j.Spec.Name]) {
			t.Errorf("%s changes on the way back:\ngot  %+v\nwant %+v", j.Spec.Name, want, byName[j.Spec.Name])
		}
	}

	// Named jobs, in the order named, to a file.
	out := filepath.Join(t.TempDir(), "two.toml")
	if stdout, stderr, code := cli(t, "export", "--socket", sock, "rotate-logs", "health", "-o", out); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	jobs, errs = jobfile.ParseFile(out)
	if len(errs) > 0 || len(jobs) != 2 || jobs[0].Spec.Name != "rotate-logs" || jobs[1].Spec.Name != "health" {
		t.Errorf("jobs %+v, errors %v", jobs, errs)
	}

	if _, stderr, code := cli(t, "export", "--socket", sock, "nope", "-o", out); code != 1 || stderr != "arbiter: job nope not found\n" {
		t.Errorf("unknown job: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(out); len(b) == 0 {
		t.Errorf("a failed export clobbered the file")
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"0s", ""}, {"10s", "10s"}, {"5m0s", "5m"}, {"1h0m0s", "1h"}, {"1h30m0s", "1h30m"},
		{"1h0m5s", "1h0m5s"}, {"500ms", "500ms"}, {"junk", "junk"},
	} {
		if got := shortDuration(tt.in, 0); got != tt.want {
			t.Errorf("shortDuration(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := shortDuration("0s", arbiter.DefaultCatchup); got != "0" {
		t.Errorf("a zero catch-up became %q, want \"0\"", got)
	}
}
