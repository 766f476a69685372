package shellrunner

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/runners/runnertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunner(t *testing.T) {
	t.Cleanup(func() {
		if kids := children(t); len(kids) > 0 {
			t.Errorf("processes left as children of the test (zombies or not): %v", kids)
		}
	})
	runnertest.Exercise(t, func(t *testing.T) runners.Runner { return New(Options{Logger: testLogger(t)}) })
}

func TestEnviron(t *testing.T) {
	t.Parallel()
	got := environ(
		[]string{"PATH=/bin", "HOME=/root", "A=daemon"},
		map[string]string{"Z": "job", "A": "job", "M": "job"},
		[]string{"HOME=/req", "NEW=req", "Z=req"},
	)
	want := []string{"PATH=/bin", "HOME=/req", "A=job", "M=job", "Z=req", "NEW=req"}
	if !slices.Equal(got, want) {
		t.Errorf("environ = %q, want %q", got, want)
	}
}

func TestStartErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := New(Options{}).Run(t.Context(), runners.Request{Job: arbiter.Job{Command: []string{"nosuchcmd"}}})
	if want := `start "nosuchcmd": executable file not found in $PATH`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// The job's PATH finds the program, and a relative program path is relative to the job's dir.
func TestProgramLookup(t *testing.T) {
	// Not parallel with the other tests: a fork elsewhere while the script is open for writing
	// would hold its descriptor into the child, and exec would fail with ETXTBSY.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("#!/bin/sh\necho hello from $0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		job  arbiter.Job
		want string
	}{
		{"JobPATH", arbiter.Job{Command: []string{"hello"}, Env: map[string]string{"PATH": dir}}, "hello from " + filepath.Join(dir, "hello") + "\n"},
		{"RelativeToDir", arbiter.Job{Command: []string{"./hello"}, Dir: dir}, "hello from ./hello\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			res, err := New(Options{}).Run(t.Context(), runners.Request{Job: tc.job, Output: &out})
			if err != nil || !res.Success() {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			if out.String() != tc.want {
				t.Errorf("output = %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// A process that left the group (setsid) and holds the output pipe must not keep Run from
// returning: Run stops reading shortly after the group is gone. This one is out of the runner's
// reach: the request has no ARBITER_RUN_ID, and without a subreaper init adopts it when the
// leader exits. The pipe-drain bound is the last resort for such a process.
func TestEscapedProcessDoesNotHoldRun(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		t.Skip("no setsid:", err)
	}
	// The leader waits until its child is in a session of its own (field 6 of stat), so the
	// child has surely escaped the group before the leader exits.
	script := `setsid sleep 1000 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat)" != "$p" ]; do :; done
echo $p`
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	began := time.Now()
	res, err := New(Options{Logger: testLogger(t)}).Run(ctx, runners.Request{Job: arbiter.Job{Shell: script}, Output: &out})
	took := time.Since(began)
	pid, perr := strconv.Atoi(strings.TrimSpace(out.String()))
	if perr == nil {
		t.Cleanup(func() { unix.Kill(pid, unix.SIGKILL) })
	}
	if err != nil || !res.Success() {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if perr != nil {
		t.Fatalf("no pid in output %q", out.String())
	}
	if took > 5*time.Second {
		t.Errorf("Run took %v: it waited for a process outside the group", took)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Errorf("the escaped process should still run (unmarked, adopted by init: out of reach): %v", err)
	}
}

// children lists the processes whose parent is the test process.
func children(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	self := []byte(strconv.Itoa(os.Getpid()))
	var kids []string
	for _, name := range names {
		stat, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if f := bytes.Fields(stat[i+1:]); len(f) > 1 && bytes.Equal(f[1], self) {
			kids = append(kids, string(stat[:i+1]))
		}
	}
	return kids
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// slowWriter takes its time over every write, like a store that is slow to commit.
type slowWriter struct {
	delay time.Duration
	n     int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.n += len(p)
	return len(p), nil
}

// Output already in the pipe when the run's processes are gone is all read, however long the
// consumer takes over it: the drain bound is for pipes held open, not for slow readers.
func TestSlowOutputConsumerGetsEverything(t *testing.T) {
	t.Parallel()
	const size = 200_000 // more than a pipe holds, so the process exits only once most is read
	out := &slowWriter{delay: 3 * drainBound / 2}
	res, err := New(Options{Logger: testLogger(t)}).Run(t.Context(), runners.Request{
		Job:    arbiter.Job{Command: []string{"head", "-c", strconv.Itoa(size), "/dev/zero"}},
		Output: out,
	})
	if err != nil || !res.Success() {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if out.n != size {
		t.Errorf("output = %d bytes, want %d", out.n, size)
	}
}
