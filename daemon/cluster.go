package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// A cluster is several daemons on one Postgres store. Each is a node with a name, roles and
// labels. Nodes with the scheduler role stand for election (leaderLock); the one elected fires
// the schedules, the others keep their schedulers in step but materialize nothing. Nodes with
// the worker role claim queued runs (Store.ClaimRuns) and execute them. Every node sends a
// heartbeat that extends its lease; the leader marks the running runs of a node whose lease ran
// out as lost and retries them elsewhere. Job changes made through any node's socket reach
// every node's scheduler through the event log.

// leaderLock is the scheduler's lock of a shared store, held by one node at a time.
type leaderLock interface {
	// TryLead takes the lock if it is free. term names this holding of the lock, for the store
	// to fence the fires recorded under it (store.FireInsertParams.Term). lost is closed once
	// the lock may be held no longer (its session ended); Resign is then still to be called.
	TryLead(ctx context.Context) (term string, lost <-chan struct{}, ok bool, err error)
	// Resign gives the lock up, when held.
	Resign()
}

// How often a node reports, how long a report keeps it alive, how often a standby tries the
// lock, and how long an idle worker waits without a notification before it looks for runs.
const (
	defaultHeartbeat = 2 * time.Second
	defaultNodeLease = 10 * time.Second
	electEvery       = time.Second
	claimPoll        = 2 * time.Second
	maxClaim         = 64
)

// stallLimit is how long the leader may go without running (a stopped process, a suspended VM)
// and still count on its lock. The store ends a silent holder's lock session (pgstore after 10s),
// and a standby takes over; a node that comes back from a longer stall must fire nothing more
// on its old plan, even before it notices that its session is gone: it would fire the seconds
// it slept through, which the new leader already accounted for. Keep it well under the store's
// timeout: a shorter stall then surely kept the lock. stallCheck is how often the leader looks.
const (
	stallLimit = 5 * time.Second
	stallCheck = 250 * time.Millisecond
)

type cluster struct {
	d        *Daemon
	lock     leaderLock // nil: the node has no scheduler role
	node     arbiter.Node
	beat     time.Duration
	lease    time.Duration
	leader   atomic.Bool
	awake    atomic.Int64 // unix nanoseconds at which the leader last saw itself run; 0: no term
	replan   atomic.Bool  // a fire could not be recorded: resume the schedules from the store
	lastBeat atomic.Int64 // unix nanoseconds of the last heartbeat the store took
	poke     chan struct{}
	term     atomic.Pointer[leaderTerm] // the latest term this node led; nil before the first
}

// leaderTerm is one holding of the scheduler lock by this node, from TryLead until lead ends.
// Every fire recorded in it carries its id, and the store records the fire only while the term
// still holds the lock: a leader that froze after deciding to fire, and resumed after another
// node took over, does not record a fire the new leader may have accounted for (in a missed
// record, whose range the store's unique fire key does not cover).
type leaderTerm struct {
	id      string        // the lock's name of the term (store.FireInsertParams.Term)
	refused chan struct{} // closed once the store refused a fire of this term
	once    sync.Once
}

func newLeaderTerm(id string) *leaderTerm {
	return &leaderTerm{id: id, refused: make(chan struct{})}
}

// storeID is the term to give the store with a fire: "" without a term (a single daemon, which
// always leads), which the store records unfenced.
func (t *leaderTerm) storeID() string {
	if t == nil {
		return ""
	}
	return t.id
}

// refuse ends the term: the store refused one of its fires, since its lock's session has
// ended and another node may lead.
func (t *leaderTerm) refuse() {
	if t != nil {
		t.once.Do(func() { close(t.refused) })
	}
}

func (t *leaderTerm) wasRefused() bool {
	if t == nil {
		return false
	}
	select {
	case <-t.refused:
		return true
	default:
		return false
	}
}

func (c *cluster) has(r arbiter.Role) bool { return slices.Contains(c.node.Roles, r) }

// isLeader reports whether this node fires the schedules: it holds the lock, has not stalled
// since it last looked, and the store has not refused a fire of its term.
func (d *Daemon) isLeader() bool {
	c := d.cluster
	return c == nil || c.leader.Load() && !c.stalled(d.clock.Now()) && !c.term.Load().wasRefused()
}

// currentTerm is the term a fire decided now is recorded in: nil on a single daemon. Read it
// before isLeader: a term that ends in between is refused by the store, while one read after
// could be a later term, whose plan did not decide this fire.
func (d *Daemon) currentTerm() *leaderTerm {
	if d.cluster == nil {
		return nil
	}
	return d.cluster.term.Load()
}

// stalled reports whether the leader went without running for longer than stallLimit.
func (c *cluster) stalled(now time.Time) bool {
	at := c.awake.Load()
	return at != 0 && time.Duration(now.UnixNano()-at) > stallLimit
}

// watchStall renews the leader's awake time until ctx ends. Once a look finds the previous one
// more than stallLimit ago, it renews it no more: from the moment the process resumes,
// isLeader, wherever it is called first, sees the stall, and so does lead at its next beat.
func (c *cluster) watchStall(ctx context.Context) {
	t := time.NewTicker(stallCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.d.clock.Now()
		if c.stalled(now) {
			return
		}
		c.awake.Store(now.UnixNano())
	}
}

// heartbeat reports the node to the store once.
func (c *cluster) heartbeat(ctx context.Context, stopping bool) error {
	now := c.d.clock.Now()
	n := c.node
	n.Leader = c.d.isLeader()
	n.Running, _ = c.d.runs.running()
	n.SeenAt, n.LeaseUntil = now, now.Add(c.lease)
	if stopping {
		n.LeaseUntil = now // gone: nothing of it is running any more
	}
	if err := c.d.store.HeartbeatNode(ctx, store.NodeHeartbeatParams{Node: n}); err != nil {
		return err
	}
	c.lastBeat.Store(now.UnixNano())
	return nil
}

// run starts the node's loops. stopWork ends those that take on work (the election, claiming,
// following job changes); stopAll the rest too, once the node's runs have ended: until then it
// keeps sending heartbeats, or its runs would be counted lost and retried elsewhere while they
// finish their shutdown grace, and it keeps honouring cancellations.
func (c *cluster) run(ctx context.Context) (stopWork, stopAll func()) {
	workCtx, cancelWork := context.WithCancel(ctx)
	restCtx, cancelRest := context.WithCancel(ctx)
	var work, rest sync.WaitGroup
	work.Go(func() { c.followJobs(workCtx) })
	if c.has(arbiter.RoleScheduler) {
		work.Go(func() { c.elect(workCtx) })
	}
	rest.Go(func() { c.heartbeats(restCtx) })
	if c.has(arbiter.RoleWorker) {
		work.Go(func() { c.claim(workCtx) })
		rest.Go(func() { c.watchCancels(restCtx) })
	}
	stopWork = func() {
		cancelWork()
		work.Wait()
	}
	stopAll = func() {
		stopWork()
		cancelRest()
		rest.Wait()
	}
	return stopWork, stopAll
}

// heartbeats reports the node every beat. A node that cannot reach the store for longer than
// its lease is counted as gone by the others, and its runs are retried elsewhere; so it stops
// them itself rather than let them run twice.
func (c *cluster) heartbeats(ctx context.Context) {
	t := time.NewTicker(c.beat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		prev := c.lastBeat.Load()
		err := c.heartbeat(ctx, false)
		switch {
		case err == nil && failing:
			c.d.log.Info("the store answers heartbeats again")
			failing = false
		case err != nil && !failing:
			c.d.log.Error("send heartbeat", "err", err)
			failing = true
		}
		// A node that froze (SIGSTOP, a suspended VM) sends its next heartbeat as if nothing
		// happened; only the gap tells it that the others counted it gone. watchCancels stops
		// the runs they counted lost.
		if gap := time.Duration(c.lastBeat.Load() - prev); err == nil && prev != 0 && gap > c.lease {
			c.d.log.Warn("a heartbeat reached the store after a silence longer than the node's lease: the other nodes counted this node gone meanwhile, and its runs lost", "silence", gap.Round(time.Millisecond), "lease", c.lease)
		}
		if err != nil && time.Duration(c.d.clock.Now().UnixNano()-c.lastBeat.Load()) > c.lease {
			if n := c.d.runs.cancelAllWith(errFenced); n > 0 {
				c.d.log.Error("no heartbeat reached the store within the node's lease; stopping this node's runs, which other nodes retry", "runs", n, "lease", c.lease)
			}
		}
	}
}

var errFenced = errors.New("lost: the node lost contact with the store for longer than its lease")

// elect stands for the scheduler's lock until ctx ends, and does the leader's work while it
// holds it.
func (c *cluster) elect(ctx context.Context) {
	defer c.lock.Resign()
	t := time.NewTicker(electEvery)
	defer t.Stop()
	for {
		term, lost, ok, err := c.lock.TryLead(ctx)
		if err != nil && ctx.Err() == nil {
			c.d.log.Debug("try the scheduler lock", "err", err)
		}
		if ok {
			c.lead(ctx, lost, newLeaderTerm(term))
			c.lock.Resign()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lead is the leader's term: from taking the lock until it is lost, the store refuses a fire
// of the term, or ctx ends.
func (c *cluster) lead(ctx context.Context, lost <-chan struct{}, term *leaderTerm) {
	d := c.d
	d.log.Info("this node is now the scheduler", "node", c.node.Name)
	c.awake.Store(d.clock.Now().UnixNano())
	// Stored before leader, so that a fire that finds the node leading finds its term too. Not
	// taken back when the term ends: a fire that read the term before it ended still carries
	// it, and the store refuses it; taken back, a fire that read none could find the next
	// term's leader flag and be recorded unfenced.
	c.term.Store(term)
	c.leader.Store(true)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { c.watchStall(watchCtx) })
	why := "its lock's session ended"
	defer func() {
		stopWatch()
		watch.Wait()
		c.leader.Store(false)
		c.awake.Store(0)
		if ctx.Err() == nil {
			d.log.Warn("this node is no longer the scheduler: "+why, "node", c.node.Name)
		}
	}()
	// Fires due while no node led were not materialized: resuming every job from its last
	// accounted fire runs them through the catch-up rule. Fires the previous leader did
	// materialize are not repeated (the store's unique fire key).
	if err := d.resumeSchedules(ctx); err != nil {
		d.log.Error("resume schedules as the new scheduler", "err", err)
	}
	_ = c.heartbeat(ctx, false) // show the leadership at once
	t := time.NewTicker(c.beat)
	defer t.Stop()
	for {
		if c.stalled(d.clock.Now()) {
			why = "it stalled (a stopped process, a suspended VM) for longer than its lock is sure to outlive; it stands again"
			return
		}
		c.expireNodes(ctx)
		if c.replan.Swap(false) {
			if err := d.resumeSchedules(ctx); err != nil {
				d.log.Error("plan the schedules again after a failed fire", "err", err)
				c.replan.Store(true)
			} else {
				d.log.Info("planned the schedules again from the last accounted fires, after a fire could not be recorded")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-lost:
			return
		case <-term.refused:
			// The lock's session ended, and this node has not noticed yet (it froze between two
			// pings of the session): the node stops at once rather than wait for lost.
			why = "the store refused a fire: its lock's session had ended, and another node may lead; it stands again"
			return
		case <-t.C:
		}
	}
}

// expireNodes marks the running runs of every node whose lease ran out as lost, and retries
// those with attempts left.
func (c *cluster) expireNodes(ctx context.Context) {
	d := c.d
	nodes, err := d.store.ListNodes(ctx)
	if err != nil {
		d.log.Error("list nodes", "err", err)
		return
	}
	now := d.clock.Now()
	for _, n := range nodes {
		if n.Name == c.node.Name || n.Live(now) {
			continue
		}
		lost, err := d.store.RecoverRuns(ctx, store.RunRecoverParams{
			Worker: n.Name,
			Reason: fmt.Sprintf("lost: node %s stopped sending heartbeats", n.Name),
			Now:    now,
		})
		if err != nil {
			d.log.Error("mark the runs of a gone node lost", "node", n.Name, "err", err)
			continue
		}
		for _, r := range lost {
			d.log.Warn("run lost with its node", "run", r.ID, "job", r.Job, "node", n.Name)
			if job, err := d.store.GetJob(ctx, r.Job); err == nil {
				d.runs.retryIfAttemptsLeft(ctx, r, job, now)
			}
		}
	}
}

// claim takes queued runs while this node has free slots, and executes them. A commit
// anywhere in the cluster (LISTEN/NOTIFY), a freed slot or a poke wakes it; the poll is only
// the fallback.
func (c *cluster) claim(ctx context.Context) {
	d := c.d
	poll := time.NewTimer(claimPoll)
	defer poll.Stop()
	for {
		wake := d.commits.Wait(struct{}{}) // subscribe before looking, so no commit slips by
		freed := d.runs.freed()
		full := false
		if free := d.runs.free(); free > 0 {
			n := min(free, maxClaim)
			runs, err := d.store.ClaimRuns(ctx, store.RunClaimParams{
				Worker: c.node.Name, Labels: c.node.Labels, Limit: n, Now: d.clock.Now(),
			})
			if err != nil && ctx.Err() == nil {
				d.log.Error("claim runs", "err", err)
			}
			for _, r := range runs {
				c.execute(ctx, r)
			}
			full = len(runs) == n
		}
		if full {
			continue // there may be more
		}
		poll.Reset(claimPoll)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-freed:
		case <-c.poke:
		case <-poll.C:
		}
	}
}

// execute runs a claimed run here; a run whose job was deleted meanwhile ends cancelled. The
// run is this node's from its claim on, so reading its job and recording its end are tried
// again while the store cannot be reached: given up, the run would stay running until the node
// stops.
func (c *cluster) execute(ctx context.Context, r arbiter.Run) {
	d := c.d
	bg := context.WithoutCancel(ctx)
	var job arbiter.Job
	err := d.persist(bg, "load a claimed run's job", func() error {
		var err error
		job, err = d.store.GetJob(bg, r.Job)
		return err
	})
	if err == nil {
		d.runs.dispatch(r, job)
		return
	}
	state, reason := arbiter.StateCancelled, "cancelled: the job was deleted"
	if !errors.Is(err, arbiter.ErrNotFound) {
		state, reason = arbiter.StateFailed, "could not start: "+err.Error()
	}
	d.runs.finish(bg, r.ID, state, nil, "", reason)
}

// watchCancels stops the runs of this node that another node asked to cancel (a user's
// cancel through another socket, the replace policy on the leader), and those the store no
// longer holds as running here: a node that froze (SIGSTOP, a suspended VM) and came back was
// counted gone meanwhile and its runs lost and retried elsewhere, yet its heartbeats never
// failed, so heartbeats() did not stop them. Left running, such a run runs twice.
func (c *cluster) watchCancels(ctx context.Context) {
	d := c.d
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		wake := d.commits.Wait(struct{}{})
		// Taken before asking the store: a run becomes active here only after its claim
		// committed it as running on this node, so one missing from the answer was ended in
		// the store. Taken after, it would hold runs claimed since, missing for that reason.
		if local := d.runs.activeIDs(); len(local) > 0 {
			runs, err := d.store.ListRuns(ctx, store.RunListParams{
				Worker: c.node.Name, States: []arbiter.RunState{arbiter.StateRunning}, Limit: listRunning,
			})
			if err != nil && ctx.Err() == nil {
				d.log.Error("look for cancelled runs", "err", err)
			}
			held := make(map[int64]bool, len(runs))
			for _, r := range runs {
				held[r.ID] = true
				if r.CancelRequested != "" {
					d.runs.cancelWith(r.ID, requestedCancel(r.CancelRequested))
				}
			}
			// A full page may have left out runs that are running here: stop nothing then.
			if err == nil && len(runs) < listRunning {
				for _, id := range local {
					if !held[id] && d.runs.cancelEndedElsewhere(id, errFenced) {
						d.log.Warn("stopping a run the cluster counted lost while this node could not reach the store (it froze or was cut off); it was retried elsewhere if it had attempts left", "run", id)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			// Commits come in bursts under load: look at most four times a second.
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		case <-t.C:
		}
	}
}

// listRunning is how many of its running runs a worker reads at once: a ListRuns page at most.
const listRunning = 1000

// requestedCancel is the cause of a run cancelled at another node's request: its reason.
type requestedCancel string

func (e requestedCancel) Error() string { return string(e) }

// followJobs keeps this node's scheduler in step with job changes made through any node, read
// from the event log.
func (c *cluster) followJobs(ctx context.Context) {
	d := c.d
	after := c.d.eventsSeen
	poll := time.NewTimer(fallbackPoll)
	defer poll.Stop()
	for {
		wake := d.commits.Wait(struct{}{})
		events, err := d.store.ListEvents(ctx, store.EventListParams{AfterID: after, Limit: 1000})
		if err != nil && ctx.Err() == nil {
			d.log.Error("follow job changes", "err", err)
		}
		changed := map[string]bool{}
		for _, e := range events {
			if strings.HasPrefix(e.Kind, "job.") {
				changed[e.Job] = true
			}
			after = e.ID
		}
		for name := range changed {
			job, err := d.store.GetJob(ctx, name)
			switch {
			case errors.Is(err, arbiter.ErrNotFound):
				d.sched.Remove(name)
			case err != nil:
				d.log.Error("load changed job", "job", name, "err", err)
			default:
				if err := d.sched.Set(job); err != nil {
					d.log.Error("job has an invalid schedule; it will not fire", "job", name, "err", err)
				}
			}
		}
		if len(events) == 1000 {
			continue
		}
		poll.Reset(fallbackPoll)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// persistFor bounds how long a node keeps retrying a write that failed for want of the store.
const persistFor = time.Minute

// persist runs write, and in a cluster runs it again while it fails for want of the store (a
// Postgres restart cuts every connection; pgx replaces them): a run's end must not be lost to a
// blip. Errors that are answers (not found, conflict, invalid) end it at once; so does a write
// that cannot be repeated safely, which callers make sure of (a repeated finish or retry insert
// is refused as a conflict). A single SQLite daemon runs write once.
func (d *Daemon) persist(ctx context.Context, what string, write func() error) error {
	err := write()
	if d.cluster == nil || err == nil || answered(err) {
		return err
	}
	d.log.Warn(what+": the store failed; trying again", "err", err)
	deadline := time.Now().Add(persistFor)
	for wait := 50 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 2*time.Second) {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		if err = write(); err == nil || answered(err) {
			if err == nil {
				d.log.Info(what + ": done after the store came back")
			}
			return err
		}
	}
	return err
}

// answered reports whether err is the store's answer to the request rather than a failure to
// reach it.
func answered(err error) bool {
	return errors.Is(err, arbiter.ErrNotFound) || errors.Is(err, arbiter.ErrConflict) ||
		errors.Is(err, arbiter.ErrInvalid) || errors.Is(err, context.Canceled)
}
