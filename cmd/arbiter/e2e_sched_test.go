package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/arbiterd/arbiter/api"
)

// End-to-end tests of the scheduling semantics: overlap policies, catch-up, retries, jitter,
// one-off jobs, timeouts that reach escaped grandchildren, and crash recovery.

// overlapping reports whether two runs' execution intervals overlap.
func overlapping(a, b api.Run) bool {
	if a.StartedAt == nil || b.StartedAt == nil {
		return false
	}
	endA, endB := time.Now(), time.Now()
	if a.FinishedAt != nil {
		endA = *a.FinishedAt
	}
	if b.FinishedAt != nil {
		endB = *b.FinishedAt
	}
	return a.StartedAt.Before(endB) && b.StartedAt.Before(endA)
}

func anyOverlap(runs []api.Run) bool {
	for i := range runs {
		for j := i + 1; j < len(runs); j++ {
			if overlapping(runs[i], runs[j]) {
				return true
			}
		}
	}
	return false
}

func TestE2EOverlapPolicies(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)

	t.Run("queue waits and coalesces", func(t *testing.T) {
		t.Parallel()
		d.mustArbiter("add", "--name", "queued", "--cron", "* * * * * *", "--overlap", "queue", "--", "sleep", "1.5")
		var runs []api.Run
		eventually(t, 40*time.Second, "two finished runs and a coalesced fire", func() bool {
			runs = d.runs("queued")
			done, coalesced := 0, 0
			for _, r := range runs {
				if r.State == "succeeded" {
					done++
				}
				if r.State == "skipped" && strings.Contains(r.Reason, "coalesced into run") {
					coalesced++
				}
			}
			return done >= 2 && coalesced >= 1
		})
		if anyOverlap(runs) {
			t.Errorf("queued runs overlapped: %+v", runs)
		}
	})
	t.Run("allow runs side by side", func(t *testing.T) {
		t.Parallel()
		d.mustArbiter("add", "--name", "allowed", "--cron", "* * * * * *", "--overlap", "allow", "--", "sleep", "2.5")
		var runs []api.Run
		eventually(t, 40*time.Second, "two runs at once", func() bool {
			runs = d.runs("allowed")
			return anyOverlap(runs)
		})
		for _, r := range runs {
			if r.State == "skipped" {
				t.Errorf("allow skipped a fire: %+v", r)
			}
		}
	})
	t.Run("replace cancels the running one", func(t *testing.T) {
		t.Parallel()
		d.mustArbiter("add", "--name", "replaced", "--cron", "*/2 * * * * *", "--overlap", "replace", "--", "sleep", "100")
		var runs []api.Run
		eventually(t, 40*time.Second, "a replaced run", func() bool {
			runs = d.runs("replaced")
			for _, r := range runs {
				if r.State == "cancelled" && strings.Contains(r.Reason, "replaced by run") {
					return true
				}
			}
			return false
		})
		d.mustArbiter("pause", "replaced")
		if anyOverlap(runs) {
			t.Errorf("replace let runs overlap: %+v", runs)
		}
	})
}

func TestE2ERetriesWithBackoff(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	counter := filepath.Join(shortDir(t), "count")
	// Fails twice, then succeeds; each attempt logs what it saw.
	d.mustArbiter("add", "--name", "flaky", "--cron", far, "--retries", "3", "--retry-delay", "200ms", "--shell",
		fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; echo "attempt $ARBITER_ATTEMPT at $ARBITER_SCHEDULED_AT"; [ $n -ge 3 ]`, counter))
	if r := d.arbiter("run", "flaky", "--wait"); r.code != 1 {
		t.Fatalf("the first attempt should fail: %s", r)
	}
	var runs []api.Run
	eventually(t, 30*time.Second, "the third attempt to succeed", func() bool {
		runs = d.runs("flaky")
		return len(runs) == 3 && runs[0].State == "succeeded"
	})
	slices.Reverse(runs) // oldest first
	first := runs[0]
	for i, r := range runs {
		if r.Attempt != i+1 || !r.ScheduledAt.Equal(first.ScheduledAt) {
			t.Errorf("run %d: attempt %d scheduled %s; want attempt %d of the fire at %s", r.ID, r.Attempt, r.ScheduledAt, i+1, first.ScheduledAt)
		}
		if i > 0 && (r.Trigger != "retry" || r.RetryOf != first.ID || r.NotBefore == nil || r.StartedAt.Before(*r.NotBefore)) {
			t.Errorf("retry %+v: want trigger retry of run %d, started after its backoff", r, first.ID)
		}
		logs := d.mustArbiter("logs", strconv.FormatInt(r.ID, 10)).stdout
		if want := fmt.Sprintf("attempt %d at %s", i+1, first.ScheduledAt.UTC().Format(time.RFC3339)); !strings.HasPrefix(logs, want) {
			t.Errorf("run %d saw %q, want %q", r.ID, logs, want)
		}
	}
	if !strings.Contains(runs[0].Reason, "attempt 1 of 4, retrying in") {
		t.Errorf("first attempt's reason = %q", runs[0].Reason)
	}

	d.mustArbiter("add", "--name", "hopeless", "--cron", far, "--retries", "1", "--retry-delay", "100ms", "--", "false")
	d.arbiter("run", "hopeless", "--wait")
	eventually(t, 30*time.Second, "both attempts to fail", func() bool {
		runs = d.runs("hopeless")
		return len(runs) == 2 && runs[0].State == "failed"
	})
	if !strings.Contains(runs[0].Reason, "no attempts left (2 of 2)") {
		t.Errorf("last attempt's reason = %q", runs[0].Reason)
	}

	// A cancelled run is not retried.
	d.mustArbiter("add", "--name", "stopped", "--cron", far, "--retries", "2", "--retry-delay", "100ms", "--", "sleep", "100")
	id := d.trigger("stopped")
	d.waitRun(id, "running")
	d.mustArbiter("cancel", strconv.FormatInt(id, 10))
	d.waitRun(id, "cancelled")
	if runs := d.runs("stopped"); len(runs) != 1 {
		t.Errorf("a cancelled run was retried: %+v", runs)
	}
}

func TestE2ETimeoutKillsEscapedGrandchildren(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "escaper", "--cron", far, "--timeout", "1s", "--kill-grace", "500ms", "--shell",
		"setsid sleep 1000 & echo $!; sleep 1000 & echo $!; wait")
	r := d.arbiter("run", "escaper", "--wait")
	if r.code != 124 {
		t.Fatalf("run --wait: %s", r)
	}
	var pids []int
	for _, f := range strings.Fields(r.stdout) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("output %q", r.stdout)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("want two pids, got %q", r.stdout)
	}
	eventually(t, 10*time.Second, "every process of the run to be gone", func() bool {
		return processGone(pids[0]) && processGone(pids[1])
	})
}

func TestE2ECatchupAfterDowntime(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(shortDir(t), "data")
	d1 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	d1.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--catchup", "1m", "--", "true")
	eventually(t, 30*time.Second, "a first run", func() bool { return len(d1.runs("tick")) > 0 })
	d1.stop(syscall.SIGTERM)
	stoppedAt := time.Now()
	eventually(t, 10*time.Second, "3 seconds of downtime", func() bool { return time.Since(stoppedAt) > 3*time.Second })

	restartedAt := time.Now()
	d2 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	// The missed fires run once: as a catch-up run, or not at all when the restart happened to
	// land on a fire that ran on time anyway.
	var catchups, missed, fresh []api.Run
	eventually(t, 30*time.Second, "a missed record and one run standing in for the missed fires", func() bool {
		catchups, missed, fresh = nil, nil, nil
		for _, r := range d2.runs("tick") {
			switch {
			case r.Trigger == "catchup":
				catchups = append(catchups, r)
			case r.State == "missed":
				missed = append(missed, r)
			case r.State == "succeeded" && !r.ScheduledAt.Before(restartedAt.Truncate(time.Second)):
				fresh = append(fresh, r)
			}
		}
		return len(missed) == 1 && (len(catchups) == 1 && catchups[0].State == "succeeded" || len(catchups) == 0 && len(fresh) > 0)
	})
	m := missed[0]
	if m.MissedCount < 1 || m.MissedUntil == nil || !strings.Contains(m.Reason, "the daemon was not running") {
		t.Errorf("missed record %+v", m)
	}
	if len(catchups) == 1 && !m.MissedUntil.Before(catchups[0].ScheduledAt) {
		t.Errorf("catch-up run %+v is not the latest missed fire after %+v", catchups[0], m)
	}
	assertEveryFireOnce(t, d2.runs("tick"))
}

// assertEveryFireOnce checks that no fire time is accounted for twice: by two scheduled or
// catch-up runs, or by a run and a missed record's range.
func assertEveryFireOnce(t *testing.T, runs []api.Run) {
	t.Helper()
	seen := map[time.Time]int64{}
	for _, r := range runs {
		if r.Trigger != "schedule" && r.Trigger != "catchup" {
			continue
		}
		if prev, dup := seen[r.ScheduledAt]; dup {
			t.Errorf("fire %s accounted for twice: runs %d and %d", r.ScheduledAt, prev, r.ID)
		}
		seen[r.ScheduledAt] = r.ID
	}
	for _, m := range runs {
		if m.State != "missed" {
			continue
		}
		for at, id := range seen {
			if id != m.ID && !at.Before(m.ScheduledAt) && !at.After(*m.MissedUntil) {
				t.Errorf("fire %s is both run %d and inside missed record %d", at, id, m.ID)
			}
		}
	}
}

func TestE2ECrashRecoveryLoop(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(shortDir(t), "data")
	socket := filepath.Join(shortDir(t), "s.sock")
	const rounds = 5
	// A retry of the long job is running when the last daemon stops: keep its grace short.
	opts := daemonOpts{dataDir: dataDir, socket: socket, args: []string{"--shutdown-grace", "1s"}}
	for round := range rounds {
		d := startDaemonWith(t, opts)
		if round == 0 {
			d.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--catchup", "1m", "--", "sleep", "0.3")
			d.mustArbiter("add", "--name", "long", "--cron", far, "--retries", "10", "--retry-delay", "100ms", "--shell",
				"sleep 1000 & echo $!; wait")
			d.trigger("long")
		}
		// Wait until the long job runs (a retry, after the first round) and tick has fired here.
		var long api.Run
		eventually(t, 30*time.Second, "the long job to run", func() bool {
			runs := d.runs("long")
			long = runs[0]
			return long.State == "running" && strings.TrimSpace(d.mustArbiter("logs", strconv.FormatInt(long.ID, 10)).stdout) != ""
		})
		child, _ := strconv.Atoi(strings.TrimSpace(d.mustArbiter("logs", strconv.FormatInt(long.ID, 10)).stdout))
		d.stop(syscall.SIGKILL)

		// The next daemon records the run as lost, stops what it left behind, and retries it.
		d2 := startDaemonWith(t, opts)
		lost := d2.run(long.ID)
		if lost.State != "lost" || !strings.Contains(lost.Reason, "daemon stopped") {
			t.Fatalf("round %d: run %d after a crash = %+v, want lost", round, long.ID, lost)
		}
		eventually(t, 30*time.Second, "the lost run's processes to be gone", func() bool {
			return processGone(lost.PID) && processGone(child)
		})
		d2.stop(syscall.SIGKILL)
	}
	d := startDaemonWith(t, opts)
	runs := d.runs("long")
	for _, r := range runs {
		if r.Attempt > 1 && (r.Trigger != "retry" || r.RetryOf != runs[len(runs)-1].ID) {
			t.Errorf("retry %+v is not linked to the first attempt %d", r, runs[len(runs)-1].ID)
		}
	}
	tick := d.runs("tick")
	assertEveryFireOnce(t, tick)
	catchups := 0
	for _, r := range tick {
		if r.Trigger == "catchup" {
			catchups++
		}
	}
	if catchups > 2*rounds {
		t.Errorf("%d catch-up runs after %d restarts: catch-up replayed fires", catchups, 2*rounds)
	}
	d.stop(syscall.SIGTERM)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "arbiter.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
}

func TestE2EOneOffJob(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "once", "--in", "2s", "--", "echo", "once")
	eventually(t, 30*time.Second, "the one-off run", func() bool {
		runs := d.runs("once")
		return len(runs) == 1 && runs[0].State == "succeeded"
	})
	var job api.Job
	if err := json.Unmarshal([]byte(d.mustArbiter("show", "once", "-o", "json").stdout), &job); err != nil {
		t.Fatal(err)
	}
	if job.NextRun != nil || job.LastRun == nil || !strings.HasPrefix(job.Schedule, "@at ") {
		t.Errorf("one-off job after its run = %+v; want it listed, done, with its history", job)
	}
	if out := d.mustArbiter("logs", "once").stdout; out != "once\n" {
		t.Errorf("logs = %q", out)
	}
}

func TestE2EJitterDelaysTheStart(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "jittery", "--cron", "*/2 * * * * *", "--jitter", "1s", "--", "true")
	var done []api.Run
	eventually(t, 30*time.Second, "three jittered runs", func() bool {
		done = nil
		for _, r := range d.runs("jittery") {
			if r.State == "succeeded" {
				done = append(done, r)
			}
		}
		return len(done) >= 3
	})
	for _, r := range done {
		j, err := time.ParseDuration(cmpOr(r.Jitter, "0s"))
		if err != nil || j < 0 || j >= time.Second || r.NotBefore == nil || !r.NotBefore.Equal(r.ScheduledAt.Add(j)) || r.StartedAt.Before(*r.NotBefore) {
			t.Errorf("run %+v: want a jitter below 1s, recorded, and a start after it", r)
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestE2EWhyExplainsFires(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "slow", "--cron", "* * * * * *", "--", "sleep", "2.5")
	var skipped api.Run
	eventually(t, 30*time.Second, "a skipped fire", func() bool {
		for _, r := range d.runs("slow") {
			if r.State == "skipped" {
				skipped = r
				return true
			}
		}
		return false
	})
	d.mustArbiter("pause", "slow")
	r := d.mustArbiter("why", "slow", "--at", skipped.ScheduledAt.Format(time.RFC3339))
	if !strings.Contains(r.stdout, "still running") || !strings.Contains(r.stdout, strconv.FormatInt(skipped.ID, 10)) {
		t.Errorf("why of a skipped fire:\n%s", r.stdout)
	}
	if r := d.mustArbiter("why", "slow"); !strings.Contains(r.stdout, "paused") {
		t.Errorf("why of a paused job's next fire:\n%s", r.stdout)
	}
	var why api.Why
	if err := json.Unmarshal([]byte(d.mustArbiter("why", "slow", "-o", "json", "--at", skipped.ScheduledAt.Format(time.RFC3339)).stdout), &why); err != nil {
		t.Fatal(err)
	}
	if why.Fire == nil || !why.Fire.Equal(skipped.ScheduledAt) || len(why.Runs) != 1 || why.Runs[0].ID != skipped.ID {
		t.Errorf("why -o json = %+v", why)
	}
	// A job added paused: its past fires are explained by the pause too.
	d.mustArbiter("add", "--name", "born-paused", "--paused", "--cron", "* * * * * *", "--", "true")
	addedAt := time.Now()
	eventually(t, 10*time.Second, "two seconds to pass", func() bool { return time.Since(addedAt) > 2*time.Second })
	if r := d.mustArbiter("why", "born-paused", "--at", addedAt.Add(time.Second).UTC().Format(time.RFC3339)); !strings.Contains(r.stdout, "paused") {
		t.Errorf("why of a job created paused:\n%s", r.stdout)
	}
	if r := d.arbiter("why", "nope"); r.code != 1 {
		t.Errorf("why of an unknown job: %s", r)
	}
}
