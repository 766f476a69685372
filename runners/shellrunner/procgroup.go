package shellrunner

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// killWait bounds the wait for a SIGKILLed group to vanish. Only a process stuck in the kernel
// (uninterruptible I/O on a dead NFS server) outlives SIGKILL for long; the run must still end.
const killWait = 5 * time.Second

// awaitExit blocks until process pid has exited, without reaping it (WNOWAIT). While the leader
// is an unreaped zombie its pid, which also names its process group, cannot be given to another
// process: that is what makes every kill(-pgid) in stopGroup safe. Reaping first would let the
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

// stopGroup returns once the leader pgid has exited (closing exited) and no other live process
// is left in its group. When ctx is done first, the group gets SIGTERM and, if the leader is
// still there after grace, SIGKILL. When the leader exits on its own, whatever it left in the
// group gets the same treatment: a run is over when its main process is.
func stopGroup(ctx context.Context, log *slog.Logger, pgid int, exited <-chan struct{}, grace time.Duration) {
	var deadline time.Time // SIGKILL time, set with SIGTERM
	term := func(why string) {
		log.Info("stopping process group", "why", why, "signal", "SIGTERM", "grace", grace)
		signalGroup(pgid, unix.SIGTERM)
		// A stopped process acts on SIGTERM only once continued (systemd sends SIGCONT too).
		signalGroup(pgid, unix.SIGCONT)
		deadline = time.Now().Add(grace)
	}
	kill := func() {
		log.Warn("process group outlived its kill grace", "signal", "SIGKILL", "grace", grace)
		signalGroup(pgid, unix.SIGKILL)
	}

	killed := false
	select {
	case <-exited:
	case <-ctx.Done():
		term(context.Cause(ctx).Error())
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			kill()
			killed = true
			<-exited
		}
	}
	if !killed {
		if !othersInGroup(pgid) {
			return
		}
		if deadline.IsZero() {
			term("main process exited; stopping what it left in its group")
		}
		if awaitGroup(pgid, deadline) {
			return
		}
		kill()
	}
	if !awaitGroup(pgid, time.Now().Add(killWait)) {
		log.Error("process group survives SIGKILL; giving up on it", "waited", killWait)
	}
}

func signalGroup(pgid int, sig unix.Signal) {
	// ESRCH cannot happen while the leader is unreaped; any other error is ours (EPERM after a
	// member changed uid), and SIGKILL follows anyway.
	_ = unix.Kill(-pgid, sig)
}

// awaitGroup polls until no process but the leader is left in group pgid, or until deadline.
// Linux has no event for "a process group became empty", hence the polling; it only happens
// while a run is being stopped.
func awaitGroup(pgid int, deadline time.Time) bool {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if !othersInGroup(pgid) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
	}
}

// othersInGroup reports whether a live process other than the leader is in process group pgid.
// kill(-pgid, 0) cannot tell: the unreaped leader itself is still a member. Zombies count as
// gone: they are dead, waiting for their new parent to reap them. When /proc cannot be read it
// answers true, so the group gets the full SIGTERM-grace-SIGKILL treatment rather than none.
func othersInGroup(pgid int) bool {
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pgid))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == pgid {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold anything, so parse after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) >= 3 && bytes.Equal(f[2], want) && !bytes.Equal(f[0], []byte("Z")) {
			return true
		}
	}
	return false
}
