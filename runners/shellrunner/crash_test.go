//go:build linux

package shellrunner

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
)

// crashRunEnv, set in the environment, tells the test binary it is the daemon of TestCrash and
// which run id to use.
const crashRunEnv = "ARBITER_TEST_CRASH_RUN_ID"

// A daemon killed with SIGKILL takes its runs' leaders with it (parent-death signal); what they
// started survives, adopted by init, and the next daemon's KillLeftovers stops it.
func TestCrash(t *testing.T) {
	if os.Getenv(crashRunEnv) != "" {
		t.Skip("this is the re-executed daemon")
	}
	t.Parallel()
	id := 1 + rand.Int64N(1<<40)
	daemon := exec.Command(os.Args[0], "-test.run=^TestCrashDaemonProcess$", "-test.count=1")
	daemon.Env = append(os.Environ(), crashRunEnv+"="+strconv.FormatInt(id, 10))
	stdout, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	daemon.Stdout = pw
	err = daemon.Start()
	pw.Close() // the daemon's copy is the only one: the pipe ends when the daemon does
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Kill()
		daemon.Wait()
	})

	// The job prints "child PID" and "leader PID" once both run.
	pids := map[string]int{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(waitTimeout)
	for len(pids) < 2 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the daemon ended before its job printed its pids (got %v)", pids)
			}
			if k, v, ok := strings.Cut(line, " "); ok && (k == "child" || k == "leader") {
				if pid, err := strconv.Atoi(v); err == nil {
					pids[k] = pid
				}
			}
		case <-timeout:
			t.Fatalf("the job did not print its pids (got %v)", pids)
		}
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			if running(pid) {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	})

	if err := daemon.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	daemon.Wait()
	for range lines { // the runner gave the job a pipe of its own: ours ends with the daemon
	}

	if !pollUntil(time.Now().Add(waitTimeout), func() bool { return !running(pids["leader"]) }) {
		t.Fatalf("leader %d outlived its daemon: no parent-death signal?", pids["leader"])
	}
	if !running(pids["child"]) {
		t.Fatalf("child %d died with the daemon; nothing left to test", pids["child"])
	}
	killed, err := KillLeftovers(strconv.FormatInt(id, 10), pids["leader"], 5*time.Second)
	if err != nil || killed != 1 {
		t.Errorf("KillLeftovers = %d, %v; want 1, nil", killed, err)
	}
	assertDead(t, pids["child"])
}

// TestCrashDaemonProcess is the daemon of TestCrash: it runs one job and is killed mid-run.
func TestCrashDaemonProcess(t *testing.T) {
	id := os.Getenv(crashRunEnv)
	if id == "" {
		t.Skip("runs in a process of its own, started by TestCrash")
	}
	runID, _ := strconv.ParseInt(id, 10, 64)
	_, err := New(Options{}).Run(context.Background(), runners.Request{
		Job:    arbiter.Job{Name: "crash", Shell: "sleep 1000 & echo child $!; echo leader $$; exec sleep 1000"},
		RunID:  runID,
		Env:    []string{runners.MarkerEnv + "=" + id},
		Output: os.Stdout,
	})
	t.Fatalf("Run returned: %v", err) // it should have been killed
}

// A goroutine that exits while locked to its OS thread ends the thread, and if that thread had
// forked a leader still running, the leader's parent-death signal (SIGKILL) would fire. The
// runner forks on a thread no other goroutine can use until the leader has exited.
func TestLeaderSurvivesThreadExits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan struct{})
	out := &cancelOn{text: "ready\n", cancel: sync.OnceFunc(func() { close(ready) })}
	type ran struct {
		res runners.Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := New(Options{}).Run(ctx, runners.Request{
			Job:    arbiter.Job{Name: "threads", Shell: "echo ready; exec sleep 1000"},
			Output: out,
		})
		done <- ran{res, err}
	}()
	select {
	case <-ready:
	case r := <-done:
		t.Fatalf("Run returned early: %+v, %v", r.res, r.err)
	}
	// Threads end one after another; the runtime makes new ones, reusing idle ones for the
	// goroutines that lock and exit next.
	for range 300 {
		exited := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(exited)
		}()
		<-exited
	}
	cancel()
	r := <-done
	if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); r.err != nil || r.res != want {
		t.Errorf("Run = %+v, %v; want %+v (SIGKILL: a parent-death signal fired)", r.res, r.err, want)
	}
}
