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

// berlinAt is a wall-clock time in Berlin, as the daemon sends it (UTC).
func berlinAt(month time.Month, day, hour, min int) *time.Time {
	t := time.Date(2026, month, day, hour, min, 0, 0, berlin).UTC()
	return &t
}

func goldenJobs() []api.Job {
	return []api.Job{
		{
			Name: "backup-sh", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
			Command: []string{"/usr/bin/backup.sh", "--full", "--label", "nightly run"},
			Dir:     "/srv", Env: map[string]string{"TOKEN": "secret:api_token", "A": "1"}, Labels: []string{"eu", "gpu"},
			Timeout: "1h0m0s", KillGrace: "10s", Overlap: "skip", Catchup: "5m0s", Retries: 3, RetryDelay: "10s",
			Jitter: "30s", Source: "cli",
			CreatedAt: *at(-40 * 24 * time.Hour), UpdatedAt: *at(-2 * time.Hour),
			NextRun: at(9 * time.Hour),
			LastRun: &api.RunRef{ID: 41, State: "failed", ScheduledAt: *at(-15 * time.Hour), StartedAt: at(-15*time.Hour + 30*time.Millisecond),
				FinishedAt: at(-14*time.Hour - 58*time.Minute), ExitCode: intp(3)},
		},
		{
			Name: "pg-dump", Schedule: "*/5 * * * *", Shell: "pg_dump db | gzip > /srv/db.gz",
			KillGrace: "10s", Overlap: "queue", Catchup: "0s", RetryDelay: "10s", Source: "/etc/arbiter/jobs/db.toml",
			CreatedAt: *at(-3 * time.Hour), UpdatedAt: *at(-3 * time.Hour),
			NextRun: at(4*time.Minute + 10*time.Second),
			LastRun: &api.RunRef{ID: 44, State: "running", ScheduledAt: *at(-50 * time.Second), StartedAt: at(-50 * time.Second)},
		},
		{
			Name: "report", Schedule: "@monthly", Timezone: "UTC", Command: []string{"report"},
			KillGrace: "10s", Overlap: "replace", Catchup: "1h30m0s", Retries: 1, RetryDelay: "1m0s", Paused: true, Source: "cli",
			CreatedAt: *at(-400 * 24 * time.Hour), UpdatedAt: *at(-400 * 24 * time.Hour),
		},
		// One-off jobs: one still to come, written in the job's local time; one done.
		{
			Name: "migrate", Schedule: "@at 2026-12-01 09:00", Timezone: "Europe/Berlin", Command: []string{"./migrate.sh"},
			KillGrace: "10s", Overlap: "allow", Catchup: "5m0s", RetryDelay: "10s", Source: "cli",
			CreatedAt: *at(-time.Hour), UpdatedAt: *at(-time.Hour),
			NextRun: berlinAt(time.December, 1, 9, 0),
		},
		{
			Name: "remind", Schedule: "@at 2026-11-22T15:30:00Z", Shell: "echo stand up | wall",
			KillGrace: "10s", Overlap: "skip", Catchup: "5m0s", RetryDelay: "10s", Source: "cli",
			CreatedAt: *at(-5 * time.Hour), UpdatedAt: *at(-5 * time.Hour),
			LastRun: &api.RunRef{ID: 39, State: "succeeded", ScheduledAt: *at(-90 * time.Minute), StartedAt: at(-90 * time.Minute),
				FinishedAt: at(-90*time.Minute + time.Second), ExitCode: intp(0)},
		},
	}
}

func goldenRuns() []api.Run {
	return []api.Run{
		// A retry waiting out its backoff, with the daemon's reason; the retry before it failed.
		{ID: 48, Job: "flaky", State: "queued", Trigger: "retry", ScheduledAt: *at(-2 * time.Minute), Attempt: 3, RetryOf: 45,
			NotBefore: at(20 * time.Second), Reason: "retry 2 of 3 after exit 1; backoff 20s"},
		{ID: 47, Job: "flaky", State: "failed", Trigger: "retry", ScheduledAt: *at(-2 * time.Minute), Attempt: 2, RetryOf: 45,
			StartedAt: at(-90 * time.Second), FinishedAt: at(-89 * time.Second), ExitCode: intp(1)},
		// A fire held back by its jitter.
		{ID: 46, Job: "pg-dump", State: "queued", Trigger: "schedule", ScheduledAt: *at(-3 * time.Second), Attempt: 1,
			NotBefore: at(12 * time.Second), Jitter: "15s"},
		{ID: 45, Job: "flaky", State: "failed", Trigger: "schedule", ScheduledAt: *at(-2 * time.Minute), Attempt: 1,
			StartedAt: at(-2 * time.Minute), FinishedAt: at(-2*time.Minute + 300*time.Millisecond), ExitCode: intp(1)},
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
		// Missed records: SCHEDULED is the first missed fire; one with the daemon's reason, one
		// without, whose reason the CLI words from the count.
		{ID: 3, Job: "backup-sh", State: "missed", Trigger: "schedule", ScheduledAt: *berlinAt(time.September, 16, 3, 0),
			MissedCount: 37, MissedUntil: berlinAt(time.October, 22, 3, 0),
			Reason: "missed 37 fires (2026-09-16 03:00 to 2026-10-22 03:00) while the daemon was down; older than the catch-up window of 5m"},
		{ID: 2, Job: "report", State: "missed", Trigger: "schedule", ScheduledAt: *berlinAt(time.August, 1, 0, 0),
			MissedCount: 2, MissedUntil: berlinAt(time.September, 1, 0, 0)},
	}
}

func goldenWhy() api.Why {
	runs := goldenRuns()
	return api.Why{
		Job: "flaky", At: *at(-3 * time.Minute), Fire: at(-2 * time.Minute),
		Explanation: "The fire at 17:58:00 (Europe/Berlin) started run 45, which failed with exit code 1. " +
			"Run 47, its first retry, failed with exit code 1 too. Run 48, the second of 3 retries, is queued " +
			"and starts at 18:00:20 after a backoff of 20s (10s doubled, plus jitter).",
		Runs: []api.Run{runs[3], runs[1], runs[0]},
	}
}

// renderJobsDetail shows several jobs, a blank line after each.
func renderJobsDetail(b *bytes.Buffer, jobs []api.Job) error {
	for _, j := range jobs {
		if err := renderJob(b, j, goldenNow, berlin); err != nil {
			return err
		}
		b.WriteString("\n")
	}
	return nil
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
		{"show-shell-paused", func(b *bytes.Buffer) error { return renderJobsDetail(b, goldenJobs()[1:3]) }},
		{"show-one-off", func(b *bytes.Buffer) error { return renderJobsDetail(b, goldenJobs()[3:]) }},
		{"why", func(b *bytes.Buffer) error { return renderWhy(b, goldenWhy(), goldenNow, berlin, 100) }},
		{"why-narrow-no-runs", func(b *bytes.Buffer) error {
			w := goldenWhy()
			w.Fire, w.Runs = nil, nil
			w.Explanation = "Job report is paused, so its schedule (@monthly, UTC) has no fire at or after " +
				"2026-11-22 17:57:00; arbiter resume report lets it fire again.\nIts last run was run 12."
			return renderWhy(b, w, goldenNow, berlin, 40)
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
