// Package daemon is the running arbiter: it owns the store, schedules fires, executes runs and
// serves the control API on a Unix socket. Its services share one lifecycle; shutdown is in two
// phases: stop firing and dispatching, then give running runs a grace period before their
// process groups are killed and the runs recorded.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
	"github.com/arbiterd/arbiter/internal/secretbox"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/runners/reaper"
	"github.com/arbiterd/arbiter/runners/shellrunner"
	"github.com/arbiterd/arbiter/store"
)

// Config is everything the daemon needs; zero values take the documented defaults.
type Config struct {
	DataDir     string // required
	Socket      string // required
	SocketGroup string // group name or gid that may use the socket besides root and the daemon's user

	ShutdownGrace time.Duration // how long running runs may finish on shutdown; default 30s
	MaxRunning    int           // runs executing at once; default 64
	OutputCap     int64         // bytes of output kept per run; default runners.DefaultOutputCap

	// JobsDir holds job files applied at start, on SIGHUP and on POST /v1/reload: its jobs are
	// created or updated, and jobs that came from it and left are deleted. "" for none.
	JobsDir string

	// KeyFile is the secrets master key; default: $CREDENTIALS_DIRECTORY/arbiter.key when
	// systemd provides it, else secret.key in the data dir.
	KeyFile string

	// Store is where jobs and runs live: "" for the SQLite file in the data dir, or a
	// postgres:// URL shared by the nodes of a cluster.
	Store string
	// The node in a cluster: its name (default: from the host name), roles (default: all) and
	// the labels jobs may require of it. Only with a Postgres store.
	NodeName string
	Roles    []arbiter.Role
	Labels   []string
	// Heartbeat is how often a node reports (default 2s); NodeLease how long a report keeps it
	// alive (default 10s): a node silent for longer is gone, and its runs are retried elsewhere.
	Heartbeat time.Duration
	NodeLease time.Duration

	Version string
	Commit  string
	Logger  *slog.Logger
	Clock   clock.Clock // default: the system clock

	// Signals delivers the stop requests: the first starts a graceful shutdown, the second
	// forces it. Nil means SIGINT and SIGTERM.
	Signals <-chan os.Signal
	// Ready, when set, is closed once the socket accepts requests.
	Ready chan<- struct{}
}

func (c *Config) setDefaults() {
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.MaxRunning <= 0 {
		c.MaxRunning = 64
	}
	if c.OutputCap <= 0 {
		c.OutputCap = runners.DefaultOutputCap
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if len(c.Roles) == 0 {
		c.Roles = arbiter.Roles
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = defaultHeartbeat
	}
	if c.NodeLease <= 0 {
		c.NodeLease = defaultNodeLease
	}
}

// Daemon is one running arbiter daemon.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	clock   clock.Clock
	store   store.Store
	runner  runners.Runner
	sched   *scheduler
	runs    *dispatcher
	outputs *broadcaster[int64]
	commits *broadcaster[struct{}] // a write committed: followers of the event log look again
	// stopping is closed when the API server shuts down: streams that follow (events, output)
	// end then instead of holding the shutdown up until they are cut off.
	stopping chan struct{}
	sd       *notifier // systemd's notify socket, when it has one
	worker   string    // the name runs record as the node that ran them
	cluster  *cluster  // nil with the SQLite store: one node, always the scheduler
	// eventsSeen is the newest event when the schedules were loaded: a node of a cluster
	// follows job changes from there.
	eventsSeen int64
	nodeID     string // persistent identity of this data dir, in every run's marker

	keyPath     string
	keyReadOnly bool         // systemd credentials: never written
	keyMu       sync.RWMutex // held for writing while the key rotates
	key         *secretbox.Key
	dbPath      string
	uid         int
	allowGID    int // -1 when no group is configured
	startedAt   time.Time
}

// Run starts the daemon and blocks until it has shut down, after the first stop signal (or
// ctx is done) and the grace period.
func Run(ctx context.Context, cfg Config) (err error) {
	cfg.setDefaults()
	if cfg.DataDir == "" || cfg.Socket == "" {
		return errors.New("daemon: data dir and socket must be set")
	}
	log := cfg.Logger
	// Read first: NOTIFY_SOCKET leaves the environment before any job can inherit it.
	sd := newNotifier(log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()

	nodeID, err := loadNodeID(cfg.DataDir)
	if err != nil {
		return err
	}
	// As a child subreaper the daemon inherits the orphans of its runs, so processes that left
	// a run's process group are still found and stopped, and reaped when they exit.
	rp, err := reaper.Start(reaper.Options{Logger: log})
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, errors.ErrUnsupported) {
			level = slog.LevelInfo // macOS: the way things are there, not something to fix
		}
		log.Log(ctx, level, "cannot become a child subreaper; processes that escape a run's process group and lose their parent will not be stopped", "err", err)
		rp = nil
	}
	defer rp.Stop()

	d := &Daemon{
		cfg:       cfg,
		log:       log,
		clock:     cfg.Clock,
		nodeID:    nodeID,
		runner:    shellrunner.New(shellrunner.Options{Logger: log, Reaper: rp}),
		outputs:   newBroadcaster[int64](),
		commits:   newBroadcaster[struct{}](),
		stopping:  make(chan struct{}),
		sd:        sd,
		dbPath:    filepath.Join(cfg.DataDir, "arbiter.db"),
		uid:       os.Getuid(),
		allowGID:  -1,
		startedAt: cfg.Clock.Now(),
	}
	d.worker, _ = os.Hostname()
	if cfg.SocketGroup != "" {
		if d.allowGID, err = lookupGroup(cfg.SocketGroup); err != nil {
			return err
		}
	}
	d.keyPath, d.keyReadOnly = secretbox.KeyPath(cfg.DataDir)
	if cfg.KeyFile != "" {
		d.keyPath, d.keyReadOnly = cfg.KeyFile, false
	}
	// A key file others can read is refused before the database is even opened.
	if _, err := secretbox.LoadKey(d.keyPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	lead, err := d.openStore(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	if err := d.openKey(ctx); err != nil {
		return err
	}
	d.runs = newDispatcher(d, cfg.MaxRunning)
	d.sched = newScheduler(d.clock, log, d.fire)
	if cfg.Store != "" {
		if err := d.joinCluster(ctx, lead); err != nil {
			return err
		}
	}

	if err := d.recover(ctx); err != nil {
		return err
	}
	// Loading every job leaves garbage several times the size of what the scheduler keeps
	// (with 100,000 jobs, about 70 MB against 30 MB). Collect it and hand the pages back now,
	// once, rather than let the resident size of a daemon that then sits idle for hours keep
	// the start-up peak: the runtime's background scavenger returns memory only gradually.
	debug.FreeOSMemory()

	srv := d.newServer()
	serveErr := make(chan error, 1)
	if d.serves() {
		ln, err := listenSocket(cfg.Socket, cfg.SocketGroup)
		if err != nil {
			d.runs.shutdown(nil, 0) // stop the queued runs recover dispatched
			return err
		}
		defer os.Remove(cfg.Socket)
		go func() { serveErr <- srv.Serve(ln) }()
	}

	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		d.sched.Run(schedCtx)
	}()
	stopClusterWork, stopCluster := func() {}, func() {}
	if d.cluster != nil {
		stopClusterWork, stopCluster = d.cluster.run(context.WithoutCancel(ctx))
	}
	if d.serves() {
		log.Info("arbiter daemon listening", "socket", cfg.Socket, "data_dir", cfg.DataDir, "version", cfg.Version, "pid", os.Getpid())
	} else {
		log.Info("arbiter daemon running without the api role: no socket", "data_dir", cfg.DataDir, "version", cfg.Version, "pid", os.Getpid())
	}
	if cfg.Ready != nil {
		close(cfg.Ready)
	}

	signals := cfg.Signals
	if signals == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(ch)
		signals = ch
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if cfg.JobsDir != "" {
		d.reloadLogged(ctx, "start")
	}
	d.sd.ready(d.readyStatus())
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case sig := <-signals:
			log.Info("stopping", "signal", sig.String())
			break wait
		case <-hup:
			// Even without a jobs dir: a notify-reload unit waits for RELOADING=1 and READY=1.
			d.sd.reloading()
			if cfg.JobsDir != "" {
				d.reloadLogged(ctx, "SIGHUP")
			} else {
				log.Info("SIGHUP ignored: the daemon has no jobs dir")
			}
			d.sd.ready(d.readyStatus())
		case err := <-serveErr:
			stopSched()
			<-schedDone
			stopCluster()
			d.runs.shutdown(signals, 0)
			return fmt.Errorf("serve API: %w", err)
		}
	}

	d.sd.stopping()
	// Phase one: no new fires, no new runs.
	stopSched()
	<-schedDone
	stopClusterWork() // another node takes over the schedules now
	// Phase two: let running runs finish within the grace period, then kill them.
	d.runs.shutdown(signals, cfg.ShutdownGrace)
	stopCluster()
	d.leaveCluster()

	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	close(d.stopping)
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	log.Info("arbiter daemon stopped")
	return nil
}

// recover settles what a previous daemon left behind: runs it left running are lost (their
// leftover processes are stopped, and they are retried when attempts remain), jobs resume from
// their last accounted fire so that missed fires go through catch-up, and queued runs execute.
func (d *Daemon) recover(ctx context.Context) error {
	now := d.clock.Now()
	p := store.RunRecoverParams{Reason: "lost: the daemon stopped while the run was active", Now: now}
	if d.cluster != nil {
		// Only this node's runs: the others' are theirs, or the leader's to expire.
		p.Worker = d.worker
		p.Reason = "lost: node " + d.worker + " stopped while the run was active"
	}
	lost, err := d.store.RecoverRuns(ctx, p)
	if err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	// Only the runs recovered here need their whole job; the scheduler needs the schedules.
	jobs := make(map[string]arbiter.Job)
	jobOf := func(name string) (arbiter.Job, bool) {
		j, ok := jobs[name]
		if !ok {
			var err error
			if j, err = d.store.GetJob(ctx, name); err != nil {
				return arbiter.Job{}, false // deleted; any other failure shows in what follows
			}
			jobs[name] = j
		}
		return j, true
	}
	d.killLeftovers(lost, jobOf)

	// Read before the jobs: in a cluster, job changes after this event reach the scheduler
	// through followJobs, and none between the two reads is missed.
	latest, err := d.store.ListEvents(ctx, store.EventListParams{Latest: true, Limit: 1})
	if err != nil {
		return fmt.Errorf("read the event log: %w", err)
	}
	if len(latest) > 0 {
		d.eventsSeen = latest[0].ID
	}
	if err := d.resumeSchedules(ctx); err != nil {
		return err
	}
	if d.cluster != nil {
		// Queued runs are for the workers to claim; lost ones are retried through the queue.
		for _, r := range lost {
			if job, ok := jobOf(r.Job); ok {
				d.runs.retryIfAttemptsLeft(ctx, r, job, now)
			}
		}
		return nil
	}
	queued, err := d.store.ListRuns(ctx, store.RunListParams{States: []arbiter.RunState{arbiter.StateQueued}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("load queued runs: %w", err)
	}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		r := queued[i]
		job, ok := jobOf(r.Job)
		if !ok {
			_, _ = d.store.FinishRun(ctx, store.RunFinishParams{ID: r.ID, State: arbiter.StateCancelled, Reason: "cancelled: the job was deleted", Now: now})
			continue
		}
		d.runs.dispatch(r, job)
	}
	for _, r := range lost {
		if job, ok := jobOf(r.Job); ok {
			d.runs.retryIfAttemptsLeft(ctx, r, job, now)
		}
	}
	return nil
}

// resumeSchedules plans every job from its last accounted fire, so that fires due since then
// go through the catch-up rule: at start-up, and when a node of a cluster becomes the scheduler.
func (d *Daemon) resumeSchedules(ctx context.Context) error {
	scheds, err := d.store.ListJobSchedules(ctx)
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	lastFires, err := d.store.LastFires(ctx)
	if err != nil {
		return fmt.Errorf("load last fires: %w", err)
	}
	d.sched.restart(d.clock.Now())
	names := make(map[string]bool, len(scheds))
	for i, js := range scheds {
		// Catch-up starts after the last fire accounted for, but never before the job (or its
		// schedule, or its resumption) existed in its current form.
		anchor := js.UpdatedAt
		if last, ok := lastFires[js.Name]; ok && last.After(anchor) {
			anchor = last
		}
		j := arbiter.Job{Name: js.Name, Schedule: js.Schedule, Timezone: js.Timezone, Catchup: js.Catchup, Paused: js.Paused}
		if err := d.sched.Resume(j, anchor); err != nil {
			d.log.Error("job has an invalid schedule; it will not fire", "job", js.Name, "err", err)
		}
		names[js.Name] = true
		scheds[i] = store.JobSchedule{} // planned: the collector may take it
	}
	d.sched.retain(names)
	return nil
}

// killLeftovers stops what runs of a dead daemon left behind: its process group and anything
// that escaped it, recognised by the run id in its environment, never by pid alone.
func (d *Daemon) killLeftovers(lost []arbiter.Run, jobOf func(string) (arbiter.Job, bool)) {
	var wg sync.WaitGroup
	for _, r := range lost {
		d.log.Warn("run lost by a previous daemon", "run", r.ID, "job", r.Job, "pid", r.PID)
		if r.PID <= 0 {
			continue
		}
		grace := arbiter.DefaultKillGrace
		if j, ok := jobOf(r.Job); ok && j.KillGrace > 0 {
			grace = j.KillGrace
		}
		wg.Go(func() {
			n, err := shellrunner.KillLeftovers(d.runMarker(r.ID), r.PID, grace)
			switch {
			case err != nil:
				d.log.Error("stop leftover processes", "run", r.ID, "err", err)
			case n > 0:
				d.log.Warn("stopped leftover processes of a lost run", "run", r.ID, "count", n)
			}
		})
	}
	wg.Wait()
}

// runMarker is the value of runners.MarkerEnv for a run: unique on the machine.
func (d *Daemon) runMarker(id int64) string {
	return d.nodeID + "." + strconv.FormatInt(id, 10)
}

// fire materializes one due fire. The store's unique (job, fire time) key makes a second
// materialization of the same fire a no-op, across restarts too. In a cluster the fire carries
// the leader's term, and the store records it only while that term holds the scheduler lock.
func (d *Daemon) fire(ctx context.Context, f dueFire) {
	term := d.currentTerm()
	if !d.isLeader() {
		return // another node fires the schedules; this one only keeps its plan in step
	}
	p := store.FireInsertParams{
		Job:         f.job,
		ScheduledAt: f.at,
		Trigger:     f.trigger,
		State:       arbiter.StateQueued,
		Now:         d.clock.Now(),
		Term:        term.storeID(),
	}
	var (
		job     arbiter.Job
		replace []int64
	)
	if f.missed > 0 {
		p.Trigger, p.State = arbiter.TriggerSchedule, arbiter.StateMissed
		p.MissedCount, p.MissedUntil = f.missed, f.until
		p.Reason = missedReason(f)
	} else {
		// The scheduler keeps only what planning needs; the run needs the whole job.
		var err error
		if job, err = d.store.GetJob(ctx, f.job); err != nil {
			d.logFireError(f, err)
			return
		}
		act, err := d.activity(ctx, job.Name, job.Overlap)
		if err != nil {
			d.logFireError(f, err)
			return
		}
		switch job.Overlap {
		case arbiter.OverlapSkip:
			if act.oldest != 0 {
				p.State = arbiter.StateSkipped
				p.Reason = fmt.Sprintf("skipped: previous run %d still %s", act.oldest, activeState(act.oldestStarted))
			}
		case arbiter.OverlapQueue:
			if act.waiting != 0 {
				p.State = arbiter.StateSkipped
				p.Reason = fmt.Sprintf("skipped: coalesced into run %d, already waiting for its turn", act.waiting)
			}
		case arbiter.OverlapReplace:
			replace = act.all
		}
		if p.State == arbiter.StateQueued && job.Jitter > 0 {
			p.Jitter = rand.N(job.Jitter)
			p.NotBefore = f.at.Add(p.Jitter)
		}
	}
	run, inserted, err := d.store.InsertFire(ctx, p)
	switch {
	case errors.Is(err, store.ErrNotLeader):
		// This node's term has ended: lead stops it at once, and says so. The fire is neither
		// tried again nor planned again (replan): whichever node leads now plans from the
		// fires the store accounted for, this one among them if it is due.
		d.log.Debug("fire refused: this node's term as the scheduler has ended", "job", f.job, "at", f.at)
		term.refuse()
	case err != nil:
		d.logFireError(f, err)
	case !inserted:
		d.log.Debug("fire already recorded", "job", f.job, "at", f.at, "run", run.ID)
	case run.State == arbiter.StateMissed:
		d.log.Warn("fires missed", "job", f.job, "count", f.missed, "from", f.at, "until", f.until, "cause", f.cause)
	case run.State == arbiter.StateQueued:
		for _, id := range replace {
			d.cancelRun(ctx, id, &replacedError{by: run.ID}, "daemon")
		}
		d.enqueue(run, job)
	}
}

// activity is what the overlap policy needs to know of a job's active runs.
type activity struct {
	oldest        int64 // the oldest active run; 0 when none
	oldestStarted bool
	waiting       int64   // a run not started yet; 0 when none
	all           []int64 // every active run
}

// activity reads a job's active runs: from the dispatcher, which knows them all when this is
// the only node, or from the store in a cluster, where other nodes execute them.
// Locally only what the policy looks at is read.
func (d *Daemon) activity(ctx context.Context, job string, overlap arbiter.Overlap) (activity, error) {
	var a activity
	if d.cluster == nil {
		switch overlap {
		case arbiter.OverlapSkip:
			a.oldest, a.oldestStarted, _ = d.runs.activeRunOf(job)
		case arbiter.OverlapQueue:
			a.waiting, _ = d.runs.waitingRunOf(job)
		case arbiter.OverlapReplace:
			a.all = d.runs.activeRunsOf(job)
		}
		return a, nil
	}
	runs, err := d.store.ListRuns(ctx, store.RunListParams{
		Job: job, States: []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}, Limit: 1000,
	})
	if err != nil {
		return a, err
	}
	for _, r := range runs { // newest first
		a.oldest, a.oldestStarted = r.ID, r.State == arbiter.StateRunning
		if r.State == arbiter.StateQueued {
			a.waiting = r.ID
		}
		a.all = append(a.all, r.ID)
	}
	return a, nil
}

// enqueue hands a queued run over for execution: to this daemon's dispatcher, or in a cluster
// to whichever worker claims it (the commit's notification wakes them).
func (d *Daemon) enqueue(run arbiter.Run, job arbiter.Job) {
	if d.cluster == nil {
		d.runs.dispatch(run, job)
		return
	}
	select {
	case d.cluster.poke <- struct{}{}:
	default:
	}
}

// cancelRun stops an active run: here when this daemon executes it, else through the store,
// which cancels a queued run at once and asks the node running a running one to stop it.
func (d *Daemon) cancelRun(ctx context.Context, id int64, cause error, actor string) (arbiter.Run, bool, error) {
	if d.runs.cancelWith(id, cause) {
		return arbiter.Run{}, true, nil
	}
	run, err := d.store.CancelRun(ctx, store.RunCancelParams{ID: id, Reason: cause.Error(), Now: d.clock.Now(), Actor: actor})
	if err != nil && !errors.Is(err, arbiter.ErrConflict) {
		d.log.Error("cancel run", "run", id, "err", err)
	}
	return run, false, err
}

func (d *Daemon) logFireError(f dueFire, err error) {
	if errors.Is(err, arbiter.ErrNotFound) {
		d.log.Debug("job deleted as it fired", "job", f.job, "at", f.at)
		return
	}
	d.log.Error("record fire", "job", f.job, "at", f.at, "err", err)
	if d.cluster != nil {
		// The store is shared and may come back (a restart, a network break): the leader then
		// plans again from the last accounted fires, so this one goes through catch-up.
		d.cluster.replan.Store(true)
	}
}

// activeState names the state of an active run: started or not.
func activeState(started bool) string {
	if started {
		return "running"
	}
	return "queued"
}

func missedReason(f dueFire) string {
	loc := f.loc
	if loc == nil {
		loc = time.UTC
	}
	what := "the fire at " + f.at.In(loc).Format(time.RFC3339)
	if f.missed > 1 {
		what = fmt.Sprintf("%d fires from %s to %s", f.missed, f.at.In(loc).Format(time.RFC3339), f.until.In(loc).Format(time.RFC3339))
	}
	window := "catch-up is off for this job"
	if f.catchup > 0 {
		window = "older than the catch-up window of " + f.catchup.String()
	}
	return fmt.Sprintf("missed %s: %s (%s)", what, f.cause, window)
}
