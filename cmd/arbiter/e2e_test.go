package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// far is a schedule that will not fire during a test, for jobs run by hand.
const far = "0 0 1 1 *"

func TestE2EEverySecondJobRecordsRunsAndOutput(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--env", "GREETING=hello",
		"--", "sh", "-c", `echo "$GREETING $ARBITER_JOB $ARBITER_RUN_ID $ARBITER_SCHEDULED_AT"`)

	var runs []api.Run
	eventually(t, 30*time.Second, "three succeeded runs", func() bool {
		runs = nil
		for _, r := range d.runs("tick") {
			if r.State == "succeeded" {
				runs = append(runs, r)
			}
		}
		return len(runs) >= 3
	})
	seen := map[time.Time]bool{}
	for _, r := range runs {
		if r.Trigger != "schedule" || r.ExitCode == nil || *r.ExitCode != 0 || r.Attempt != 1 {
			t.Errorf("run %d: trigger %s exit %v attempt %d; want schedule, 0, 1", r.ID, r.Trigger, r.ExitCode, r.Attempt)
		}
		if r.ScheduledAt.Nanosecond() != 0 {
			t.Errorf("run %d scheduled at %s, not on a whole second", r.ID, r.ScheduledAt)
		}
		if r.StartedAt == nil || r.StartedAt.Before(r.ScheduledAt) {
			t.Errorf("run %d started at %v, before its fire time %s", r.ID, r.StartedAt, r.ScheduledAt)
		}
		if seen[r.ScheduledAt] {
			t.Errorf("fire %s materialized twice", r.ScheduledAt)
		}
		seen[r.ScheduledAt] = true
		logs := d.mustArbiter("logs", strconv.FormatInt(r.ID, 10))
		want := fmt.Sprintf("hello tick %d %s\n", r.ID, r.ScheduledAt.UTC().Format(time.RFC3339))
		if logs.stdout != want {
			t.Errorf("logs of run %d = %q, want %q", r.ID, logs.stdout, want)
		}
	}

	jobs := d.lsJSON()
	if len(jobs) != 1 || jobs[0].Name != "tick" || jobs[0].NextRun == nil || jobs[0].LastRun == nil {
		t.Fatalf("ls -o json = %+v; want tick with next_run and last_run", jobs)
	}
	if table := d.mustArbiter("ls").stdout; !strings.Contains(table, "tick") || !strings.Contains(table, "* * * * * *") {
		t.Errorf("ls table lacks the job:\n%s", table)
	}
}

func TestE2EOverlapSkipRecordsSkippedFires(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	// Each run outlasts the next two fires.
	d.mustArbiter("add", "--name", "slow", "--cron", "* * * * * *", "--", "sleep", "2.5")
	var skipped []api.Run
	var byID map[int64]api.Run
	eventually(t, 30*time.Second, "two skipped fires", func() bool {
		skipped, byID = nil, map[int64]api.Run{}
		for _, r := range d.runs("slow") {
			byID[r.ID] = r
			if r.State == "skipped" {
				skipped = append(skipped, r)
			}
		}
		return len(skipped) >= 2
	})
	for _, s := range skipped {
		var busy int64
		if _, err := fmt.Sscanf(s.Reason, "skipped: previous run %d still running", &busy); err != nil {
			t.Fatalf("skip reason %q does not name the busy run", s.Reason)
		}
		prev, ok := byID[busy]
		if !ok || !prev.ScheduledAt.Before(s.ScheduledAt) || s.StartedAt != nil || s.FinishedAt == nil {
			t.Errorf("skipped fire %+v blamed on run %+v", s, prev)
		}
	}
	if r := d.mustArbiter("runs", "slow", "--state", "skipped"); !strings.Contains(r.stdout, "still running") {
		t.Errorf("runs --state skipped does not show the reason:\n%s", r.stdout)
	}
}

func TestE2ERunWaitExitCodes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	tests := []struct {
		name      string
		add       []string
		wantCode  int
		wantOut   string
		wantState string
	}{
		{"success", []string{"--shell", "echo fine"}, 0, "fine\n", "succeeded"},
		{"exit-status", []string{"--shell", "echo out; echo err >&2; exit 3"}, 3, "out\nerr\n", "failed"},
		{"sigterm", []string{"--shell", "kill -TERM $$"}, 143, "", "failed"},
		{"sigkill", []string{"--shell", "kill -KILL $$"}, 137, "", "failed"},
		{"timeout", []string{"--timeout", "300ms", "--", "sleep", "30"}, 124, "", "timed_out"},
		{"no-such-program", []string{"--", "/nonexistent/program"}, 1, "", "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d.mustArbiter(append([]string{"add", "--name", tt.name, "--cron", far}, tt.add...)...)
			r := d.arbiter("run", tt.name, "--wait")
			if r.code != tt.wantCode || r.stdout != tt.wantOut {
				t.Fatalf("run --wait: got exit %d stdout %q, want %d %q\n%s", r.code, r.stdout, tt.wantCode, tt.wantOut, r)
			}
			runs := d.runs(tt.name)
			if len(runs) != 1 || runs[0].State != tt.wantState || runs[0].Trigger != "manual" {
				t.Fatalf("runs = %+v, want one manual run in state %s", runs, tt.wantState)
			}
			if tt.name == "no-such-program" && !strings.Contains(runs[0].Reason, "could not start") {
				t.Errorf("reason = %q, want it to say the program could not start", runs[0].Reason)
			}
		})
	}
}

func TestE2ECancelKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "long", "--cron", far, "--shell", "sleep 1000 & echo $!; wait")
	id := d.trigger("long")
	run := d.waitRun(id, "running")
	var child int
	eventually(t, 30*time.Second, "the grandchild's pid in the output", func() bool {
		out := d.mustArbiter("logs", strconv.FormatInt(id, 10)).stdout
		child, _ = strconv.Atoi(strings.TrimSpace(out))
		return child > 0
	})
	if r := d.mustArbiter("cancel", strconv.FormatInt(id, 10)); !strings.Contains(r.stdout+r.stderr, strconv.FormatInt(id, 10)) {
		t.Errorf("cancel did not mention the run: %s", r)
	}
	run = d.waitRun(id, "cancelled")
	if !strings.Contains(run.Reason, "cancelled by uid:") {
		t.Errorf("reason = %q, want who cancelled it", run.Reason)
	}
	eventually(t, 10*time.Second, "the job and its grandchild to be gone", func() bool {
		return processGone(run.PID) && processGone(child)
	})
	if r := d.arbiter("cancel", strconv.FormatInt(id, 10)); r.code != 1 || !strings.Contains(r.stderr, "already ended") {
		t.Errorf("cancelling an ended run: %s", r)
	}
}

func TestE2EPauseStopsFires(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "beat", "--cron", "* * * * * *", "--", "true")
	eventually(t, 30*time.Second, "a first run", func() bool { return len(d.runs("beat")) > 0 })

	d.mustArbiter("pause", "beat")
	pausedAt := time.Now()
	var job api.Job
	if err := json.Unmarshal([]byte(d.mustArbiter("show", "beat", "-o", "json").stdout), &job); err != nil {
		t.Fatal(err)
	}
	if !job.Paused || job.NextRun != nil {
		t.Fatalf("paused job: paused=%v next_run=%v; want true and null", job.Paused, job.NextRun)
	}
	// Fires are whole seconds; watch three of them pass with none materialized.
	watchUntil := pausedAt.Add(3 * time.Second)
	eventually(t, 10*time.Second, "three seconds to pass", func() bool { return time.Now().After(watchUntil) })
	for _, r := range d.runs("beat") {
		if r.ScheduledAt.After(pausedAt.Add(time.Second)) {
			t.Fatalf("run %d fired at %s, after the job was paused at %s", r.ID, r.ScheduledAt, pausedAt)
		}
	}

	d.mustArbiter("resume", "beat")
	resumedAt := time.Now()
	eventually(t, 30*time.Second, "a run after resume", func() bool {
		for _, r := range d.runs("beat") {
			if r.ScheduledAt.After(resumedAt) {
				return true
			}
		}
		return false
	})
}

func TestE2ERestartKeepsJobsAndHistory(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(shortDir(t), "data")
	d1 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	d1.mustArbiter("add", "--name", "keep", "--cron", far, "--tz", "Asia/Kolkata", "--shell", "echo kept")
	d1.mustArbiter("run", "keep", "--wait")
	before := d1.runs("keep")
	if code := d1.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exited %d on SIGTERM, want 0", code)
	}
	if _, err := os.Stat(d1.socket); !os.IsNotExist(err) {
		t.Errorf("socket still exists after a clean stop: %v", err)
	}

	d2 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	var job api.Job
	if err := json.Unmarshal([]byte(d2.mustArbiter("show", "keep", "-o", "json").stdout), &job); err != nil {
		t.Fatal(err)
	}
	if job.Timezone != "Asia/Kolkata" || job.Shell != "echo kept" || job.LastRun == nil || job.LastRun.ID != before[0].ID {
		t.Fatalf("job after restart = %+v", job)
	}
	after := d2.runs("keep")
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].State != "succeeded" {
		t.Fatalf("runs after restart = %+v, want %+v", after, before)
	}
	if out := d2.mustArbiter("logs", "keep").stdout; out != "kept\n" {
		t.Errorf("logs after restart = %q", out)
	}

	// Deleting the job keeps its history.
	if r := d2.mustArbiter("rm", "keep"); !strings.Contains(r.stdout+r.stderr, "kept") {
		t.Errorf("rm does not say the history is kept: %s", r)
	}
	if r := d2.arbiter("show", "keep"); r.code != 1 {
		t.Errorf("show of a deleted job: %s", r)
	}
	if runs := d2.runs("keep"); len(runs) != 1 {
		t.Errorf("history after rm = %+v, want the one run", runs)
	}
}

func TestE2EOneDaemonPerDataDirAndSocket(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	if fi, err := os.Stat(d.socket); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v (%v), want 0660", fi.Mode(), err)
	}

	second := launchDaemon(t, daemonOpts{dataDir: d.dataDir, socket: filepath.Join(shortDir(t), "o.sock")})
	if code := second.waitExit(); code != 1 || !strings.Contains(second.log.String(), "already using data dir") {
		t.Errorf("a second daemon on the same data dir exited %d:\n%s", code, second.log.String())
	}
	third := launchDaemon(t, daemonOpts{socket: d.socket})
	if code := third.waitExit(); code != 1 || !strings.Contains(third.log.String(), "listening on "+d.socket) {
		t.Errorf("a second daemon on the same socket exited %d:\n%s", code, third.log.String())
	}
	d.mustArbiter("status") // the first one is untouched
}

func TestE2ECrashLeavesNoStaleStateBehind(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(shortDir(t), "data")
	socket := filepath.Join(shortDir(t), "s.sock")
	d1 := startDaemonWith(t, daemonOpts{dataDir: dataDir, socket: socket})
	d1.mustArbiter("add", "--name", "busy", "--cron", far, "--", "sleep", "1000")
	id := d1.trigger("busy")
	running := d1.waitRun(id, "running")
	t.Cleanup(func() { _ = syscall.Kill(-running.PID, syscall.SIGKILL) })
	d1.stop(syscall.SIGKILL)
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("a killed daemon should leave its socket behind: %v", err)
	}

	// The stale socket is dialled, found dead and replaced; the run is recorded as lost.
	d2 := startDaemonWith(t, daemonOpts{dataDir: dataDir, socket: socket})
	lost := d2.run(id)
	if lost.State != "lost" || lost.FinishedAt == nil || !strings.Contains(lost.Reason, "daemon stopped") {
		t.Errorf("run after a crash = %+v, want lost with a reason", lost)
	}
}

func TestE2EGracefulShutdown(t *testing.T) {
	t.Parallel()
	t.Run("grace period then cancel", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(shortDir(t), "data")
		d := startDaemonWith(t, daemonOpts{dataDir: dataDir, args: []string{"--shutdown-grace", "300ms"}})
		d.mustArbiter("add", "--name", "long", "--cron", far, "--kill-grace", "1s", "--shell", "sleep 1000 & echo $!; wait")
		id := d.trigger("long")
		run := d.waitRun(id, "running")
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("daemon exited %d, want 0", code)
		}
		if !processGone(run.PID) {
			t.Errorf("the job's process %d outlived the daemon", run.PID)
		}
		d2 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
		if got := d2.run(id); got.State != "cancelled" || !strings.Contains(got.Reason, "shut down") || got.Signal != "SIGTERM" {
			t.Errorf("run after shutdown = %+v, want cancelled by SIGTERM because of the shutdown", got)
		}
	})
	t.Run("a second signal forces it", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(shortDir(t), "data")
		d := startDaemonWith(t, daemonOpts{dataDir: dataDir, args: []string{"--shutdown-grace", "10m"}})
		// The whole group ignores SIGTERM, so only the forced stop can end it.
		d.mustArbiter("add", "--name", "stubborn", "--cron", far, "--shell", "trap '' TERM; sleep 1000")
		id := d.trigger("stubborn")
		run := d.waitRun(id, "running")
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		eventually(t, 30*time.Second, "the daemon to wait for the run", func() bool {
			return strings.Contains(d.log.String(), "waiting for running runs")
		})
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("daemon exited %d, want 0", code)
		}
		if !processGone(run.PID) {
			t.Errorf("the job's process %d outlived a forced stop", run.PID)
		}
		d2 := startDaemonWith(t, daemonOpts{dataDir: dataDir})
		if got := d2.run(id); got.State != "cancelled" || got.Signal != "SIGKILL" {
			t.Errorf("run after a forced stop = %+v, want cancelled by SIGKILL", got)
		}
	})
}

func TestE2ELogsFollowStreamsUntilTheRunEnds(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	// Each line waits for a file the test creates, so the follower must really stream.
	gate := filepath.Join(shortDir(t), "gate")
	d.mustArbiter("add", "--name", "chatty", "--cron", far, "--shell",
		fmt.Sprintf(`echo one; while [ ! -e %[1]s ]; do sleep 0.02; done; echo two`, gate))
	id := d.trigger("chatty")

	cmd := exec.Command(binary(t), "logs", "-f", strconv.FormatInt(id, 10))
	cmd.Env = append(os.Environ(), "ARBITER_SOCKET="+d.socket)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("one\n"))
	if _, err := io.ReadFull(stdout, first); err != nil || string(first) != "one\n" {
		t.Fatalf("first streamed bytes = %q, %v", first, err)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	if string(rest) != "two\n" {
		t.Errorf("rest of the stream = %q, want %q", rest, "two\n")
	}
}

func TestE2EOutputCapKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "--output-cap", "4096")
	d.mustArbiter("add", "--name", "loud", "--cron", far, "--shell",
		`printf 'HEAD'; head -c 100000 /dev/zero | tr '\0' x; printf 'TAIL\n'`)
	d.mustArbiter("run", "loud", "--wait")
	run := d.runs("loud")[0]
	if run.OutputBytes != 100009 || run.OutputDropped <= 0 || run.OutputBytes-run.OutputDropped > 4096 {
		t.Fatalf("output bytes %d dropped %d; want 100009 and some dropped", run.OutputBytes, run.OutputDropped)
	}
	logs := d.mustArbiter("logs", strconv.FormatInt(run.ID, 10)).stdout
	marker := fmt.Sprintf("[arbiter: %d bytes of output dropped", run.OutputDropped)
	head, tail, ok := strings.Cut(logs, marker)
	if !ok {
		t.Fatalf("no marker %q in the output", marker)
	}
	if !strings.HasPrefix(head, "HEAD") || len(strings.TrimSuffix(head, "\n")) != 2048 {
		t.Errorf("head is %d bytes starting %q; want the first 2048 bytes", len(head), head[:min(8, len(head))])
	}
	if !strings.HasSuffix(tail, "TAIL\n") {
		t.Errorf("tail ends %q, want the last bytes written", tail[max(0, len(tail)-8):])
	}
	_, after, _ := strings.Cut(tail, "\n") // the rest of the marker line
	if kept := int64(len(strings.TrimSuffix(head, "\n")) + len(after)); kept+run.OutputDropped != run.OutputBytes {
		t.Errorf("kept %d + dropped %d != written %d", kept, run.OutputDropped, run.OutputBytes)
	}
}

func TestE2EBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "existing", "--cron", far, "--", "true")

	cli := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"cron field out of range", []string{"add", "--name", "x", "--cron", "61 * * * *", "--", "true"}, 2, "minute"},
		{"cron with too many fields", []string{"add", "--name", "x", "--cron", "* * * * * * *", "--", "true"}, 2, "fields"},
		{"unknown zone", []string{"add", "--name", "x", "--cron", far, "--tz", "Mars/Olympus", "--", "true"}, 2, "Mars/Olympus"},
		{"bad duration", []string{"add", "--name", "x", "--cron", far, "--timeout", "5x", "--", "true"}, 2, "timeout"},
		{"bad name", []string{"add", "--name", "Bad Name", "--cron", far, "--", "true"}, 2, "name"},
		{"bad env", []string{"add", "--name", "x", "--cron", far, "--env", "NOEQUALS", "--", "true"}, 2, "env"},
		{"no command", []string{"add", "--name", "x", "--cron", far}, 2, "command"},
		{"duplicate name", []string{"add", "--name", "existing", "--cron", far, "--", "true"}, 1, "already exists"},
		{"unknown job", []string{"show", "nope"}, 1, `no job named "nope"`},
		{"unknown job runs", []string{"runs", "nope"}, 1, `no job named "nope"`},
		{"unknown run", []string{"logs", "99999"}, 1, "no run with id 99999"},
		{"cancel unknown run", []string{"cancel", "99999"}, 1, "no run with id 99999"},
		{"pause unknown job", []string{"pause", "nope"}, 1, `no job named "nope"`},
		{"bad next expression", []string{"next", "not cron"}, 2, "fields"},
	}
	for _, tt := range cli {
		t.Run(tt.name, func(t *testing.T) {
			r := d.arbiter(tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("want exit %d with %q on stderr; got %s", tt.wantCode, tt.wantErr, r)
			}
			if tt.wantCode == 2 && r.stdout != "" {
				t.Errorf("invalid input printed on stdout: %q", r.stdout)
			}
		})
	}

	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
	}}}
	defer httpc.CloseIdleConnections()
	raw := []struct {
		name, method, path, body string
		header                   string
		wantStatus               int
		wantCode                 string
	}{
		{"malformed json", "POST", "/v1/jobs", `{"name":`, "", 400, "invalid_argument"},
		{"unknown field", "POST", "/v1/jobs", `{"name":"y","scheduel":"* * * * *","command":["true"]}`, "", 400, "invalid_argument"},
		{"trailing data", "POST", "/v1/jobs", `{"name":"y","schedule":"* * * * *","command":["true"]} {}`, "", 400, "invalid_argument"},
		{"empty body", "POST", "/v1/jobs", ``, "", 400, "invalid_argument"},
		{"bad cron over the API", "POST", "/v1/jobs", `{"name":"y","schedule":"* 25 * * *","command":["true"]}`, "", 400, "invalid_argument"},
		{"oversized body", "POST", "/v1/jobs", `{"name":"y","shell":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`, "", 413, "too_large"},
		{"renaming through PUT", "PUT", "/v1/jobs/existing", `{"name":"other","schedule":"* * * * *","command":["true"]}`, "", 400, "invalid_argument"},
		{"unknown route", "GET", "/v1/nope", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/status", "", "", 405, "method_not_allowed"},
		{"bad limit", "GET", "/v1/runs?limit=abc", "", "", 400, "invalid_argument"},
		{"bad state", "GET", "/v1/runs?state=bogus", "", "", 400, "invalid_argument"},
		{"bad run id", "GET", "/v1/runs/abc", "", "", 400, "invalid_argument"},
		{"browser origin", "GET", "/v1/jobs", "", "https://evil.example", 403, "forbidden"},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://arbiter"+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Origin", tt.header)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body api.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || body.Error.Code != tt.wantCode || body.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s with a message", resp.StatusCode, body.Error, tt.wantStatus, tt.wantCode)
			}
		})
	}

	// Nothing above changed the jobs or wrote a run.
	jobs := d.lsJSON()
	if len(jobs) != 1 || jobs[0].Name != "existing" || jobs[0].Command[0] != "true" {
		t.Errorf("jobs after bad input = %+v, want only the existing one, unchanged", jobs)
	}
	if runs := d.runs(""); len(runs) != 0 {
		t.Errorf("bad input created runs: %+v", runs)
	}
}

func TestE2EDaemonNotRunning(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortDir(t), "none.sock")
	for _, args := range [][]string{{"ls"}, {"status"}, {"run", "x"}} {
		r := runCLI(t, []string{"ARBITER_SOCKET=" + sock}, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "is `arbiter daemon` running?") || !strings.Contains(r.stderr, sock) {
			t.Errorf("arbiter %v without a daemon: %s", args, r)
		}
	}
}

func TestE2ECurlOverTheSocket(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed; the API itself is covered by the other tests")
	}
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "via-cli", "--cron", far, "--", "true")
	out, err := exec.Command(curl, "-sS", "--fail", "--unix-socket", d.socket, "http://arbiter/v1/jobs").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var list api.JobList
	if err := json.Unmarshal(out, &list); err != nil || len(list.Jobs) != 1 || list.Jobs[0].Name != "via-cli" {
		t.Fatalf("curl /v1/jobs = %s (%v)", out, err)
	}
	body := `{"name":"via-curl","schedule":"*/5 * * * *","shell":"echo hi"}`
	out, err = exec.Command(curl, "-sS", "--fail", "--unix-socket", d.socket, "-X", "POST", "-d", body, "http://arbiter/v1/jobs").Output()
	if err != nil || !bytes.Contains(out, []byte(`"name": "via-curl"`)) {
		t.Fatalf("curl POST /v1/jobs = %s (%v)", out, err)
	}
}
