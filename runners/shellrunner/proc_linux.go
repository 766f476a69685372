package shellrunner

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// leaderAttr puts a run's leader in a process group of its own, named by its pid.
func leaderAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid: true,
		// The leader dies with the daemon, even by kill -9; what it started is stopped by
		// the next daemon (KillLeftovers). See startLeader for the thread this depends on.
		Pdeathsig: syscall.SIGKILL,
	}
}

// awaitExit blocks until process pid has exited, without reaping it (WNOWAIT). While the leader
// is an unreaped zombie its pid, which also names its process group, cannot be given to another
// process: that is what makes every kill(-pgid) of a tree safe. Reaping first would let the
// group's members die, the number be reused (pid_max is often 32768) and a signal meant for
// this run hit a stranger's process group.
func awaitExit(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// pfKthread is PF_KTHREAD, the flag of a kernel thread in /proc/PID/stat's flags field.
const pfKthread = 0x00200000

// readProcs reads the process table from /proc. A process that exits while it reads is left
// out, or shows up as a zombie.
func readProcs() ([]proc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	procs := make([]proc, 0, len(names))
	for _, name := range names {
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if p, ok := parseStat(pid, stat); ok {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// parseStat parses /proc/PID/stat: "pid (comm) state ppid pgrp session ... starttime ...".
// comm may hold anything, spaces and parentheses included, so fields are counted from the
// last ')'.
func parseStat(pid int, stat []byte) (proc, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state); starttime is field 22
	if len(f) < 20 || len(f[0]) == 0 {
		return proc{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	flags, err3 := strconv.ParseUint(string(f[6]), 10, 64)
	start, err4 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return proc{}, false
	}
	return proc{
		pid: pid, ppid: ppid, pgrp: pgrp, start: start,
		zombie: f[0][0] == 'Z' || f[0][0] == 'X',
		kernel: flags&pfKthread != 0,
	}, true
}

// hasEnv reports whether process pid's environment holds exactly the entry kv ("KEY=value").
// It reads the environment the process was started with (execve's); a zombie's, and one the
// kernel will not show us (another user's, unless we are root), read as empty.
//
// While a process is inside execve, its environment reads as empty for a moment (the new
// image's is not set up yet), and a process caught there would be taken for a stranger: an
// escapee that just exec'd after setsid is exactly that. Its command line is empty then too
// (the kernel sets both up together), unlike that of a process started with an empty
// environment; so an empty environment with an empty command line is read again a few times,
// over far longer than an execve takes, before it is believed.
func hasEnv(pid int, kv []byte) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	env, err := os.ReadFile(dir + "/environ")
	for try := 0; err == nil && len(env) == 0 && try < 10; try++ {
		if cmd, err := os.ReadFile(dir + "/cmdline"); err != nil || len(cmd) > 0 {
			return false // gone, or really started with no environment
		}
		time.Sleep(time.Millisecond)
		env, err = os.ReadFile(dir + "/environ")
	}
	if err != nil {
		return false
	}
	for len(env) > 0 {
		var e []byte
		e, env, _ = bytes.Cut(env, []byte{0})
		if bytes.Equal(e, kv) {
			return true
		}
	}
	return false
}

// target is a process picked out by its environment. It is signalled through a pidfd, so that
// a process that got the number after the picked one died cannot receive the signal.
type target struct {
	pid int
	fd  int // pidfd; -1 where the kernel has none (before 5.3): kill(pid) is the best there is
}

// pick returns process pid as a target when its environment holds marker. The pidfd is opened
// before the environment is read: if the number was reused in between, the environment read is
// the newcomer's but the pidfd is the dead process's, which no signal reaches. The other order
// could verify one process and signal another.
func pick(pid int, marker []byte) (target, bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == unix.ESRCH:
		return target{}, false
	case err != nil:
		fd = -1
	}
	if !hasEnv(pid, marker) {
		if fd >= 0 {
			unix.Close(fd)
		}
		return target{}, false
	}
	return target{pid: pid, fd: fd}, true
}

// signal sends sig; with SIGTERM also SIGCONT, as a stopped process acts on SIGTERM only once
// continued (systemd does the same).
func (t target) signal(sig unix.Signal) {
	t.send(sig)
	if sig == unix.SIGTERM {
		t.send(unix.SIGCONT)
	}
}

func (t target) send(sig unix.Signal) {
	// Errors mean the process is gone (ESRCH) or not ours to signal (EPERM, after it changed
	// uid); neither can be helped, and SIGKILL follows SIGTERM anyway.
	if t.fd >= 0 {
		_ = unix.PidfdSendSignal(t.fd, sig, nil, 0)
		return
	}
	_ = unix.Kill(t.pid, sig)
}

// exited reports whether the process has exited; a zombie has.
func (t target) exited() bool {
	if t.fd >= 0 {
		// A pidfd polls readable once the process has exited, reaped or not.
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err == nil && n > 0
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(t.pid) + "/stat")
	if err != nil {
		return true
	}
	p, ok := parseStat(t.pid, stat)
	return !ok || p.zombie
}

func (t target) close() {
	if t.fd >= 0 {
		unix.Close(t.fd)
	}
}
