package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/arbiterd/arbiter/api"
)

// screen is `arbiter top` running in a detached tmux session on its own tmux server: a real
// terminal, driven by keys and read back with capture-pane.
type screen struct {
	t        *testing.T
	sock     string // the tmux server's socket, private to the test
	exitFile string // top's exit status, once it has quit
}

// startTop runs `arbiter top args…` against d in a width×height terminal. scripts/test installs
// tmux; without it the test fails rather than skipping, so CI can never pass it by omission.
func startTop(t *testing.T, d *daemonProc, width, height int, env []string, args ...string) *screen {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for the arbiter top end-to-end test; scripts/test installs it")
	}
	dir := shortDir(t)
	s := &screen{t: t, sock: filepath.Join(dir, "tmux"), exitFile: filepath.Join(dir, "exit")}
	cmdline := []string{"env", "TZ=UTC", "TERM=xterm-256color", "ARBITER_SOCKET=" + d.socket}
	cmdline = append(append(cmdline, env...), binary(t), "top")
	cmdline = append(cmdline, args...)
	// The shell tmux runs it with writes its exit status down, and the pane stays for the
	// screen to be read after it quits.
	shell := shellQuote(cmdline) + "; echo $? >" + shellQuote([]string{s.exitFile}) + "; sleep 600"
	s.tmux("new-session", "-d", "-s", "top", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), shell)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screen at the end:\n%s", s.capture())
		}
		_ = exec.Command("tmux", "-S", s.sock, "kill-server").Run()
	})
	return s
}

func (s *screen) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// capture is the screen's text, without colours.
func (s *screen) capture() string {
	out, err := exec.Command("tmux", "-S", s.sock, "capture-pane", "-p", "-t", "top").CombinedOutput()
	if err != nil {
		return "(capture-pane: " + err.Error() + ")"
	}
	return string(out)
}

// keys sends tmux key names (Enter, Escape, Down, C-c) or literal text.
func (s *screen) keys(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys", "-t", "top"}, keys...)...)
}

// waitFor waits until the screen shows every one of texts.
func (s *screen) waitFor(what string, texts ...string) string {
	s.t.Helper()
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for {
		last = s.capture()
		missing := ""
		for _, text := range texts {
			if !strings.Contains(last, text) {
				missing = text
				break
			}
		}
		if missing == "" {
			return last
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %q not on the screen after 20s:\n%s", what, missing, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until the screen no longer shows text.
func (s *screen) waitGone(what, text string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		last := s.capture()
		if !strings.Contains(last, text) {
			return last
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %q still on the screen after 20s:\n%s", what, text, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// quit presses key and checks that top exits 0.
func (s *screen) quit(key string) {
	s.t.Helper()
	s.keys(key)
	if code := s.exited(); code != 0 {
		s.t.Errorf("arbiter top exited %d after %s", code, key)
	}
}

// exited waits for top to exit and returns its exit status, which the shell around it wrote.
func (s *screen) exited() int {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(s.exitFile); err == nil && strings.HasSuffix(string(b), "\n") {
			code, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				s.t.Fatalf("exit status %q", b)
			}
			return code
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("arbiter top still running 20s after quitting:\n%s", s.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// arbiter top against a real daemon in a real terminal: the jobs, a filter, a job's runs, a
// run's log, live updates, every action, a daemon restart, a resize, and quitting.
func TestTop(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	// Daily, half an hour and two hours from now: flaky's next fire comes first, and neither
	// fires while the test runs (a scheduled failure would throw the live count off).
	flakyAt, backupAt := time.Now().Add(30*time.Minute), time.Now().Add(2*time.Hour)
	daily := func(at time.Time) string { return fmt.Sprintf("%d %d * * *", at.Minute(), at.Hour()) }
	d.mustArbiter("add", "--name", "backup", "--cron", daily(backupAt), "--", "echo", "hello-from-backup")
	d.mustArbiter("add", "--name", "flaky", "--cron", daily(flakyAt), "--shell", "echo about to fail; exit 3")
	d.mustArbiter("run", "--wait", "backup")
	if r := d.arbiter("run", "--wait", "flaky"); r.code != 3 {
		t.Fatalf("run --wait flaky: %s", r)
	}

	s := startTop(t, d, 100, 30, nil)
	s.waitFor("the jobs view", "● connected", "backup", "flaky", "✓ succeeded", "✗ failed", "failed (24h) 1")

	// / filters as it is typed; enter keeps the filter, and opens the job's runs after it.
	s.keys("/", "fla")
	s.waitFor("the filter", "filter: fla")
	s.waitGone("the filter", "backup")
	s.keys("Enter")
	s.keys("Enter")
	s.waitFor("flaky's runs", "jobs › flaky", "✗ failed", "exit status 3")
	s.keys("Enter")
	s.waitFor("the run's log", "jobs › flaky › run", "about to fail")
	s.keys("Escape")
	s.waitGone("back from the log", "about to fail")
	s.keys("Escape")
	// Each escape waits for its screen: two sent at once read as alt+escape, as in any terminal.
	s.waitFor("back to the jobs", "NAME", "filter: fla")
	s.keys("Escape") // clears the filter
	s.waitFor("the filter cleared", "backup", "flaky")

	// Live: a run started elsewhere shows up from the daemon's event stream.
	d.mustArbiter("run", "flaky")
	s.waitFor("a failure counted live", "failed (24h) 2")

	// Rows are sorted by next fire: flaky before backup.
	s.keys("g", "j")
	s.waitFor("backup selected", "backup: daily at "+backupAt.Format("15:04"))
	s.keys("r")
	s.waitFor("run now", "of backup triggered")
	eventually(t, 10*time.Second, "a second run of backup", func() bool { return len(d.runs("backup")) == 2 })

	s.keys("p")
	s.waitFor("pause", "paused backup")
	eventually(t, 10*time.Second, "backup paused", func() bool { return jobNamed(d.lsJSON(), "backup").Paused })
	s.keys("p")
	s.waitFor("resume", "resumed backup")

	s.keys("d")
	s.waitFor("the delete question", "delete job backup?", "y/n")
	s.keys("n")
	s.waitFor("kept", "kept backup")
	s.keys("d", "y")
	s.waitFor("delete", "deleted backup")
	s.waitGone("backup's row gone", "backup ")
	if jobs := d.lsJSON(); len(jobs) != 1 || jobs[0].Name != "flaky" {
		t.Errorf("jobs after deleting backup in top: %+v", jobs)
	}

	// The daemon restarts: top says so, and reconnects by itself.
	d.stop(syscall.SIGTERM)
	s.waitFor("the daemon gone", "reconnecting")
	d2 := startDaemonWith(t, daemonOpts{dataDir: d.dataDir, socket: d.socket})
	s.waitFor("reconnected", "● connected")
	d2.mustArbiter("run", "flaky")
	s.waitFor("live again after the restart", "failed (24h) 3")

	// Down to 80x24 the screen still fits: no line wider than the terminal.
	s.tmux("resize-window", "-t", "top", "-x", "80", "-y", "24")
	screen := s.waitFor("resized", "● connected", "flaky")
	for line := range strings.Lines(screen) {
		if w := utf8.RuneCountInString(strings.TrimRight(line, "\n")); w > 80 {
			t.Errorf("a line of %d columns at 80x24: %q", w, line)
		}
	}

	s.quit("q")
}

// c in a job's runs cancels the selected running run, and the view follows it to its end.
func TestTopCancel(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "slow", "--cron", "0 3 * * *", "--", "sleep", "300")
	id := d.trigger("slow")
	d.waitRun(id, "running")
	s := startTop(t, d, 100, 30, nil)
	s.waitFor("the jobs view", "● connected", "● running", "running 1")
	s.keys("Enter")
	s.waitFor("slow's runs", "jobs › slow", "● running")
	s.keys("c")
	s.waitFor("cancel", "cancelling run "+strconv.FormatInt(id, 10)+" of slow")
	s.waitFor("the run cancelled", "⊘ cancelled", "cancelled by")
	if r := d.run(id); r.State != "cancelled" {
		t.Errorf("run %d is %s after c in top, want cancelled", id, r.State)
	}
	s.quit("q")
}

// --readonly: the keys that act only say that they are off, and nothing changes.
func TestTopReadOnly(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "backup", "--cron", "0 3 * * *", "--", "true")
	s := startTop(t, d, 100, 30, nil, "--readonly")
	s.waitFor("the jobs view", "● connected", "backup")
	for _, k := range []string{"r", "p", "d"} {
		s.keys(k)
		s.waitFor("key "+k, "actions are disabled (started with --readonly)")
		// Any key clears the flash. Waiting for that also keeps the Escape apart from the next
		// key: sent together, the two would be read as one key with alt.
		s.keys("Escape")
		s.waitGone("the flash to clear", "(started with --readonly)")
	}
	if runs := d.runs("backup"); len(runs) != 0 {
		t.Errorf("runs after r in read-only top: %+v", runs)
	}
	if j := jobNamed(d.lsJSON(), "backup"); j.Paused {
		t.Errorf("backup paused by p in read-only top")
	}
	s.quit("C-c")
}

// NO_COLOR gives a screen without a single colour or attribute; without it there are colours.
func TestTopNoColor(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "backup", "--cron", "0 3 * * *", "--", "true")
	d.mustArbiter("run", "--wait", "backup")
	for _, noColor := range []bool{true, false} {
		var env []string
		if noColor {
			env = []string{"NO_COLOR=1"}
		}
		s := startTop(t, d, 100, 30, env)
		s.waitFor("the jobs view", "● connected", "✓ succeeded")
		// -e keeps the escape sequences of colours and attributes in the capture.
		styled := s.tmux("capture-pane", "-p", "-e", "-t", "top")
		if got := strings.Contains(styled, "\x1b["); got == noColor {
			t.Errorf("NO_COLOR set %v: escape sequences on the screen %v:\n%q", noColor, got, styled)
		}
		s.quit("q")
	}
}

// Off a terminal top refuses to start, rather than drawing escape codes into a file.
func TestTopNeedsTerminal(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	r := d.arbiter("top")
	if r.code == 0 || !strings.Contains(r.stderr, "needs a terminal") {
		t.Errorf("arbiter top off a terminal: %s", r)
	}
}

func jobNamed(jobs []api.Job, name string) api.Job {
	for _, j := range jobs {
		if j.Name == name {
			return j
		}
	}
	return api.Job{}
}
