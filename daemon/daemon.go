// Package daemon is the running arbiter: it owns the store, schedules fires, executes runs and
// serves the control API on a Unix socket. Its services share one lifecycle; shutdown is in two
// phases: stop firing and dispatching, then give running runs a grace period before their
// process groups are killed and the runs recorded.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/clock"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/runners/shellrunner"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/sqlitestore"
)

// Config is everything the daemon needs; zero values take the documented defaults.
type Config struct {
	DataDir     string // required
	Socket      string // required
	SocketGroup string // group name or gid that may use the socket besides root and the daemon's user

	ShutdownGrace time.Duration // how long running runs may finish on shutdown; default 30s
	MaxRunning    int           // runs executing at once; default 64
	OutputCap     int64         // bytes of output kept per run; default runners.DefaultOutputCap

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
}

// Daemon is one running arbiter daemon.
type Daemon struct {
	cfg       Config
	log       *slog.Logger
	clock     clock.Clock
	store     store.Store
	runner    runners.Runner
	sched     *scheduler
	runs      *dispatcher
	outputs   *broadcaster
	worker    string
	dbPath    string
	uid       int
	allowGID  int // -1 when no group is configured
	startedAt time.Time
}

// Run starts the daemon and blocks until it has shut down, after the first stop signal (or
// ctx is done) and the grace period.
func Run(ctx context.Context, cfg Config) (err error) {
	cfg.setDefaults()
	if cfg.DataDir == "" || cfg.Socket == "" {
		return errors.New("daemon: data dir and socket must be set")
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()

	d := &Daemon{
		cfg:       cfg,
		log:       log,
		clock:     cfg.Clock,
		runner:    shellrunner.New(shellrunner.Options{Logger: log}),
		outputs:   newBroadcaster(),
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
	d.store, err = sqlitestore.Open(ctx, d.dbPath, sqlitestore.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		if cerr := d.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	d.runs = newDispatcher(d, cfg.MaxRunning)
	d.sched = newScheduler(d.clock, log, d.fire)

	if err := d.recover(ctx); err != nil {
		return err
	}

	ln, err := listenSocket(cfg.Socket, cfg.SocketGroup)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Socket)
	srv := d.newServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		d.sched.Run(schedCtx)
	}()
	log.Info("arbiter daemon listening", "socket", cfg.Socket, "data_dir", cfg.DataDir, "version", cfg.Version, "pid", os.Getpid())
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
	select {
	case <-ctx.Done():
	case sig := <-signals:
		log.Info("stopping", "signal", sig.String())
	case err := <-serveErr:
		stopSched()
		<-schedDone
		d.runs.shutdown(signals, 0)
		return fmt.Errorf("serve API: %w", err)
	}

	// Phase one: no new fires, no new runs.
	stopSched()
	<-schedDone
	// Phase two: let running runs finish within the grace period, then kill them.
	d.runs.shutdown(signals, cfg.ShutdownGrace)

	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close() // streaming followers do not go idle on their own
	}
	log.Info("arbiter daemon stopped")
	return nil
}

// recover settles what a previous daemon left behind, then loads the jobs and the runs still
// waiting to execute.
func (d *Daemon) recover(ctx context.Context) error {
	lost, err := d.store.RecoverRuns(ctx, store.RunRecoverParams{
		Reason: "lost: the daemon stopped while the run was active",
		Now:    d.clock.Now(),
	})
	if err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	for _, r := range lost {
		d.log.Warn("run lost by a previous daemon", "run", r.ID, "job", r.Job, "pid", r.PID)
	}
	jobs, err := d.store.ListJobs(ctx)
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	byName := make(map[string]arbiter.Job, len(jobs))
	for _, j := range jobs {
		byName[j.Name] = j
		if err := d.sched.Set(j); err != nil {
			d.log.Error("job has an invalid schedule; it will not fire", "job", j.Name, "err", err)
		}
	}
	queued, err := d.store.ListRuns(ctx, store.RunListParams{States: []arbiter.RunState{arbiter.StateQueued}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("load queued runs: %w", err)
	}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		r := queued[i]
		job, ok := byName[r.Job]
		if !ok {
			_, _ = d.store.FinishRun(ctx, store.RunFinishParams{ID: r.ID, State: arbiter.StateCancelled, Reason: "cancelled: the job was deleted", Now: d.clock.Now()})
			continue
		}
		d.runs.dispatch(r, job)
	}
	return nil
}

// fire materializes one scheduled fire: a skipped record when the job's previous run is still
// active, otherwise a queued run handed to the dispatcher. The UNIQUE (job, scheduled time) key
// makes a second materialization of the same fire a no-op, across restarts too.
func (d *Daemon) fire(ctx context.Context, job arbiter.Job, at time.Time) {
	p := store.FireInsertParams{
		Job:         job.Name,
		ScheduledAt: at,
		Trigger:     arbiter.TriggerSchedule,
		State:       arbiter.StateQueued,
		Now:         d.clock.Now(),
	}
	if prev, ok := d.runs.activeRunOf(job.Name); ok {
		p.State = arbiter.StateSkipped
		p.Reason = fmt.Sprintf("skipped: previous run %d still running", prev)
	}
	run, inserted, err := d.store.InsertFire(ctx, p)
	switch {
	case errors.Is(err, arbiter.ErrNotFound):
		d.log.Debug("job deleted as it fired", "job", job.Name, "at", at)
	case err != nil:
		d.log.Error("record fire", "job", job.Name, "at", at, "err", err)
	case inserted && run.State == arbiter.StateQueued:
		d.runs.dispatch(run, job)
	}
}
