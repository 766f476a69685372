//go:build linux

package shellrunner

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/runners/reaper"
	"github.com/arbiterd/arbiter/runners/runnertest"
)

// subreaperEnv, set in the environment, tells the test binary it is the re-executed process of
// TestSubreaper.
const subreaperEnv = "ARBITER_TEST_SUBREAPER_PROCESS"

const waitTimeout = 20 * time.Second

// The subreaper changes what becomes of every orphan of the process, and the other tests here
// expect init to adopt them; so the runner's tests with a subreaper run in a process of their
// own, this test binary executed again. That process checks for leaked goroutines too (TestMain).
func TestSubreaper(t *testing.T) {
	if os.Getenv(subreaperEnv) != "" {
		t.Skip("this is the re-executed process")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSubreaperProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), subreaperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the subreaper process failed: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestSubreaperProcess")) {
		t.Fatalf("the subreaper process did not run its test:\n%s", out)
	}
}

func TestSubreaperProcess(t *testing.T) {
	if os.Getenv(subreaperEnv) == "" {
		t.Skip("runs in a process of its own, started by TestSubreaper")
	}
	// A short interval makes reaping passes race with the runner's forks and waits as much as
	// they ever will.
	rp, err := reaper.Start(reaper.Options{Logger: testLogger(t), Interval: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rp.Stop)
	// Leaders are reaped by the runner, adopted orphans by the reaper: none may be left, not
	// even as a zombie. (Cleanups run last-in first-out: this one before Stop.)
	t.Cleanup(func() { awaitNoChildren(t) })
	newRunner := func(t *testing.T) *Runner { return New(Options{Logger: testLogger(t), Reaper: rp}) }

	t.Run("Conformance", func(t *testing.T) {
		runnertest.Exercise(t, func(t *testing.T) runners.Runner { return newRunner(t) })
	})

	// Every run leaves orphans behind (a child the leader never waited for, an escapee that
	// ends on its own, an unmarked one the runner cannot recognise and that ends later), while
	// reaping passes run every few milliseconds: each run still gets its own exit status.
	t.Run("ExitStatusesWhileReaping", func(t *testing.T) {
		t.Parallel()
		const n = 50
		var wg sync.WaitGroup
		for code := range n {
			wg.Go(func() {
				req := markedReq(`true &
setsid sh -c 'exit 0' &
ARBITER_RUN_MARKER=none setsid sleep 0.2 >/dev/null 2>&1 &
exit ` + strconv.Itoa(code))
				ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
				defer cancel()
				res, err := newRunner(t).Run(ctx, req)
				if want := (runners.Result{ExitCode: code}); err != nil || res != want {
					t.Errorf("Run = %+v, %v; want %+v", res, err, want)
				}
			})
		}
		wg.Wait()
	})

	// The escapee's parent exits at once, so only the subreaper keeps it a descendant of the
	// daemon, where the runner finds it by its marker when the run is cancelled.
	t.Run("OrphanedEscapeeStoppedOnCancel", func(t *testing.T) {
		t.Parallel()
		req := markedReq(`sh -c 'setsid sleep 1000 & echo $!'
echo ready
exec sleep 1000`)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		out := &cancelOn{text: "ready\n", cancel: cancel}
		req.Output = out
		res, err := newRunner(t).Run(ctx, req)
		if want := (runners.Result{ExitCode: -1, Signal: "SIGTERM"}); err != nil || res != want {
			t.Errorf("Run = %+v, %v; want %+v", res, err, want)
		}
		awaitVanished(t, pidLine(t, out.String()))
	})

	// The leader exits 0 and leaves an escapee behind: the run is over, so is the escapee.
	t.Run("EscapeeStoppedWhenLeaderExits", func(t *testing.T) {
		t.Parallel()
		req := markedReq(`setsid sleep 1000 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat 2>/dev/null)" != "$p" ]; do [ -e /proc/$p ] || exit 9; done
echo $p`)
		var out bytes.Buffer
		req.Output = &out
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		res, err := newRunner(t).Run(ctx, req)
		if err != nil || !res.Success() {
			t.Fatalf("Run = %+v, %v; want success", res, err)
		}
		awaitVanished(t, pidLine(t, out.String()))
	})
}

// KillLeftovers stops every process marked with the lost run's id, in the group or not, and
// spares a stranger in the group (the number was reused) and a run whose id merely starts with
// the same digits.
func TestKillLeftovers(t *testing.T) {
	t.Parallel()
	id := 1 + rand.Int64N(1<<40)
	lost := startMarked(t, id, 0, `sleep 1000 & echo $!
setsid sleep 1000 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat 2>/dev/null)" != "$p" ]; do [ -e /proc/$p ] || exit 9; done
echo $p
exec sleep 1000`, 2)
	pgid := lost.cmd.Process.Pid
	stranger := startMarked(t, id+1, pgid, "echo $$; exec sleep 1000", 1)
	prefix := startMarked(t, id*10, 0, "echo $$; exec sleep 1000", 1)

	killed, err := KillLeftovers(strconv.FormatInt(id, 10), pgid, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 3 {
		t.Errorf("killed = %d, want 3 (the leader, its child, the escapee)", killed)
	}
	for _, pid := range append(lost.pids, pgid) {
		assertDead(t, pid)
	}
	for _, p := range []*marked{stranger, prefix} {
		if !running(p.pids[0]) {
			t.Errorf("process %d without the run's marker was killed", p.pids[0])
		}
	}
	if st := lost.wait(t); st != "signal: terminated" {
		t.Errorf("the lost leader ended with %q, want SIGTERM", st)
	}
}

func TestKillLeftoversSIGKILLAfterGrace(t *testing.T) {
	t.Parallel()
	id := 1 + rand.Int64N(1<<40)
	// An ignored signal stays ignored across exec, so sleep ignores SIGTERM too.
	lost := startMarked(t, id, 0, "trap '' TERM; echo $$; exec sleep 1000", 1)
	const grace = 200 * time.Millisecond
	began := time.Now()
	killed, err := KillLeftovers(strconv.FormatInt(id, 10), lost.cmd.Process.Pid, grace)
	if err != nil || killed != 1 {
		t.Fatalf("KillLeftovers = %d, %v; want 1, nil", killed, err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("took %v, less than the grace %v", took, grace)
	}
	if st := lost.wait(t); st != "signal: killed" {
		t.Errorf("the lost leader ended with %q, want SIGKILL", st)
	}
}

func TestKillLeftoversNothingLeft(t *testing.T) {
	t.Parallel()
	killed, err := KillLeftovers(strconv.FormatInt(1+rand.Int64N(1<<40), 10), 1<<30, time.Hour)
	if err != nil || killed != 0 {
		t.Errorf("KillLeftovers = %d, %v; want 0, nil", killed, err)
	}
	if _, err := KillLeftovers("", 1<<30, time.Hour); err == nil {
		t.Error("KillLeftovers without a marker succeeded")
	}
}

// marked is a process group started by the test as a stand-in for a lost run.
type marked struct {
	cmd  *exec.Cmd
	pids []int // as the script echoed them
	done chan struct{}
	err  error
}

// startMarked starts script with the run marker id in a process group: a new one when pgid is
// 0, else group pgid. It returns once the script echoed npids pids.
func startMarked(t *testing.T, id int64, pgid int, script string, npids int) *marked {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), runners.MarkerEnv+"="+strconv.FormatInt(id, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	m := &marked{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		for _, pid := range m.pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		cmd.Process.Kill()
		<-m.done
		pr.Close()
	})
	pr.SetReadDeadline(time.Now().Add(waitTimeout))
	var out []byte
	buf := make([]byte, 512)
	for strings.Count(string(out), "\n") < npids {
		n, err := pr.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			t.Fatalf("read pids: %v; got %q", err, out)
		}
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("no pid: %q", out)
		}
		m.pids = append(m.pids, pid)
	}
	return m
}

// wait waits for the leader to be reaped and says how it ended.
func (m *marked) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(waitTimeout):
		t.Fatal("the leader did not end")
	}
	var ee *exec.ExitError
	if errors.As(m.err, &ee) {
		return ee.Error()
	}
	return "exited: " + strings.TrimSpace(m.cmd.ProcessState.String())
}

func markedReq(script string) runners.Request {
	id := 1 + rand.Int64N(1<<40)
	return runners.Request{
		Job:       arbiter.Job{Name: "subreaper", Shell: script},
		RunID:     id,
		Env:       []string{runners.MarkerEnv + "=" + strconv.FormatInt(id, 10)},
		KillGrace: 5 * time.Second,
	}
}

// cancelOn is an output that cancels once text has been written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	text   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.text) {
		c.cancel()
	}
	return n, err
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// pidLine returns the pid in the first line of out.
func pidLine(t *testing.T, out string) int {
	t.Helper()
	line, _, _ := strings.Cut(out, "\n")
	pid, err := strconv.Atoi(line)
	if err != nil || pid <= 0 {
		t.Fatalf("no pid in output %q", out)
	}
	return pid
}

// running reports whether pid is alive and not a zombie.
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	p, ok := parseStat(pid, stat)
	return ok && !p.zombie
}

// assertDead fails when pid is alive; a zombie is dead.
func assertDead(t *testing.T, pid int) {
	t.Helper()
	if running(pid) {
		t.Errorf("process %d is still running", pid)
		unix.Kill(pid, unix.SIGKILL)
	}
}

// awaitVanished waits until pid is gone from /proc: dead and reaped (by the test process, a
// subreaper, if it was orphaned).
func awaitVanished(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process %d is still there: %s", pid, stat)
			unix.Kill(pid, unix.SIGKILL)
			return
		}
		time.Sleep(wait)
	}
}

// awaitNoChildren waits until the test process has no children, zombies included.
func awaitNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		kids := children(t)
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("children left, zombies or not: %v", kids)
			return
		}
		time.Sleep(wait)
	}
}
