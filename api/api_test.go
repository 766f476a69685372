package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares v, marshalled as the daemon writes it, with testdata/name.golden.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("%s differs from %s (go test ./api -update rewrites it):\n%s", name, path, got)
	}
}

var (
	created = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	fire    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

func TestJobJSON(t *testing.T) {
	job := arbiter.Job{
		Name: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
		Command: []string{"/usr/local/bin/backup", "--full"}, Dir: "/srv", Env: map[string]string{"MODE": "full"},
		Labels:  []string{"eu", "gpu"},
		Timeout: 30 * time.Minute, KillGrace: 10 * time.Second, Overlap: arbiter.OverlapQueue,
		Catchup: 5 * time.Minute, Retries: 2, RetryDelay: 10 * time.Second, Jitter: 30 * time.Second,
		Source: arbiter.SourceCLI, CreatedAt: created, UpdatedAt: created,
	}
	code := 0
	last := arbiter.Run{ID: 41, State: arbiter.StateSucceeded, ScheduledAt: fire,
		StartedAt: fire.Add(3 * time.Millisecond), FinishedAt: fire.Add(2 * time.Second), ExitCode: &code}
	golden(t, "job", FromJob(job, fire.Add(24*time.Hour), &last))

	job.Paused, job.Command, job.Shell, job.Timeout = true, nil, "pg_dump db | gzip", 0
	job.Catchup, job.Retries, job.Jitter, job.Schedule = 0, 0, 0, "@at 2026-12-01T09:00:00+01:00"
	job.Labels = nil // left out of the JSON
	golden(t, "job-paused-never-ran", FromJob(job, time.Time{}, nil))
}

func TestRunJSON(t *testing.T) {
	golden(t, "run-skipped", FromRun(arbiter.Run{
		ID: 42, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: fire, Attempt: 1,
		State: arbiter.StateSkipped, Reason: "skipped: previous run 41 still running",
		CreatedAt: fire, FinishedAt: fire,
	}))
	golden(t, "run-retry-waiting", FromRun(arbiter.Run{
		ID: 44, Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: fire, Attempt: 2, RetryOf: 43,
		State: arbiter.StateQueued, CreatedAt: fire.Add(time.Minute), NotBefore: fire.Add(time.Minute + 20*time.Second),
	}))
	golden(t, "run-missed", FromRun(arbiter.Run{
		ID: 45, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: fire, State: arbiter.StateMissed,
		MissedCount: 37, MissedUntil: fire.Add(36 * time.Minute), CreatedAt: fire.Add(time.Hour), FinishedAt: fire.Add(time.Hour),
		Reason: "missed 37 fires from 2026-11-22T10:00:00Z to 2026-11-22T10:36:00Z: the daemon was not running (older than the catch-up window of 5m0s)",
	}))
	golden(t, "run-killed", FromRun(arbiter.Run{
		ID: 43, Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: fire, Attempt: 1,
		State: arbiter.StateTimedOut, Reason: "timed out after 30m0s", Signal: "SIGTERM", PID: 4242, Worker: "db1",
		CreatedAt: fire, StartedAt: fire, FinishedAt: fire.Add(30 * time.Minute), OutputBytes: 3 << 20, OutputDropped: 2 << 20,
	}))
}

func TestJobSpecToJob(t *testing.T) {
	tests := []struct {
		name    string
		spec    JobSpec
		want    arbiter.Job
		wantErr string
	}{
		{"durations parse", JobSpec{Name: "a", Timeout: "1h30m", KillGrace: "5s"},
			arbiter.Job{Name: "a", Timeout: 90 * time.Minute, KillGrace: 5 * time.Second}, ""},
		{"empty durations mean unset", JobSpec{Name: "a"}, arbiter.Job{Name: "a"}, ""},
		{"labels as given", JobSpec{Name: "a", Labels: []string{"gpu", "eu"}}, arbiter.Job{Name: "a", Labels: []string{"gpu", "eu"}}, ""},
		{"bad timeout", JobSpec{Timeout: "soon"}, arbiter.Job{}, `timeout: "soon" is not a duration; use a form such as 30s, 5m or 1h30m`},
		{"bad kill grace", JobSpec{KillGrace: "10"}, arbiter.Job{}, `kill_grace: "10" is not a duration; use a form such as 30s, 5m or 1h30m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.ToJob()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, arbiter.ErrInvalid) {
					t.Fatalf("err = %v, want %q matching ErrInvalid", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want.Name || got.Timeout != tt.want.Timeout || got.KillGrace != tt.want.KillGrace ||
				!slices.Equal(got.Labels, tt.want.Labels) {
				t.Fatalf("ToJob = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
