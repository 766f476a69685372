// Package runnertest is the conformance suite of runners.Runner: what every runner that starts
// local processes must do. A runner's tests call Exercise.
package runnertest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
)

// waitTimeout bounds every wait of the suite, so a broken runner fails instead of hanging.
const waitTimeout = 20 * time.Second

// Exercise runs the suite against runners made by newRunner, one per subtest. The subtests run
// in parallel and need sh, sleep, env, grep, cut and setsid, and a Linux /proc.
func Exercise(t *testing.T, newRunner func(t *testing.T) runners.Runner) {
	t.Run("ExitStatus", func(t *testing.T) {
		t.Parallel()
		for _, code := range []int{0, 3, 42} {
			t.Run(strconv.Itoa(code), func(t *testing.T) {
				t.Parallel()
				res, _ := run(t, newRunner(t), shell("exit "+strconv.Itoa(code)))
				want := runners.Result{ExitCode: code}
				if res != want {
					t.Fatalf("result = %+v, want %+v", res, want)
				}
				if res.Success() != (code == 0) {
					t.Errorf("Success() = %v for exit status %d", res.Success(), code)
				}
			})
		}
	})

	t.Run("InterleavedOutput", func(t *testing.T) {
		t.Parallel()
		_, out := run(t, newRunner(t), shell("echo a; echo b >&2; echo c"))
		if out != "a\nb\nc\n" {
			t.Errorf("output = %q, want %q", out, "a\nb\nc\n")
		}
	})

	t.Run("PartialLineArrivesWhileRunning", func(t *testing.T) {
		t.Parallel()
		a := start(t, newRunner(t), shell("printf partial; exec sleep 1000"))
		a.out.waitFor(t, "partial")
		a.cancel()
		if res := a.result(t); res.Signal != "SIGTERM" {
			t.Errorf("result = %+v, want Signal SIGTERM", res)
		}
	})

	t.Run("Env", func(t *testing.T) {
		t.Parallel()
		req := shell(`echo "$A $B $C"; env | grep -c '^B='`)
		req.Job.Env = map[string]string{"A": "job", "B": "job"}
		req.Env = []string{"B=req", "C=req"}
		// grep and env are found through the daemon's PATH: its environment comes first.
		_, out := run(t, newRunner(t), req)
		if want := "job req req\n1\n"; out != want {
			t.Errorf("output = %q, want %q (job env, then request env overriding it, each key once)", out, want)
		}
	})

	t.Run("Dir", func(t *testing.T) {
		t.Parallel()
		dir, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		req := shell("pwd -P")
		req.Job.Dir = dir
		if _, out := run(t, newRunner(t), req); out != dir+"\n" {
			t.Errorf("output = %q, want %q", out, dir+"\n")
		}
	})

	t.Run("StartFailure", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		noExec := filepath.Join(dir, "not-executable")
		if err := os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			job  arbiter.Job
			want string // in the error message
		}{
			{"NoSuchProgram", arbiter.Job{Command: []string{"arbiter-no-such-program"}}, "arbiter-no-such-program"},
			{"NoSuchDir", arbiter.Job{Command: []string{"true"}, Dir: filepath.Join(dir, "missing")}, "missing"},
			{"NotExecutable", arbiter.Job{Command: []string{noExec}}, "permission denied"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.job.Name = "runnertest"
				started := false
				ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
				defer cancel()
				_, err := newRunner(t).Run(ctx, runners.Request{
					Job:     tc.job,
					Output:  &output{},
					Started: func(int) { started = true },
				})
				if err == nil {
					t.Fatal("Run succeeded, want an error")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not mention %q", err, tc.want)
				}
				if started {
					t.Error("Started was called for a process that did not start")
				}
			})
		}
	})

	t.Run("CancelSendsSIGTERM", func(t *testing.T) {
		t.Parallel()
		a := start(t, newRunner(t), runners.Request{Job: arbiter.Job{Name: "runnertest", Command: []string{"sleep", "1000"}}})
		a.cancel()
		res := a.result(t)
		if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		assertGone(t, a.pid)
	})

	t.Run("SIGKILLAfterGrace", func(t *testing.T) {
		t.Parallel()
		// An ignored signal stays ignored across exec, so sleep ignores SIGTERM too.
		req := shell("trap '' TERM; echo ready; sleep 1000")
		req.KillGrace = 200 * time.Millisecond
		a := start(t, newRunner(t), req)
		a.out.waitFor(t, "ready\n")
		a.cancel()
		res := a.result(t)
		if want := (runners.Result{ExitCode: -1, Signal: "SIGKILL"}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		assertGone(t, a.pid)
	})

	t.Run("TimeoutKillsGrandchild", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req := shell("sleep 1000 & echo $!; sleep 1000; wait")
		req.KillGrace = 5 * time.Second
		res, out := runCtx(t, ctx, newRunner(t), req)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Run returned before the deadline: %+v, output %q", res, out)
		}
		if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		assertGone(t, pidIn(t, out))
	})

	// A process that left the group (setsid) escapes kill(-pgid); the run's marker in its
	// environment still gives it away. Here its parent is still running when the run is
	// stopped, so it descends from the runner's process with or without a child subreaper.
	t.Run("TimeoutKillsEscapedGrandchild", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		req := marked(shell(escapeScript))
		req.KillGrace = 5 * time.Second
		res, out := runCtx(t, ctx, newRunner(t), req)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Run returned before the deadline: %+v, output %q", res, out)
		}
		pids := pidsIn(t, out)
		if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		for _, pid := range pids {
			assertGone(t, pid)
		}
	})

	t.Run("CancelKillsEscapedGrandchild", func(t *testing.T) {
		t.Parallel()
		req := marked(shell(escapeScript))
		req.KillGrace = 5 * time.Second
		a := start(t, newRunner(t), req)
		a.out.waitFor(t, "ready\n")
		a.cancel()
		res := a.result(t)
		if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		for _, pid := range pidsIn(t, a.out.String()) {
			assertGone(t, pid)
		}
	})

	// Another run's processes are not this run's, even when they descend from the same
	// daemon: only the exact marker counts ("…=7" is not "…=70").
	t.Run("OtherRunsEscapeeSpared", func(t *testing.T) {
		t.Parallel()
		other := marked(shell(escapeScript))
		b := start(t, newRunner(t), other)
		b.out.waitFor(t, "ready\n")
		pids := pidsIn(t, b.out.String())
		req := shell("echo done")
		req.RunID = other.RunID * 10
		req.Env = []string{runners.MarkerEnv + "=" + strconv.FormatInt(req.RunID, 10)}
		req.KillGrace = 5 * time.Second
		if res, _ := run(t, newRunner(t), req); !res.Success() {
			t.Fatalf("result = %+v, want success", res)
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, 0); err != nil {
				t.Errorf("process %d of another run was stopped: %v", pid, err)
			}
		}
		b.cancel()
		b.result(t)
		for _, pid := range pids {
			assertGone(t, pid)
		}
	})

	t.Run("BackgroundChildStoppedWhenLeaderExits", func(t *testing.T) {
		t.Parallel()
		res, out := run(t, newRunner(t), shell("sleep 1000 & echo $!"))
		if !res.Success() {
			t.Errorf("result = %+v, want success: the main process exited 0", res)
		}
		assertGone(t, pidIn(t, out))
	})

	t.Run("StartedGetsPID", func(t *testing.T) {
		t.Parallel()
		var pids []int
		req := shell("echo $$")
		req.Started = func(pid int) { pids = append(pids, pid) }
		_, out := run(t, newRunner(t), req)
		if len(pids) != 1 {
			t.Fatalf("Started called %d times, want once", len(pids))
		}
		if got := pidIn(t, out); got != pids[0] {
			t.Errorf("Started(%d), but the process says its pid is %d", pids[0], got)
		}
		assertGone(t, pids[0])
	})
}

func shell(script string) runners.Request {
	return runners.Request{Job: arbiter.Job{Name: "runnertest", Shell: script}}
}

// escapeScript starts a background child in the group and one that calls setsid, waits until
// the second is in a session of its own (field 6 of its stat), prints both pids and "ready",
// and waits.
const escapeScript = `sleep 1000 & echo $!
setsid sleep 1000 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat 2>/dev/null)" != "$p" ]; do [ -e /proc/$p ] || exit 9; done
echo $p
echo ready
sleep 1000; wait`

// marked gives req a run id of its own and the run marker the daemon would set. The id is
// random so that runs of concurrent tests, in this process or another, never share one.
func marked(req runners.Request) runners.Request {
	req.RunID = 1 + rand.Int64N(1<<40)
	req.Env = append(req.Env, runners.MarkerEnv+"="+strconv.FormatInt(req.RunID, 10))
	return req
}

// run runs req to completion and returns its result and output.
func run(t *testing.T, r runners.Runner, req runners.Request) (runners.Result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	return runCtx(t, ctx, r, req)
}

func runCtx(t *testing.T, ctx context.Context, r runners.Runner, req runners.Request) (runners.Result, string) {
	t.Helper()
	out := &output{}
	req.Output = out
	res, err := r.Run(ctx, req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, out.String()
}

// async is a run going on in the background.
type async struct {
	out    *output
	pid    int
	cancel context.CancelFunc
	done   chan struct{}
	res    runners.Result
	err    error
}

// start starts req and returns once Started was called.
func start(t *testing.T, r runners.Runner, req runners.Request) *async {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	a := &async{out: &output{}, cancel: cancel, done: make(chan struct{})}
	started := make(chan int, 1)
	req.Output = a.out
	req.Started = func(pid int) { started <- pid }
	go func() {
		defer close(a.done)
		a.res, a.err = r.Run(ctx, req)
	}()
	t.Cleanup(func() {
		cancel()
		<-a.done
	})
	select {
	case a.pid = <-started:
	case <-a.done:
		t.Fatalf("Run returned without starting: %+v, %v", a.res, a.err)
	case <-time.After(waitTimeout):
		t.Fatal("Started was not called")
	}
	return a
}

// result waits for Run to return.
func (a *async) result(t *testing.T) runners.Result {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return; output so far %q", a.out.String())
	}
	if a.err != nil {
		t.Fatalf("Run: %v", a.err)
	}
	return a.res
}

// pidIn returns the pid a script echoed as the first line of its output.
func pidIn(t *testing.T, out string) int {
	t.Helper()
	line, _, _ := strings.Cut(out, "\n")
	pid, err := strconv.Atoi(line)
	if err != nil || pid <= 0 {
		t.Fatalf("no pid in output %q", out)
	}
	return pid
}

// pidsIn returns the pids a script echoed, one a line, before a line "ready".
func pidsIn(t *testing.T, out string) []int {
	t.Helper()
	head, _, ok := strings.Cut(out, "ready\n")
	if !ok {
		t.Fatalf("output %q lacks the line ready: the script did not get that far", out)
	}
	var pids []int
	for _, line := range strings.Fields(head) {
		pid, err := strconv.Atoi(line)
		if err != nil || pid <= 0 {
			t.Fatalf("output %q: %q is not a pid", out, line)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		t.Fatalf("no pids in output %q", out)
	}
	return pids
}

// assertGone fails unless process pid is dead. A zombie is dead: it waits for its new parent
// (init, or a subreaper) to reap it, which is outside a runner's power.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return // gone meanwhile
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
		return
	}
	t.Errorf("process %d is still running after Run returned: %s", pid, stat)
	unix.Kill(pid, unix.SIGKILL)
}

// output is a concurrency-safe buffer that can wait for text to appear.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at the next write
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		o.mu.Lock()
		if strings.Contains(o.buf.String(), s) {
			o.mu.Unlock()
			return
		}
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		changed := o.changed
		o.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("output %q never contained %q", o.String(), s)
		}
	}
}
