// Package reaper makes the daemon a child subreaper and reaps the orphans the kernel then hands
// to it, without taking the exit status of the children the daemon waits for itself.
//
// Why a subreaper: a job that forks and lets its parent exit (a double fork, `setsid cmd &` in
// a script that then ends) orphans the child. Normally init adopts it and the daemon loses
// sight of it; a child subreaper (prctl PR_SET_CHILD_SUBREAPER) adopts it instead, so the
// runner still finds it among the daemon's descendants and can stop it with its run. Adopting
// means reaping: every adopted process that exits stays a zombie until the daemon waits for it.
//
// Why not a plain wait(-1) loop: it would also take the exit status of the runner's own
// children, which os/exec's cmd.Wait must get. So the reaper waits only for children it names.
// On SIGCHLD it lists the main thread's children, where the kernel puts orphans (Linux 3.17
// and later); every Options.Interval, as a fallback, it lists every thread's children
// (/proc/self/task/*/children, or a scan of /proc/*/stat where the kernel lacks that file). It
// calls waitpid(pid, WNOHANG) on each child that is not owned.
//
// A child is owned from before it exists until its owner has reaped it. Own holds a read lock
// around the fork and the registration, and a reaping pass holds the write lock from listing
// to waiting, so no pass can see a child between its fork and its registration; and a pid the
// owner has reaped cannot be given to a new owned child while a pass is under way. Ownership
// is counted, not flagged: the owner of a reaped child releases it after cmd.Wait, and by then
// the number may already belong to a second owned child, which must stay owned.
//
// One Reaper per process: the subreaper flag is process-wide, and a second reaper would take
// the first one's children. While a Reaper runs, every child the process starts must be
// started through Own; a child started otherwise (a bare exec.Command elsewhere in the daemon)
// can lose its exit status to the reaper, and its cmd.Wait then fails with ECHILD.
package reaper

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultInterval is how often a reaper looks for orphans without a SIGCHLD. The signal does
// the real work; the fallback catches children a listing missed while they were being
// re-parented (the kernel does not promise a consistent list of a running process's children).
const DefaultInterval = 5 * time.Second

// running makes a second Start in the same process fail. It is package state because what it
// guards is process state: the subreaper flag and the set of children.
var running atomic.Bool

// Options configure a Reaper.
type Options struct {
	Logger   *slog.Logger  // nil discards
	Interval time.Duration // the fallback pass; 0 means DefaultInterval
}

// Reaper is the running subreaper service. Its methods are safe for concurrent use; a nil
// *Reaper owns nothing and reaps nothing, so code can call Own whether or not one runs.
type Reaper struct {
	log      *slog.Logger
	interval time.Duration
	self     int
	listTask bool // /proc/self/task/*/children exists (CONFIG_PROC_CHILDREN)
	wasOn    bool // the process was a subreaper before Start; Stop leaves it one

	// pass is read-locked by Own around a fork and its registration, write-locked by a reaping
	// pass from listing the children to waiting for them.
	pass sync.RWMutex

	mu    sync.Mutex
	owned map[int]int // pid -> owners

	sigs     chan os.Signal
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Start makes the calling process a child subreaper and starts reaping the orphans it adopts.
// It fails when the kernel refuses (before Linux 3.4) or another Reaper runs in the process.
// Call Stop when done.
func Start(opts Options) (*Reaper, error) {
	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("start reaper: one is already running in this process")
	}
	r := &Reaper{
		log:      opts.Logger,
		interval: opts.Interval,
		self:     os.Getpid(),
		owned:    make(map[int]int),
		sigs:     make(chan os.Signal, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.interval <= 0 {
		r.interval = DefaultInterval
	}
	_, err := os.Stat("/proc/thread-self/children")
	r.listTask = err == nil
	r.wasOn, err = isSubreaper()
	if err == nil && !r.wasOn {
		err = setSubreaper(true)
	}
	if err != nil {
		running.Store(false)
		return nil, fmt.Errorf("start reaper: become a child subreaper: %w", err)
	}
	// Notify before the first pass: an orphan that exits after the pass is then signalled.
	signal.Notify(r.sigs, syscall.SIGCHLD)
	r.reap()
	go r.loop()
	return r, nil
}

// Stop stops reaping and gives up the subreaper role (unless the process had it before
// Start), after one last pass for the orphans adopted until then. Orphans of later exits go to
// init again. Own keeps working after Stop, as bookkeeping only.
func (r *Reaper) Stop() {
	if r == nil {
		return
	}
	r.stopOnce.Do(func() {
		close(r.stop)
		<-r.done
		signal.Stop(r.sigs)
		if !r.wasOn {
			if err := setSubreaper(false); err != nil {
				r.log.Error("give up the child subreaper role", "err", err)
			}
		}
		r.reap()
		running.Store(false)
	})
}

// Own runs start, which must start one child process and return its pid, and keeps the reaper
// away from that child until release is called. Call release once the child has been reaped
// (after cmd.Wait returned); calling it earlier lets the reaper take the exit status. release
// may be called more than once. When start fails, Own returns its error and a no-op release.
//
// Everything start does happens under a read lock that reaping passes wait for, so start should
// only fork (cmd.Start), not wait for the child.
func (r *Reaper) Own(start func() (pid int, err error)) (release func(), err error) {
	if r == nil {
		_, err := start()
		return func() {}, err
	}
	pid, err := r.own(start)
	if err != nil || pid <= 0 {
		return func() {}, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.owned[pid]--; r.owned[pid] <= 0 {
				delete(r.owned, pid)
			}
		})
	}, nil
}

// Adopted reports whether the process has a child it did not start through Own: an orphan it
// adopted as subreaper, the top of what some process tree left running when its own top exited.
// Without one, a run whose main process has exited left nothing running anywhere: every
// process below that main process was adopted by the daemon when the main process exited, and
// no longer hangs below anything else. That makes one small read enough where a scan of the
// whole process table would otherwise be needed. It answers true when it cannot tell: a nil
// or stopped reaper, or a kernel without the children list.
func (r *Reaper) Adopted() bool {
	if r == nil || !r.listTask {
		return true
	}
	select {
	case <-r.stop: // no longer a subreaper: orphans go to init, out of sight
		return true
	default:
	}
	if !r.strays() {
		return false
	}
	// A child being forked exists before it is owned. Look again with forks held off, which
	// costs every run that starts meanwhile a wait, so only when the quick look was unsure.
	r.pass.Lock()
	defer r.pass.Unlock()
	return r.strays()
}

// strays reports whether the main thread, where orphans go (see mainChildren), has a child
// that is not owned.
func (r *Reaper) strays() bool {
	kids, err := r.mainChildren()
	if err != nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pid := range kids {
		if r.owned[pid] == 0 {
			return true
		}
	}
	return false
}

func (r *Reaper) own(start func() (int, error)) (int, error) {
	r.pass.RLock()
	defer r.pass.RUnlock()
	pid, err := start()
	if err != nil || pid <= 0 {
		return pid, err
	}
	r.mu.Lock()
	r.owned[pid]++
	r.mu.Unlock()
	return pid, nil
}

func (r *Reaper) loop() {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.sigs:
			r.reapMain()
		case <-tick.C:
			r.reap()
		}
	}
}

// reap waits for every child that has exited and is not owned; it returns how many it reaped.
func (r *Reaper) reap() int {
	return r.reapFrom(r.children)
}

// reapMain is reap looking at the main thread's children only, where the kernel puts every
// orphan (see mainChildren): one small read on each SIGCHLD instead of one per thread, and
// the daemon has a thread per running run. The periodic pass still looks at every thread.
func (r *Reaper) reapMain() int {
	if !r.listTask {
		return r.reap()
	}
	return r.reapFrom(r.mainChildren)
}

func (r *Reaper) reapFrom(list func() ([]int, error)) int {
	r.pass.Lock()
	defer r.pass.Unlock()
	kids, err := list()
	if err != nil {
		r.log.Error("list child processes", "err", err)
		return 0
	}
	n := 0
	for _, pid := range kids {
		r.mu.Lock()
		owned := r.owned[pid] > 0
		r.mu.Unlock()
		if owned {
			continue
		}
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG|waitAll, nil)
		for err == unix.EINTR {
			wpid, err = unix.Wait4(pid, &ws, unix.WNOHANG|waitAll, nil)
		}
		if wpid == pid {
			n++
			r.log.Debug("reaped an adopted process", "pid", pid, "status", describe(ws))
		}
	}
	return n
}

// children lists the process's children, zombies included. A thread's children file lists
// the children it forked, and orphans go to the main thread (mainChildren), hence every thread.
func (r *Reaper) children() ([]int, error) {
	if !r.listTask {
		return scanChildren(r.self)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue // the thread ended meanwhile; its children moved to another one
		}
		kids = appendPIDs(kids, b)
	}
	return kids, nil
}

// mainChildren lists the main thread's children. Since Linux 3.17 the kernel hands an orphan
// to the first live thread of its subreaper (find_new_reaper, find_alive_thread), which is the
// main thread: in a Go program it lives as long as the process. So every orphan the reaper
// adopts is here, besides the runs' leaders the main thread happened to fork.
func (r *Reaper) mainChildren() ([]int, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(r.self) + "/children")
	if err != nil {
		return nil, err
	}
	return appendPIDs(nil, b), nil
}

func appendPIDs(pids []int, list []byte) []int {
	for _, f := range bytes.Fields(list) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// scanChildren finds the processes whose parent is self in /proc/*/stat.
func scanChildren(self int) ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	want := []byte(strconv.Itoa(self))
	var kids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold anything, so parse after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		if f := bytes.Fields(stat[i+1:]); len(f) > 1 && bytes.Equal(f[1], want) {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return unix.SignalName(ws.Signal())
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
