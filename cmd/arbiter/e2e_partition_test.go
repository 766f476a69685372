package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
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
	dsn := pgServer(t).NewDatabase(t)
	s := clusterNode(t, dsn, "sched", "--roles", "scheduler,api")
	w1 := clusterNode(t, dsn, "w1", "--roles", "worker")
	w2 := clusterNode(t, dsn, "w2", "--roles", "worker")
	workers := map[string]*daemonProc{"w1": w1, "w2": w2}

	s.mustArbiter("add", "--name", "slow", "--cron", "@yearly", "--retries", "1", "--retry-delay", "1s", "--", "sleep", "120")
	id := s.trigger("slow")
	var r api.Run
	eventually(t, 15*time.Second, "the run's process to start", func() bool { r = s.run(id); return r.PID > 0 })
	frozen, ok := workers[r.Worker]
	if !ok {
		t.Fatalf("run %d runs on %q, not on a worker", id, r.Worker)
	}
	thaw := freeze(t, frozen)

	lost := s.waitRun(id, "lost")
	if !strings.Contains(lost.Reason, "stopped sending heartbeats") {
		t.Errorf("lost run's reason = %q", lost.Reason)
	}
	var retry api.Run
	eventually(t, 20*time.Second, "the retry to run on the other worker", func() bool {
		for _, x := range s.runs("slow") {
			if x.RetryOf == id && x.State == "running" && x.PID > 0 {
				retry = x
				return true
			}
		}
		return false
	})
	if retry.Worker == r.Worker || retry.Attempt != 2 {
		t.Fatalf("retry %d: attempt %d on %s; want attempt 2 on the other worker than %s", retry.ID, retry.Attempt, retry.Worker, r.Worker)
	}
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
