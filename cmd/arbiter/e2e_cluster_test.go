package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/internal/pgtest"
)

// Clusters of real daemons on one real PostgreSQL server: every node a process of the real
// binary with a data dir of its own, as on separate machines.

// pg is the package's PostgreSQL server, started on first use and stopped after the tests.
var pg struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

func pgServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = pgtest.Start(context.Background()) })
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	return pg.srv
}

func stopPG() {
	if pg.srv != nil {
		if err := pg.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// A short lease keeps the tests quick: a node is gone 2s after its last heartbeat.
const testLease = "2s"

// clusterNode starts a node on the store dsn; with the api role it waits until the socket
// answers, without it until the node has joined.
func clusterNode(t *testing.T, dsn, name string, args ...string) *daemonProc {
	t.Helper()
	return clusterNodeAt(t, daemonOpts{}, dsn, name, args...)
}

func clusterNodeAt(t *testing.T, o daemonOpts, dsn, name string, args ...string) *daemonProc {
	t.Helper()
	o.args = append([]string{"--store", dsn, "--node-name", name, "--node-lease", testLease}, args...)
	d := launchDaemon(t, o)
	if i := slices.Index(args, "--roles"); i >= 0 && !strings.Contains(args[i+1], "api") {
		eventually(t, 30*time.Second, name+" to join the cluster", func() bool {
			select {
			case <-d.done:
				t.Fatalf("node %s exited: %v\n%s", name, d.exitErr, d.log.String())
			default:
			}
			return strings.Contains(d.log.String(), "joined the cluster")
		})
		return d
	}
	d.waitReady()
	return d
}

func (d *daemonProc) status() api.Status {
	d.t.Helper()
	st, err := d.client.Status(context.Background())
	if err != nil {
		d.t.Fatalf("status: %v", err)
	}
	return st
}

func (d *daemonProc) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// checkFires asserts that the runs of an every-second job account for every second from the
// first fire to the last exactly once: a run (scheduled or catch-up) or a missed record.
func checkFires(t *testing.T, runs []api.Run) {
	t.Helper()
	covered := map[int64]string{}
	var first, last int64
	for _, r := range runs {
		if r.Trigger != "schedule" && r.Trigger != "catchup" {
			continue
		}
		from, until := r.ScheduledAt.Unix(), r.ScheduledAt.Unix()
		if r.MissedUntil != nil {
			until = r.MissedUntil.Unix()
		}
		for s := from; s <= until; s++ {
			if other, ok := covered[s]; ok {
				t.Errorf("the fire at %s is accounted for twice: run %d and %s", time.Unix(s, 0).UTC(), r.ID, other)
			}
			covered[s] = fmt.Sprintf("run %d (%s, %s)", r.ID, r.Trigger, r.State)
		}
		if first == 0 || from < first {
			first = from
		}
		last = max(last, until)
	}
	for s := first; s <= last; s++ {
		if _, ok := covered[s]; !ok {
			t.Errorf("the fire at %s is not accounted for: no run and no missed record", time.Unix(s, 0).UTC())
		}
	}
	if last-first < 5 {
		t.Errorf("only %d seconds of fires to check", last-first+1)
	}
}

// pauseAndDrain pauses job through node d, waits until none of its runs is queued or running,
// and returns them all.
func pauseAndDrain(t *testing.T, d *daemonProc, job string) []api.Run {
	t.Helper()
	d.mustArbiter("pause", job)
	var runs []api.Run
	eventually(t, 30*time.Second, "every run to end", func() bool {
		runs = d.runs(job)
		for _, r := range runs {
			if r.State == "queued" || r.State == "running" {
				return false
			}
		}
		return true
	})
	return runs
}

func TestClusterLeaderFailover(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	a := clusterNode(t, dsn, "node-a")
	eventually(t, 10*time.Second, "node-a to lead", func() bool { return a.status().Leader })
	b := clusterNode(t, dsn, "node-b")
	if b.status().Leader {
		t.Fatal("node-b leads beside node-a")
	}

	// Job changes through any node reach the scheduler.
	b.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--", "true")
	eventually(t, 15*time.Second, "a few fires", func() bool { return len(a.runs("tick")) >= 4 })

	out := a.mustArbiter("nodes").stdout
	for _, want := range []string{"node-a", "node-b", "live"} {
		if !strings.Contains(out, want) {
			t.Errorf("arbiter nodes lacks %q:\n%s", want, out)
		}
	}
	if st := b.mustArbiter("status").stdout; !strings.Contains(st, "node-b (standby") {
		t.Errorf("status of node-b:\n%s", st)
	}

	a.kill()
	killed := time.Now()
	eventually(t, 15*time.Second, "node-b to take over", func() bool { return b.status().Leader })
	t.Logf("node-b took over %s after node-a was killed", time.Since(killed).Round(10*time.Millisecond))
	before := len(b.runs("tick"))
	eventually(t, 15*time.Second, "node-b to fire", func() bool { return len(b.runs("tick")) >= before+4 })

	// node-a's runs, if it had one running, were lost with it; none is left running there.
	eventually(t, 15*time.Second, "no run left running on node-a", func() bool {
		for _, r := range b.runs("tick") {
			if r.Worker == "node-a" && r.State == "running" {
				return false
			}
		}
		return true
	})
	b.mustArbiter("pause", "tick")
	time.Sleep(300 * time.Millisecond) // fires materialized before the pause settle
	checkFires(t, b.runs("tick"))
	if out := b.mustArbiter("nodes").stdout; !strings.Contains(out, "gone") {
		t.Errorf("arbiter nodes does not show node-a gone:\n%s", out)
	}
}

// slowRunOnWorker starts a cluster of a scheduler and two workers, and a run of a job that
// sleeps for two minutes, with one retry. It returns the scheduler, the worker whose process
// runs it, and the run once its process started.
func slowRunOnWorker(t *testing.T) (s, worker *daemonProc, r api.Run) {
	t.Helper()
	dsn := pgServer(t).NewDatabase(t)
	s = clusterNode(t, dsn, "sched", "--roles", "scheduler,api")
	workers := map[string]*daemonProc{
		"w1": clusterNode(t, dsn, "w1", "--roles", "worker"),
		"w2": clusterNode(t, dsn, "w2", "--roles", "worker"),
	}
	s.mustArbiter("add", "--name", "slow", "--cron", "@yearly", "--retries", "1", "--retry-delay", "1s", "--", "sleep", "120")
	id := s.trigger("slow")
	eventually(t, 15*time.Second, "the run's process to start", func() bool { r = s.run(id); return r.PID > 0 })
	worker, ok := workers[r.Worker]
	if !ok {
		t.Fatalf("run %d runs on %q, not on a worker", id, r.Worker)
	}
	return s, worker, r
}

// lostAndRetried waits for run r to be lost with its worker, and returns its retry once its
// process runs on the other worker.
func lostAndRetried(t *testing.T, s *daemonProc, r api.Run) api.Run {
	t.Helper()
	lost := s.waitRun(r.ID, "lost")
	if !strings.Contains(lost.Reason, "stopped sending heartbeats") {
		t.Errorf("lost run's reason = %q", lost.Reason)
	}
	var retry api.Run
	eventually(t, 20*time.Second, "the retry to run on the other worker", func() bool {
		for _, x := range s.runs("slow") {
			if x.RetryOf == r.ID && x.State == "running" && x.PID > 0 {
				retry = x
				return true
			}
		}
		return false
	})
	if retry.Worker == r.Worker || retry.Attempt != 2 {
		t.Fatalf("retry %d: attempt %d on %s; want attempt 2 on the other worker than %s", retry.ID, retry.Attempt, retry.Worker, r.Worker)
	}
	return retry
}

func TestClusterWorkerLostAndRetried(t *testing.T) {
	s, victim, r := slowRunOnWorker(t)
	victim.kill()
	// The leader of the run's processes dies with its node (parent-death signal).
	eventually(t, 10*time.Second, "the killed node's process to die", func() bool { return processGone(r.PID) })
	retry := lostAndRetried(t, s, r)

	// A timeout stops a run on a worker as it does on a single daemon.
	s.mustArbiter("add", "--name", "limited", "--cron", "@yearly", "--timeout", "1s", "--", "sleep", "60")
	to := s.waitRun(s.trigger("limited"), "timed_out")
	if !strings.Contains(to.Reason, "timed out after 1s") || to.Signal != "SIGTERM" {
		t.Errorf("timed-out run on %s: reason %q, signal %q", to.Worker, to.Reason, to.Signal)
	}

	// A cancel through the scheduler's socket stops the run on the worker.
	s.mustArbiter("cancel", strconv.FormatInt(retry.ID, 10))
	c := s.waitRun(retry.ID, "cancelled")
	if !strings.Contains(c.Reason, "cancelled by uid:") {
		t.Errorf("cancelled retry's reason = %q", c.Reason)
	}
}

func TestClusterWorkersShareRuns(t *testing.T) {
	const n = 3000
	dsn := pgServer(t).NewDatabase(t)
	dir := shortDir(t)
	ids := filepath.Join(dir, "ids")
	s := clusterNode(t, dsn, "sched", "--roles", "scheduler,api")
	clusterNode(t, dsn, "w1", "--roles", "worker", "--max-running", "16")
	clusterNode(t, dsn, "w2", "--roles", "worker", "--max-running", "16")
	clusterNode(t, dsn, "w3", "--roles", "worker", "--max-running", "16", "--label", "gpu")

	// Each run appends its id to one file: a run executed twice shows up twice.
	s.mustArbiter("add", "--name", "share", "--cron", "@yearly", "--overlap", "allow", "--shell", "echo $ARBITER_RUN_ID >> "+ids)
	s.mustArbiter("add", "--name", "train", "--cron", "@yearly", "--overlap", "allow", "--label", "gpu", "--shell", "echo $ARBITER_RUN_ID >> "+ids)
	var mu sync.Mutex
	want := map[int64]string{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				job := "share"
				if i%100 == 0 {
					job = "train"
				}
				r, err := s.client.TriggerJob(context.Background(), job)
				if err != nil {
					t.Errorf("trigger %s: %v", job, err)
					return
				}
				mu.Lock()
				want[r.ID] = job
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	started := time.Now()
	var runs []api.Run
	eventually(t, 5*time.Minute, fmt.Sprintf("%d runs to end", n), func() bool {
		runs = runs[:0]
		for _, job := range []string{"share", "train"} {
			rs, err := s.client.ListRuns(context.Background(), api.RunsQuery{Job: job, Limit: 1000})
			for err == nil && len(rs) > 0 {
				runs = append(runs, rs...)
				rs, err = s.client.ListRuns(context.Background(), api.RunsQuery{Job: job, Limit: 1000, Before: rs[len(rs)-1].ID})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range runs {
			if r.State == "queued" || r.State == "running" {
				return false
			}
		}
		return len(runs) == n
	})
	t.Logf("%d runs on 3 workers took %s", n, time.Since(started).Round(time.Millisecond))

	perWorker := map[string]int{}
	for _, r := range runs {
		if r.State != "succeeded" {
			t.Errorf("run %d: %s (%s)", r.ID, r.State, r.Reason)
		}
		perWorker[r.Worker]++
		if want[r.ID] == "train" && r.Worker != "w3" {
			t.Errorf("run %d of train (label gpu) ran on %s, not on w3, the only node labelled gpu", r.ID, r.Worker)
		}
	}
	t.Logf("runs per worker: %v", perWorker)
	for _, w := range []string{"w1", "w2", "w3"} {
		if perWorker[w] == 0 {
			t.Errorf("worker %s ran nothing: %v", w, perWorker)
		}
	}
	data, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	for _, line := range strings.Fields(string(data)) {
		id, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("ids file has %q", line)
		}
		seen[id]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("run %d executed %d times", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct runs executed, want %d", len(seen), n)
	}
}

func TestClusterBadSettings(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	dir := shortDir(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--roles", "worker"}, 2, "needs a Postgres store"},
		{[]string{"--label", "gpu"}, 2, "needs a Postgres store"},
		{[]string{"--store", dsn, "--roles", "cook"}, 2, `"cook" is not a role`},
		{[]string{"--store", dsn, "--roles", "worker,worker"}, 2, "listed twice"},
		{[]string{"--store", dsn, "--node-name", "Bad Name"}, 2, "not a valid node name"},
		{[]string{"--store", dsn, "--label", "GPU!"}, 2, "not a valid label"},
		{[]string{"--store", "mysql://db/x"}, 2, "is not a store"},
		{[]string{"--store", "postgres://arbiter:hunter2@127.0.0.1:1/none"}, 1, "postgres://arbiter:xxxxx@127.0.0.1:1/none"},
	} {
		args := append([]string{"daemon", "--data-dir", filepath.Join(dir, "data"), "--socket", filepath.Join(dir, "s.sock")}, tc.args...)
		r := runCLI(t, nil, args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("arbiter %s: want exit %d and %q: %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
		}
		if strings.Contains(r.stderr, "hunter2") {
			t.Errorf("arbiter %s printed the password: %s", strings.Join(tc.args, " "), r)
		}
	}

	// A second node may not take the name of a live one.
	clusterNode(t, dsn, "twin")
	other := launchDaemon(t, daemonOpts{args: []string{"--store", dsn, "--node-name", "twin", "--node-lease", testLease}})
	if code := other.waitExit(); code != 1 || !strings.Contains(other.log.String(), `node name "twin" is held by node`) {
		t.Errorf("second node named twin: exit %d\n%s", code, other.log.String())
	}
}

// TestClusterKeysDiffer: nodes that each made their own secrets key are a broken cluster, and
// doctor says so; with the key file copied, it is whole.
func TestClusterKeysDiffer(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	a := clusterNode(t, dsn, "node-a")
	b := clusterNode(t, dsn, "node-b")
	r := a.arbiter("doctor")
	if !strings.Contains(r.stdout, "the live nodes hold different secrets keys") {
		t.Errorf("doctor with two keys:\n%s", r)
	}
	if out := a.mustArbiter("nodes").stdout; !strings.Contains(out, "different secrets keys") {
		t.Errorf("nodes with two keys:\n%s", out)
	}
	b.stop(syscall.SIGTERM)
	key, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dataDir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	clusterNodeAt(t, daemonOpts{dataDir: b.dataDir, socket: b.socket}, dsn, "node-b")
	r = a.arbiter("doctor")
	if !strings.Contains(r.stdout, "2 live nodes") || strings.Contains(r.stdout, "different secrets keys") {
		t.Errorf("doctor with one key:\n%s", r)
	}
}

// TestClusterPostgresRestart: the nodes live through a restart of Postgres, a node leads again,
// and every fire of the outage is accounted for.
func TestClusterPostgresRestart(t *testing.T) {
	srv, err := pgtest.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	dsn := srv.NewDatabase(t)
	a := clusterNode(t, dsn, "node-a")
	b := clusterNode(t, dsn, "node-b")
	a.mustArbiter("add", "--name", "tick", "--cron", "* * * * * *", "--", "true")
	eventually(t, 15*time.Second, "a few fires", func() bool { return len(a.runs("tick")) >= 3 })

	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	var leader *daemonProc
	eventually(t, 20*time.Second, "a node to lead again", func() bool {
		for _, d := range []*daemonProc{a, b} {
			if st, err := d.client.Status(context.Background()); err == nil && st.Leader {
				leader = d
				return true
			}
		}
		return false
	})
	t.Logf("a node led again %s after the restart", time.Since(restarted).Round(10*time.Millisecond))
	after := len(leader.runs("tick"))
	eventually(t, 15*time.Second, "fires after the restart", func() bool { return len(leader.runs("tick")) >= after+3 })
	for _, d := range []*daemonProc{a, b} {
		select {
		case <-d.done:
			t.Fatalf("a node exited with the restart: %v\n%s", d.exitErr, d.log.String())
		default:
		}
	}
	// Every run ends, those whose end was recorded while Postgres restarted included.
	checkFires(t, pauseAndDrain(t, leader, "tick"))
	if testing.Verbose() {
		t.Logf("node-a:\n%s\nnode-b:\n%s", a.log.String(), b.log.String())
	}
}

// TestClusterGracefulStop: a worker that stops lets its run finish within its shutdown grace,
// however much longer than its lease, and the run is not counted lost nor retried meanwhile.
func TestClusterGracefulStop(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	s := clusterNode(t, dsn, "sched", "--roles", "scheduler,api")
	w := clusterNode(t, dsn, "w1", "--roles", "worker", "--shutdown-grace", "30s")
	s.mustArbiter("add", "--name", "steady", "--cron", "@yearly", "--retries", "1", "--retry-delay", "1s", "--", "sleep", "5")
	id := s.trigger("steady")
	eventually(t, 15*time.Second, "the run's process to start", func() bool { return s.run(id).PID > 0 })
	stopped := make(chan int, 1)
	go func() { stopped <- w.stop(syscall.SIGTERM) }()
	r := s.waitRun(id, "succeeded", "failed", "lost", "cancelled")
	if r.State != "succeeded" {
		t.Errorf("run %d ended %s (%s), want succeeded within the worker's shutdown grace", id, r.State, r.Reason)
	}
	if code := <-stopped; code != 0 {
		t.Errorf("the worker exited %d", code)
	}
	if runs := s.runs("steady"); len(runs) != 1 {
		t.Errorf("runs of steady: %d, want the one (no retry)", len(runs))
	}
	if out := s.mustArbiter("nodes").stdout; !strings.Contains(out, "gone") {
		t.Errorf("the stopped worker is not shown gone:\n%s", out)
	}
}

// TestClusterSocketAnswersForAll: through the socket of a node that runs nothing, a run on a
// worker is followed live, and a secret set there reaches the job on the worker (every node
// holds the same key file).
func TestClusterSocketAnswersForAll(t *testing.T) {
	dsn := pgServer(t).NewDatabase(t)
	s := clusterNode(t, dsn, "front", "--roles", "scheduler,api")
	key := filepath.Join(s.dataDir, "secret.key")
	clusterNode(t, dsn, "w1", "--roles", "worker", "--key-file", key)

	value := filepath.Join(shortDir(t), "token")
	if err := os.WriteFile(value, []byte("s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustArbiter("secret", "set", "token", "--from-file", value)
	s.mustArbiter("add", "--name", "hello", "--cron", "@yearly", "--env", "TOKEN=secret:token",
		"--shell", `echo "hello from $ARBITER_JOB"; sleep 1; test "$TOKEN" = s3cr3t-value && echo token ok`)
	r := s.mustArbiter("run", "--wait", "hello")
	for _, want := range []string{"hello from hello", "token ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --wait through the front node lacks %q: %s", want, r)
		}
	}
	runs := s.runs("hello")
	if len(runs) != 1 || runs[0].Worker != "w1" || runs[0].State != "succeeded" {
		t.Fatalf("runs of hello: %+v", runs)
	}
	if out := s.mustArbiter("logs", strconv.FormatInt(runs[0].ID, 10)).stdout; !strings.Contains(out, "token ok") || strings.Contains(out, "s3cr3t") {
		t.Errorf("logs of the run on w1, through front: %q", out)
	}
}
