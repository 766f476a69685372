package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nodes that freeze (SIGSTOP stands for a suspended VM or a long pause) and come back while
// the store is still reachable: the others count them gone meanwhile, and the node must not
// carry on as if nothing happened.

// freeze stops the daemon's process (not its runs' processes, which keep running) until thaw.
// A failing test never leaves a stopped process behind: the cleanup resumes it before the
// daemon's own cleanup kills it.
func freeze(t *testing.T, d *daemonProc) (thaw func()) {
	t.Helper()
	thaw = func() { _ = d.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(thaw)
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
	return thaw
}

// TestClusterFrozenWorkerIsFenced: a worker that froze while its run went on is counted gone,
// its run lost and retried on the other worker; once it resumes, it stops the stale run's
// process itself instead of running the job twice, and leaves the run's end in the store as the
// leader wrote it.
func TestClusterFrozenWorkerIsFenced(t *testing.T) {
	s, frozen, r := slowRunOnWorker(t)
	id := r.ID
	thaw := freeze(t, frozen)
	retry := lostAndRetried(t, s, r)
	lost := s.run(id)
	// The danger: the frozen node's process lives on, so the job now runs twice.
	if processGone(r.PID) {
		t.Fatalf("the stale run's process %d ended while its node was frozen: nothing left to fence", r.PID)
	}

	thaw()
	eventually(t, 30*time.Second, "the resumed node to stop the stale run's process", func() bool { return processGone(r.PID) })
	// Its attempt to record the run's end is refused: wait for it, then check that the store's
	// end stands.
	eventually(t, 30*time.Second, "the resumed node to try recording the run's end", func() bool {
		return strings.Contains(frozen.log.String(), "the store had already ended the run")
	})
	log := frozen.log.String()
	if !strings.Contains(log, "counted lost while this node could not reach the store") {
		t.Errorf("the resumed node's log does not say why it stopped run %d:\n%s", id, log)
	}
	if !strings.Contains(log, "the other nodes counted this node gone") {
		t.Errorf("the resumed node's log does not report its long silence:\n%s", log)
	}
	if got := s.run(id); got.State != "lost" || got.Reason != lost.Reason {
		t.Errorf("run %d after its node resumed: %s (%s), want it left lost (%s)", id, got.State, got.Reason, lost.Reason)
	}
	if got := s.run(retry.ID); got.State != "running" || got.Worker != retry.Worker || processGone(retry.PID) {
		t.Errorf("retry %d after the frozen node resumed: %s on %s (pid %d gone: %v), want it running on", retry.ID, got.State, got.Worker, retry.PID, processGone(retry.PID))
	}
	if runs := s.runs("slow"); len(runs) != 2 {
		t.Errorf("runs of slow: %d, want the lost run and its one retry", len(runs))
	}
	select {
	case <-frozen.done:
		t.Errorf("the resumed node exited: %v", frozen.exitErr)
	default:
	}
	if testing.Verbose() {
		t.Logf("%s:\n%s", r.Worker, frozen.log.String())
	}
}

// TestClusterFrozenLeader: a leader that froze loses the lock when the server ends its silent
// session, the other node takes over, and once the old leader resumes it leads no more; the
// fires it may try for the seconds it slept through are refused by the store's unique key.
func TestClusterFrozenLeader(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	a := clusterNode(t, dsn, "node-a")
	eventually(t, 10*time.Second, "node-a to lead", func() bool { return a.status().Leader })
	b := clusterNode(t, dsn, "node-b")
	b.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--", "true")
	eventually(t, 15*time.Second, "a few fires", func() bool { return len(b.runs("tick")) >= 3 })

	thaw := freeze(t, a)
	frozenAt := time.Now()
	// The server ends the lock's session after 10s of silence (idle_session_timeout).
	eventually(t, 40*time.Second, "node-b to take over from the frozen leader", func() bool { return b.status().Leader })
	t.Logf("node-b took over %s after node-a froze", time.Since(frozenAt).Round(10*time.Millisecond))
	before := len(b.runs("tick"))
	eventually(t, 15*time.Second, "node-b to fire", func() bool { return len(b.runs("tick")) >= before+3 })

	thaw()
	eventually(t, 15*time.Second, "the resumed node-a to step down", func() bool { return !a.status().Leader })
	leaders := func() []string {
		nodes, err := b.client.Nodes(context.Background())
		if err != nil {
			t.Fatalf("nodes: %v", err)
		}
		var names []string
		for _, n := range nodes {
			if n.Leader && n.Live {
				names = append(names, n.Name)
			}
		}
		return names
	}
	eventually(t, 15*time.Second, "node-b to be the only leader", func() bool {
		l := leaders()
		return len(l) == 1 && l[0] == "node-b"
	})
	// The old leader runs on for a few fires, and stays a standby.
	after := len(b.runs("tick"))
	eventually(t, 15*time.Second, "fires after node-a resumed", func() bool { return len(b.runs("tick")) >= after+3 })
	if a.status().Leader || !b.status().Leader {
		t.Errorf("after node-a resumed: node-a leads %v, node-b leads %v; want node-b alone", a.status().Leader, b.status().Leader)
	}
	if l := leaders(); len(l) != 1 || l[0] != "node-b" {
		t.Errorf("leaders after node-a resumed: %v, want node-b alone", l)
	}

	runs := pauseAndDrain(t, b, "tick")
	checkFires(t, runs)
	if t.Failed() {
		for _, r := range runs {
			t.Logf("run %d: %s %s at %s, missed until %v, on %s: %s", r.ID, r.Trigger, r.State,
				r.ScheduledAt.Format(time.TimeOnly), r.MissedUntil, r.Worker, r.Reason)
		}
	}
	for _, d := range []*daemonProc{a, b} {
		select {
		case <-d.done:
			t.Errorf("a node exited: %v", d.exitErr)
		default:
		}
	}
	if testing.Verbose() {
		t.Logf("node-a:\n%s", a.log.String())
	}
}
