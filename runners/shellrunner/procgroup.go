package shellrunner

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"
)

// killWait bounds the wait for SIGKILLed processes to vanish. Only a process stuck in the
// kernel (uninterruptible I/O on a dead NFS server) outlives SIGKILL for long; the run must
// still end.
const killWait = 5 * time.Second

// tree is everything a run may leave behind: its process group, named by the unreaped leader,
// and the processes that left the group (setsid, setpgid) but still carry the run's marker
// ("ARBITER_RUN_MARKER=node.42") in their environment and descend from this process.
//
// "Descend from this process" keeps a marker that another daemon's run also uses (run ids are
// per database) out of reach. A process whose ancestors all exited is adopted by the nearest
// child subreaper: with the daemon one (runners/reaper), an orphaned escapee stays a descendant
// and is found; without, init adopts it and only the pipe-drain bound ends the run's wait.
type tree struct {
	pgid   int
	self   int
	marker []byte // nil: the run has no marker; only its group is stopped
	sig    unix.Signal

	escaped map[procKey]target
	checked map[procKey]bool // read, and without the marker
	procs   *procTable
	// adopted says whether the daemon, as subreaper, holds an orphan it did not start (see
	// reaper.Adopted); false means that once the leader has exited nothing of the tree is left.
	adopted func() bool
}

func newTree(procs *procTable, adopted func() bool, pgid, self int, marker string) *tree {
	t := &tree{pgid: pgid, self: self, escaped: make(map[procKey]target), checked: make(map[procKey]bool), procs: procs, adopted: adopted}
	if marker != "" {
		t.marker = []byte(marker)
	}
	return t
}

// signal sends sig to the group and to every escapee, which it looks for first: before
// SIGTERM, every escapee still hangs below the run's processes, even without a subreaper.
func (t *tree) signal(sig unix.Signal) (escaped int) {
	t.sig = sig
	if procs, err := t.procs.read(); err == nil {
		t.discover(procs)
	}
	// ESRCH cannot happen while the leader is unreaped; any other error is ours (EPERM after a
	// member changed uid), and SIGKILL follows anyway.
	_ = unix.Kill(-t.pgid, sig)
	if sig == unix.SIGTERM {
		_ = unix.Kill(-t.pgid, unix.SIGCONT)
	}
	for _, e := range t.escaped {
		e.signal(sig)
	}
	return len(t.escaped)
}

// alive reports whether a live process of the tree other than the leader is left. An escapee
// found for the first time gets the signal the tree last got. Zombies count as gone: they are
// dead, waiting for their parent to reap them. When /proc cannot be read it answers true, so
// the tree gets the full SIGTERM-grace-SIGKILL treatment rather than none.
func (t *tree) alive() bool {
	// Only called after the leader exited: whatever of the tree still runs was adopted by the
	// daemon then. Most runs leave nothing, and this spares them a read of the process table.
	if !t.adopted() {
		return false
	}
	procs, err := t.procs.read()
	if err != nil {
		return true
	}
	for _, e := range t.discover(procs) {
		if t.sig != 0 {
			e.signal(t.sig)
		}
	}
	live := false
	for _, p := range procs {
		if p.pgrp == t.pgid && p.pid != t.pgid && !p.zombie {
			live = true
			break
		}
	}
	for k, e := range t.escaped {
		if e.exited() {
			e.close()
			delete(t.escaped, k)
		} else {
			live = true
		}
	}
	return live
}

func (t *tree) gone() bool { return !t.alive() }

// discover adds the escapees in procs not seen before and returns them.
func (t *tree) discover(procs []proc) []target {
	if t.marker == nil {
		return nil
	}
	parent := make(map[int]int, len(procs))
	for _, p := range procs {
		parent[p.pid] = p.ppid
	}
	var found []target
	for _, p := range procs {
		// Group members get the group's signal; the leader is not to be touched.
		if p.zombie || p.kernel || p.pid == t.self || p.pgrp == t.pgid {
			continue
		}
		k := p.key()
		if _, ok := t.escaped[k]; ok || t.checked[k] {
			continue
		}
		if !descends(parent, p.pid, t.self) {
			continue
		}
		e, ok := pick(p.pid, t.marker)
		if !ok {
			t.checked[k] = true
			continue
		}
		t.escaped[k] = e
		found = append(found, e)
	}
	return found
}

func (t *tree) close() {
	for _, e := range t.escaped {
		e.close()
	}
}

// stopTree returns once the leader has exited (closing exited) and no other live process of the
// tree is left. When ctx is done first, the tree gets SIGTERM and, if the leader is still there
// after grace, SIGKILL. When the leader exits on its own, whatever it left behind gets the same
// treatment: a run is over when its main process is.
func stopTree(ctx context.Context, log *slog.Logger, t *tree, exited <-chan struct{}, grace time.Duration) {
	defer t.close()
	var deadline time.Time // SIGKILL time, set with SIGTERM
	term := func(why string) {
		n := t.signal(unix.SIGTERM)
		log.Info("stopping the run's processes", "why", why, "signal", "SIGTERM", "grace", grace, "escaped", n)
		deadline = time.Now().Add(grace)
	}
	kill := func() {
		n := t.signal(unix.SIGKILL)
		log.Warn("the run's processes outlived their kill grace", "signal", "SIGKILL", "grace", grace, "escaped", n)
	}

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
			<-exited
		}
	}
	if t.sig != unix.SIGKILL {
		if !t.alive() {
			return
		}
		if deadline.IsZero() {
			term("main process exited; stopping what it left behind")
		}
		if pollUntil(deadline, t.gone) {
			return
		}
		kill()
	}
	if !pollUntil(time.Now().Add(killWait), t.gone) {
		log.Error("processes of the run survive SIGKILL; giving up on them", "waited", killWait)
	}
}
