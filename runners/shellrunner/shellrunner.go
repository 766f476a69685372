// Package shellrunner runs a job's command as a local process in a process group of its own.
//
// A run is over when its main process (the group leader) is: whatever the leader left behind is
// stopped too (SIGTERM, then SIGKILL after the kill grace), like systemd's control-group kill
// mode, so a cron job's forgotten `sleep &` cannot pile up run after run. "Left behind" is the
// leader's process group, plus the processes that left the group (setsid) but still carry the
// run's marker (runners.MarkerEnv) in their environment and descend from the daemon. For an escapee whose
// parent exited to stay a descendant, the daemon must be a child subreaper: see runners/reaper,
// and pass the *reaper.Reaper in Options so that its reaping spares the runner's children.
//
// The leader dies with the daemon (its parent-death signal is SIGKILL); what it started does
// not, and the next daemon stops it with KillLeftovers.
package shellrunner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/runners/reaper"
)

// drainBound is how long Run keeps reading output once the run's processes are gone. Only a
// process that left the group (setsid, setpgid) and could not be recognised (it dropped the
// run's marker, or init adopted it) can still hold the pipe open then; without a bound, such a
// daemonized grandchild would keep the run alive forever.
const drainBound = 200 * time.Millisecond

// defaultPath is searched when the job's environment has no PATH (the one systemd uses).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options configure a Runner.
type Options struct {
	Logger *slog.Logger // nil discards
	// Reaper is the process's child subreaper, when it has one: the runner starts its
	// processes through it, so that its reaping leaves their exit status to the runner. With a
	// Reaper running, it must be set.
	Reaper *reaper.Reaper
}

// Runner runs jobs as local processes. It is safe for concurrent use. Run must not be called
// from a goroutine locked to its OS thread (runtime.LockOSThread).
type Runner struct {
	log    *slog.Logger
	reaper *reaper.Reaper
	procs  *procTable
}

var _ runners.Runner = (*Runner)(nil)

// New returns a Runner.
func New(opts Options) *Runner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{log: log, reaper: opts.Reaper, procs: newProcTable()}
}

// Run starts req.Job.Argv() with the job's directory and environment, stdin from /dev/null and
// stdout and stderr on one pipe, and blocks until the run's processes are gone (see the package
// comment) and its output has been copied to req.Output.
func (r *Runner) Run(ctx context.Context, req runners.Request) (runners.Result, error) {
	argv := req.Job.Argv()
	if len(argv) == 0 || argv[0] == "" {
		return runners.Result{}, errors.New("start: no command")
	}
	startErr := func(err error) error { return fmt.Errorf("start %q: %w", argv[0], err) }
	if err := ctx.Err(); err != nil {
		return runners.Result{}, startErr(err)
	}
	env := environ(os.Environ(), req.Job.Env, req.Env)
	pathEnv, hasPath := getenv(env, "PATH")
	path, err := lookPath(argv[0], pathEnv, hasPath)
	if err != nil {
		return runners.Result{}, startErr(err)
	}
	// Checked here because the kernel's answer to a bad directory arrives as an error of
	// fork/exec naming the program, which reads as if the program were missing.
	if dir := req.Job.Dir; dir != "" {
		if fi, err := os.Stat(dir); err != nil {
			return runners.Result{}, startErr(fmt.Errorf("working directory %q: %w", dir, errors.Unwrap(err)))
		} else if !fi.IsDir() {
			return runners.Result{}, startErr(fmt.Errorf("working directory %q: %w", dir, syscall.ENOTDIR))
		}
	}

	// One pipe for both streams: the kernel orders the writes, so output is interleaved
	// exactly as the process wrote it, which two pipes could not guarantee.
	pr, pw, err := os.Pipe()
	if err != nil {
		return runners.Result{}, startErr(err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         env,
		Dir:         req.Job.Dir,
		Stdout:      pw, // an *os.File goes straight to the child: no copying goroutine in exec
		Stderr:      pw,
		SysProcAttr: leaderAttr(),
	}
	log := r.log.With("job", req.Job.Name, "run", req.RunID)
	l, err := r.startLeader(log, cmd)
	// Our copy of the write end must go, or the reader would never see EOF.
	pw.Close()
	if err != nil {
		pr.Close()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "fork/exec /full/path: permission denied" says less than startErr does
		}
		return runners.Result{}, startErr(err)
	}
	pid := cmd.Process.Pid
	log = log.With("pid", pid)

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		copyOutput(log, req.Output, pr)
	}()
	if req.Started != nil {
		req.Started(pid)
	}

	marker := ""
	if id, ok := getenv(env, runners.MarkerEnv); ok && id != "" {
		marker = runners.MarkerEnv + "=" + id
	}
	grace := cmp.Or(req.KillGrace, arbiter.DefaultKillGrace)
	stopTree(ctx, log, newTree(r.procs, r.reaper.Adopted, pid, os.Getpid(), marker), l.exited, grace)
	err = cmd.Wait() // reaps the leader; only now may its pid, the group's name, be reused
	if cmd.ProcessState == nil {
		log.Error("reap process", "err", err)
	}
	l.release() // after the reaping: released earlier, the reaper could take the exit status
	pr.SetReadDeadline(time.Now().Add(drainBound))
	<-copied
	pr.Close()
	return result(cmd.ProcessState), nil
}

// leader is a run's main process.
type leader struct {
	exited  chan struct{} // closed once the process has exited; it is not reaped yet
	release func()        // hands the reaped leader's pid back to the reaper
}

// startLeader starts cmd on an OS thread of its own and returns once it runs.
//
// The parent-death signal is tied to a thread, not to the process: the kernel sends it when
// the thread that forked the child exits. Go ends a thread only when a goroutine locked to it
// (runtime.LockOSThread) exits without unlocking, and the runner never does that; but any
// goroutine of any package that did would end whichever thread it was on, and if that thread
// had forked a leader still running, the leader would be SIGKILLed mid-run for no reason. So
// the fork happens on a goroutine locked to its thread until the leader has exited: no other
// goroutine runs on that thread meanwhile, so nothing else can end it. This costs no thread:
// the same goroutine blocks in waitid for the leader's whole life, which holds a thread anyway.
// Without the lock, TestLeaderSurvivesThreadExits fails: its leader is SIGKILLed mid-run.
func (r *Runner) startLeader(log *slog.Logger, cmd *exec.Cmd) (*leader, error) {
	l := &leader{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only once the leader has exited: its parent-death signal cannot fire then.
		defer runtime.UnlockOSThread()
		var err error
		l.release, err = r.reaper.Own(func() (int, error) {
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			return cmd.Process.Pid, nil
		})
		started <- err
		if err != nil {
			return
		}
		defer close(l.exited)
		if err := awaitExit(cmd.Process.Pid); err != nil {
			log.Error("wait for process", "pid", cmd.Process.Pid, "err", err)
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return l, nil
}

// copyOutput copies the pipe to out as data arrives, until EOF or the read deadline.
func copyOutput(log *slog.Logger, out io.Writer, pr *os.File) {
	if out == nil {
		out = io.Discard
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := pr.Read(buf)
		if n > 0 && out != io.Discard {
			if _, werr := out.Write(buf[:n]); werr != nil {
				// Keep reading: a child blocked on a full pipe would never exit.
				log.Warn("write output; discarding the rest", "err", werr)
				out = io.Discard
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The deadline also fails reads of output that is already in the pipe, so a reader
			// held up by a slow store must still take what is there.
			if out = drainReady(log, out, pr, buf); out == nil {
				return // the pipe reached its end: nothing held it open
			}
			log.Warn("output pipe still open after the process group exited; stopped reading",
				"hint", "a process that left the group (setsid) still holds it")
			return
		}
		if err != nil {
			return
		}
	}
}

// drainReady copies to out what the pipe holds now, without waiting for more. It returns nil
// when the pipe reached its end, else the writer to keep using (io.Discard after a failed write).
func drainReady(log *slog.Logger, out io.Writer, pr *os.File, buf []byte) io.Writer {
	rc, err := pr.SyscallConn()
	if err != nil || pr.SetReadDeadline(time.Time{}) != nil {
		return out
	}
	for {
		var n int
		var rerr error
		// The pipe is non-blocking (the runtime polls it), so each read returns at once:
		// EAGAIN when it is empty but still open.
		if err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			return true
		}); err != nil {
			return out
		}
		switch {
		case n > 0:
			if _, werr := out.Write(buf[:n]); werr != nil && out != io.Discard {
				log.Warn("write output; discarding the rest", "err", werr)
				out = io.Discard
			}
		case rerr == nil: // n == 0: end of file
			return nil
		default:
			return out
		}
	}
}

func result(ps *os.ProcessState) runners.Result {
	if ps == nil {
		return runners.Result{ExitCode: -1}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return runners.Result{ExitCode: -1, Signal: signalName(ws.Signal())}
	}
	return runners.Result{ExitCode: ps.ExitCode()}
}

func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// environ merges environments: base (the daemon's), then job in sorted key order, then extra.
// Each key appears once, at its first position, with its last value, so the result is
// deterministic and a later source overrides an earlier one.
func environ(base []string, job map[string]string, extra []string) []string {
	keys := make([]string, 0, len(job))
	for k := range job {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(base)+len(job)+len(extra))
	at := make(map[string]int, cap(out))
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			out[i] = kv
			return
		}
		at[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, k := range keys {
		add(k + "=" + job[k])
	}
	for _, kv := range extra {
		add(kv)
	}
	return out
}

func getenv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// lookPath finds a program in the job's PATH, not the daemon's, so a job that sets PATH runs
// the program it names, as its shell would. Names with a slash are left to the kernel, which
// resolves relative ones against the job's directory. Relative PATH entries are skipped: they
// would depend on the daemon's directory (Go's exec refuses them for the same reason).
func lookPath(file string, path string, ok bool) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	if !ok {
		path = defaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, file)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if err := unix.Access(p, unix.X_OK); err != nil {
			denied = fs.ErrPermission
			continue
		}
		return p, nil
	}
	if denied != nil {
		return "", denied
	}
	return "", exec.ErrNotFound
}
