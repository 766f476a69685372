package shellrunner

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// macOS has neither a parent-death signal, /proc nor pidfds. What stands in for them:
//   - a leader that outlives a killed daemon keeps running until the next daemon's
//     KillLeftovers finds it by its marker, like the rest of its tree;
//   - the process table comes from sysctl kern.proc.all, an environment from kern.procargs2
//     (readable for the daemon's own uid's processes, or everyone's as root);
//   - signals go by pid, which a process that got the number since it was read could receive.
//     The window is the time between reading the table and signalling, and pids are not
//     reused quickly on macOS (they count up to 99999 before wrapping).

// sZomb is SZOMB from <sys/proc.h>: exited, not yet reaped.
const sZomb = 5

func leaderAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitExit blocks until process pid has exited, without reaping it (see the Linux version
// for why that matters): a kqueue reports NOTE_EXIT and leaves the zombie to cmd.Wait.
func awaitExit(pid int) error {
	kq, err := unix.Kqueue()
	if err != nil {
		return err
	}
	defer unix.Close(kq)
	ev := []unix.Kevent_t{{Ident: uint64(pid), Filter: unix.EVFILT_PROC, Flags: unix.EV_ADD | unix.EV_ONESHOT, Fflags: unix.NOTE_EXIT}}
	if _, err := unix.Kevent(kq, ev, nil, nil); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // exited before the filter was attached: a zombie now
		}
		return err
	}
	out := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, nil, out, nil)
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		return err
	}
}

func readProcs() ([]proc, error) {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, err
	}
	procs := make([]proc, 0, len(kps))
	for i := range kps {
		if p, ok := procOf(&kps[i]); ok {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

func procOf(kp *unix.KinfoProc) (proc, bool) {
	pid := int(kp.Proc.P_pid)
	if pid <= 0 {
		return proc{}, false
	}
	st := kp.Proc.P_starttime
	return proc{
		pid:    pid,
		ppid:   int(kp.Eproc.Ppid),
		pgrp:   int(kp.Eproc.Pgid),
		start:  uint64(st.Sec)*1e6 + uint64(st.Usec),
		zombie: kp.Proc.P_stat == sZomb,
		kernel: pid == 0, // kernel_task; launchd (1) and everything else has an environment
	}, true
}

// hasEnv reports whether process pid's environment holds exactly the entry kv. A zombie's,
// and one the kernel will not show us (another user's, unless we are root), read as empty.
func hasEnv(pid int, kv []byte) bool {
	buf, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return false
	}
	return procargsHasEnv(buf, kv)
}

// target is a process picked out by its environment, remembered with its start time so that a
// process that got its number later is not mistaken for it.
type target struct {
	pid   int
	start uint64
}

func pick(pid int, marker []byte) (target, bool) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return target{}, false
	}
	p, ok := procOf(kp)
	if !ok || p.pid != pid || !hasEnv(pid, marker) {
		return target{}, false
	}
	return target{pid: pid, start: p.start}, true
}

// signal sends sig; with SIGTERM also SIGCONT, as a stopped process acts on SIGTERM only once
// continued.
func (t target) signal(sig unix.Signal) {
	t.send(sig)
	if sig == unix.SIGTERM {
		t.send(unix.SIGCONT)
	}
}

func (t target) send(sig unix.Signal) {
	if t.exited() {
		return // gone, and the number may be someone else's now
	}
	_ = unix.Kill(t.pid, sig)
}

// exited reports whether the process has exited: it is a zombie, gone, or its number now
// names a process started later.
func (t target) exited() bool {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", t.pid)
	if err != nil {
		return true
	}
	p, ok := procOf(kp)
	return !ok || p.pid != t.pid || p.start != t.start || p.zombie
}

func (t target) close() {}
