//go:build linux

package reaper

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// These tests make the test process a child subreaper, one Reaper at a time: none is parallel.
// The flag is process-wide, which is why the reaper's tests live in a package of their own.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 20 * time.Second

func start(t *testing.T, opts Options) *Reaper {
	t.Helper()
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func TestStartAndStop(t *testing.T) {
	if on, err := isSubreaper(); err != nil || on {
		t.Fatalf("before Start: subreaper = %v, %v; want false", on, err)
	}
	r := start(t, Options{})
	if on, err := isSubreaper(); err != nil || !on {
		t.Fatalf("after Start: subreaper = %v, %v; want true", on, err)
	}
	if _, err := Start(Options{}); err == nil {
		t.Fatal("a second Start in the same process succeeded")
	}
	r.Stop()
	r.Stop() // a second Stop is harmless
	if on, err := isSubreaper(); err != nil || on {
		t.Fatalf("after Stop: subreaper = %v, %v; want false", on, err)
	}
	start(t, Options{}) // and a new one may start
}

func TestNilReaper(t *testing.T) {
	var r *Reaper
	cmd := exec.Command("sh", "-c", "exit 3")
	release, err := r.Own(func() (int, error) { return startCmd(cmd) })
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	release()
	r.Stop()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code = %d (%v), want 3", code, err)
	}
}

func TestOwnStartError(t *testing.T) {
	r := start(t, Options{})
	want := errors.New("no fork today")
	release, err := r.Own(func() (int, error) { return 0, want })
	if !errors.Is(err, want) {
		t.Fatalf("Own = %v, want %v", err, want)
	}
	release()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.owned) != 0 {
		t.Errorf("owned = %v after a failed start", r.owned)
	}
}

// An orphan adopted by the subreaper is reaped: it vanishes from /proc instead of staying a
// zombie child of the test process.
func TestReapsOrphans(t *testing.T) {
	r := start(t, Options{Interval: time.Hour}) // SIGCHLD alone must do it
	// The middle shell prints its child's pid and exits, orphaning the child, which exits too.
	orphan := orphanOf(t, r, `sh -c 'exit 7'`)
	awaitVanished(t, orphan)
	awaitNoChildren(t)
}

// The reaper passes as often as it can while many owned children exit, each with its own
// status, and each leaves an orphan that exits too: every cmd.Wait gets its child's status,
// and every orphan is reaped.
func TestOwnedChildrenKeepTheirStatus(t *testing.T) {
	r := start(t, Options{Interval: time.Millisecond})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for code := range n {
		wg.Go(func() {
			cmd := exec.Command("sh", "-c", `(exit 0) & sh -c 'exit 1' & exit `+strconv.Itoa(code))
			release, err := r.Own(func() (int, error) { return startCmd(cmd) })
			if err != nil {
				errs <- err
				return
			}
			werr := cmd.Wait()
			release()
			if got := cmd.ProcessState; got == nil || got.ExitCode() != code {
				errs <- errors.New("exit " + strconv.Itoa(code) + ": cmd.Wait got " + errString(werr) + ", state " + stateString(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	awaitNoChildren(t)
}

// A pid counts owners: a number reused by a second owned child while the first owner had
// reaped but not yet released it stays owned.
func TestOwnershipIsCounted(t *testing.T) {
	r := start(t, Options{Interval: time.Hour})
	pid := 1 << 30 // no process has it: only the bookkeeping is tested
	rel1, _ := r.Own(func() (int, error) { return pid, nil })
	rel2, _ := r.Own(func() (int, error) { return pid, nil })
	rel1()
	rel1() // twice changes nothing
	if n, _ := r.owners(pid); n != 1 {
		t.Fatalf("owners of %d = %d, want 1", pid, n)
	}
	rel2()
	if _, ok := r.owners(pid); ok {
		t.Fatalf("%d still owned after both releases", pid)
	}
}

func startCmd(cmd *exec.Cmd) (int, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// awaitVanished waits until pid is gone from /proc: reaped, not just dead.
func awaitVanished(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			t.Fatalf("process %d was not reaped: %s", pid, stat)
		}
		time.Sleep(wait)
	}
}

// awaitNoChildren waits until the test process has no children, zombies included.
func awaitNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		kids, err := scanChildren(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children left (zombies not reaped?): %s", describeAll(kids))
		}
		time.Sleep(wait)
	}
}

func describeAll(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); err == nil && i >= 0 {
			b.Write(stat[:min(len(stat), i+3)]) // "pid (comm) S"
			b.WriteString("; ")
		}
	}
	return b.String()
}

func (r *Reaper) owners(pid int) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.owned[pid]
	return n, ok
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func stateString(ps *os.ProcessState) string {
	if ps == nil {
		return "none"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ps.ExitCode())
}

// Adopted tells an owned child from an orphan the reaper adopted.
func TestAdopted(t *testing.T) {
	r := start(t, Options{Interval: time.Hour})
	if r.Adopted() {
		t.Fatal("Adopted with no children at all")
	}
	orphan := orphanOf(t, r, `sleep 60 >/dev/null 2>&1`)
	if !r.Adopted() {
		t.Errorf("Adopted = false while orphan %d lives", orphan)
	}
	// An owned child alone is no orphan.
	owned := exec.Command("sleep", "60")
	release, err := r.Own(func() (int, error) { return startCmd(owned) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		owned.Process.Kill()
		owned.Wait()
		release()
	}()
	if err := syscall.Kill(orphan, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	awaitVanished(t, orphan)
	if r.Adopted() {
		t.Error("Adopted = true with only an owned child left")
	}
	r.Stop()
	if !r.Adopted() {
		t.Error("a stopped reaper cannot tell, so Adopted must say true")
	}
}

// orphanOf runs a shell that starts background in the background and exits at once, orphaning
// it, and returns the orphan's pid. The shell is started through Own, or the reaper could take
// its status too.
func orphanOf(t *testing.T, r *Reaper, background string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", background+" & echo $!")
	var buf bytes.Buffer
	cmd.Stdout = &buf
	release, err := r.Own(func() (int, error) { return startCmd(cmd) })
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	release()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(buf.String()))
	if err != nil {
		t.Fatalf("no pid in %q", buf.String())
	}
	return pid
}
