package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// The fixed clock and zone of the golden files: 18:00 on 22 November 2026 in Berlin.
var (
	berlin, _ = time.LoadLocation("Europe/Berlin")
	goldenNow = time.Date(2026, 11, 22, 18, 0, 0, 0, berlin)
)

func at(d time.Duration) *time.Time {
	t := goldenNow.Add(d).UTC() // the daemon sends UTC
	return &t
}

func goldenJobs() []api.Job {
	return []api.Job{
		{
			Name: "backup-sh", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
			Command: []string{"/usr/bin/backup.sh", "--full", "--label", "nightly run"},
			Dir:     "/srv", Env: map[string]string{"TOKEN": "secret:api_token", "A": "1"},
			Timeout: "1h0m0s", KillGrace: "10s", Overlap: "skip", Source: "cli",
			CreatedAt: *at(-40 * 24 * time.Hour), UpdatedAt: *at(-2 * time.Hour),
			NextRun: at(9 * time.Hour),
			LastRun: &api.RunRef{ID: 41, State: "failed", ScheduledAt: *at(-15 * time.Hour), StartedAt: at(-15*time.Hour + 30*time.Millisecond),
				FinishedAt: at(-14*time.Hour - 58*time.Minute), ExitCode: intp(3)},
		},
		{
			Name: "pg-dump", Schedule: "*/5 * * * *", Shell: "pg_dump db | gzip > /srv/db.gz",
			KillGrace: "10s", Overlap: "skip", Source: "/etc/arbiter/jobs/db.toml",
			CreatedAt: *at(-3 * time.Hour), UpdatedAt: *at(-3 * time.Hour),
			NextRun: at(4*time.Minute + 10*time.Second),
			LastRun: &api.RunRef{ID: 44, State: "running", ScheduledAt: *at(-50 * time.Second), StartedAt: at(-50 * time.Second)},
		},
		{
			Name: "report", Schedule: "@monthly", Timezone: "UTC", Command: []string{"report"},
			KillGrace: "10s", Overlap: "skip", Paused: true, Source: "cli",
			CreatedAt: *at(-400 * 24 * time.Hour), UpdatedAt: *at(-400 * 24 * time.Hour),
		},
	}
}

func goldenRuns() []api.Run {
	return []api.Run{
		{ID: 44, Job: "pg-dump", State: "running", Trigger: "schedule", ScheduledAt: *at(-50 * time.Second),
			StartedAt: at(-50 * time.Second), Attempt: 1, PID: 4242},
		{ID: 43, Job: "pg-dump", State: "skipped", Trigger: "schedule", ScheduledAt: *at(-5*time.Minute - 50*time.Second),
			Attempt: 1, Reason: "skipped: previous run 42 still running"},
		{ID: 42, Job: "pg-dump", State: "timed_out", Trigger: "manual", ScheduledAt: *at(-20 * time.Minute),
			StartedAt: at(-20*time.Minute + 5*time.Millisecond), FinishedAt: at(-10 * time.Minute), ExitCode: intp(-1), Signal: "SIGTERM", Attempt: 1},
		{ID: 41, Job: "backup-sh", State: "failed", Trigger: "schedule", ScheduledAt: *at(-15 * time.Hour),
			StartedAt: at(-15*time.Hour + 30*time.Millisecond), FinishedAt: at(-14*time.Hour - 58*time.Minute), ExitCode: intp(3), Attempt: 1},
		{ID: 7, Job: "backup-sh", State: "succeeded", Trigger: "catchup", ScheduledAt: *at(-30 * 24 * time.Hour),
			StartedAt: at(-30*24*time.Hour + time.Second), FinishedAt: at(-30*24*time.Hour + 2200*time.Millisecond), ExitCode: intp(0), Attempt: 1},
		{ID: 3, Job: "backup-sh", State: "missed", Trigger: "schedule", ScheduledAt: *at(-35 * 24 * time.Hour),
			Reason: "missed 3 fires from 2026-10-17 03:00 to 2026-10-19 03:00 while the daemon was down"},
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"ls", func(b *bytes.Buffer) error { return renderJobs(b, goldenJobs(), goldenNow, berlin) }},
		{"ls-empty", func(b *bytes.Buffer) error { return renderJobs(b, nil, goldenNow, berlin) }},
		{"runs", func(b *bytes.Buffer) error { return renderRuns(b, goldenRuns(), goldenNow, berlin) }},
		{"show", func(b *bytes.Buffer) error { return renderJob(b, goldenJobs()[0], goldenNow, berlin) }},
		{"show-shell-paused", func(b *bytes.Buffer) error {
			var err error
			for _, j := range goldenJobs()[1:] {
				if err == nil {
					err = renderJob(b, j, goldenNow, berlin)
				}
				b.WriteString("\n")
			}
			return err
		}},
		{"status", func(b *bytes.Buffer) error {
			return renderStatus(b, api.Status{
				Version: "1.2.0", PID: 812, StartedAt: *at(-(2*time.Hour + 5*time.Minute + 3*time.Second)), Uptime: "2h5m3s",
				DataDir: "/var/lib/arbiter", Store: "sqlite", Socket: "/run/arbiter/arbiter.sock",
				Jobs: 3, Paused: 1, Running: 1, Queued: 0,
				Runs: map[string]int{"succeeded": 120, "failed": 3, "running": 1, "missed": 1, "exotic": 2},
			}, goldenNow, berlin)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b.Bytes())
		})
	}
}
