package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

// The end-to-end tests build the real binary once and drive real daemons, each on its own
// SQLite file in a temporary directory, through the CLI.

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// withBinaryCleanup removes the built binary after the package's tests ran.
type withBinaryCleanup struct{ m interface{ Run() int } }

func (w withBinaryCleanup) Run() int {
	defer func() {
		if built.dir != "" {
			os.RemoveAll(built.dir)
		}
		stopPG()
	}()
	return w.m.Run()
}

// binary builds ./cmd/arbiter (with -race when the tests run with it) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "arbbin"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "arbiter")
		args := []string{"build", "-o", built.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// lockedBuffer collects a daemon's log while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemonProc is a real `arbiter daemon` process.
type daemonProc struct {
	t       *testing.T
	dataDir string
	socket  string
	cmd     *exec.Cmd
	log     *lockedBuffer
	done    chan struct{}
	exitErr error
	client  *client.Client
}

// daemonOpts place a daemon; empty fields get fresh temporary paths.
type daemonOpts struct {
	dataDir string
	socket  string
	args    []string
}

func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startDaemonWith(t, daemonOpts{args: args})
}

func startDaemonWith(t *testing.T, o daemonOpts) *daemonProc {
	t.Helper()
	d := launchDaemon(t, o)
	d.waitReady()
	return d
}

// launchDaemon starts the process without waiting for it to listen.
func launchDaemon(t *testing.T, o daemonOpts) *daemonProc {
	t.Helper()
	dir := shortDir(t)
	if o.dataDir == "" {
		o.dataDir = filepath.Join(dir, "data")
	}
	if o.socket == "" {
		o.socket = filepath.Join(dir, "s.sock")
	}
	d := &daemonProc{t: t, dataDir: o.dataDir, socket: o.socket, log: &lockedBuffer{}, done: make(chan struct{})}
	args := append([]string{"daemon", "--data-dir", o.dataDir, "--socket", o.socket, "--log-level", "debug"}, o.args...)
	d.cmd = exec.Command(binary(t), args...)
	d.cmd.Env = append(os.Environ(), "TZ=UTC")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.done)
	}()
	d.client = client.New(o.socket)
	t.Cleanup(func() {
		d.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	return d
}

func (d *daemonProc) waitReady() {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.client.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("daemon exited before it listened: %v\n%s", d.exitErr, d.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon did not answer within 30s: %v\n%s", err, d.log.String())
		}
	}
}

// stop signals the daemon and waits for it to exit (SIGKILL after 30s); it returns the exit
// code.
func (d *daemonProc) stop(sig syscall.Signal) int {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(sig)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			d.t.Errorf("daemon did not exit within 30s of %s", sig)
		}
	}
	return d.cmd.ProcessState.ExitCode()
}

// waitExit waits for the daemon to exit on its own and returns its exit code.
func (d *daemonProc) waitExit() int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Fatal("daemon did not exit within 30s")
	}
	return d.cmd.ProcessState.ExitCode()
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// arbiter runs the CLI against this daemon.
func (d *daemonProc) arbiter(args ...string) result {
	d.t.Helper()
	return runCLI(d.t, []string{"ARBITER_SOCKET=" + d.socket}, args...)
}

// mustArbiter runs the CLI and fails the test unless it exits 0.
func (d *daemonProc) mustArbiter(args ...string) result {
	d.t.Helper()
	r := d.arbiter(args...)
	if r.code != 0 {
		d.t.Fatalf("arbiter %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(append(os.Environ(), "TZ=UTC"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run arbiter: %v", err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
}

// eventually polls cond every 20ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemonProc) runs(job string) []api.Run {
	d.t.Helper()
	runs, err := d.client.ListRuns(context.Background(), api.RunsQuery{Job: job, Limit: 1000})
	if err != nil {
		d.t.Fatalf("list runs: %v", err)
	}
	return runs
}

func (d *daemonProc) run(id int64) api.Run {
	d.t.Helper()
	r, err := d.client.GetRun(context.Background(), id)
	if err != nil {
		d.t.Fatalf("get run %d: %v", id, err)
	}
	return r
}

// waitRun waits until the run is in one of states.
func (d *daemonProc) waitRun(id int64, states ...string) api.Run {
	d.t.Helper()
	var r api.Run
	eventually(d.t, 30*time.Second, fmt.Sprintf("run %d to reach %v", id, states), func() bool {
		r = d.run(id)
		for _, s := range states {
			if r.State == s {
				return true
			}
		}
		return false
	})
	return r
}

// lsJSON lists the jobs through `arbiter ls -o json`.
func (d *daemonProc) lsJSON() []api.Job {
	d.t.Helper()
	var list api.JobList
	if err := json.Unmarshal([]byte(d.mustArbiter("ls", "-o", "json").stdout), &list); err != nil {
		d.t.Fatalf("ls -o json: %v", err)
	}
	return list.Jobs
}

// trigger starts a run of job through the CLI and returns its id.
func (d *daemonProc) trigger(job string) int64 {
	d.t.Helper()
	r := d.mustArbiter("run", job)
	id, err := strconv.ParseInt(strings.TrimSpace(r.stdout), 10, 64)
	if err != nil {
		d.t.Fatalf("arbiter run printed %q, want a run id", r.stdout)
	}
	return id
}

// processGone reports whether pid no longer runs (a zombie waiting for its reaper counts as
// gone: it runs no code and holds nothing but its table entry).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesized command name: "pid (comm) S ...".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z'
	}
	return false
}
