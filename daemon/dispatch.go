package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
	"github.com/arbiterd/arbiter/store"
)

// Why a run's context ended, read back with context.Cause to pick its final state.
var errShutdown = errors.New("cancelled: the daemon shut down before the run finished")

type cancelledError struct{ actor string }

func (e *cancelledError) Error() string { return "cancelled by " + e.actor }

type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return "timed out after " + e.after.String() }

// dispatcher executes queued runs, at most max at a time, and tracks the active ones so they can
// be cancelled and so the overlap policy can see them.
type dispatcher struct {
	d     *Daemon
	slots chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	active map[int64]*activeRun
	closed bool
}

type activeRun struct {
	run    arbiter.Run
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	pid     int // process group of the started process; 0 before it starts
	started bool
}

func newDispatcher(d *Daemon, max int) *dispatcher {
	return &dispatcher{d: d, slots: make(chan struct{}, max), active: make(map[int64]*activeRun)}
}

// dispatch executes a queued run in the background. After shutdown began it does nothing: the
// run stays queued in the store and the next daemon executes it.
func (p *dispatcher) dispatch(run arbiter.Run, job arbiter.Job) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ar := &activeRun{run: run, cancel: cancel}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cancel(errShutdown)
		return
	}
	p.active[run.ID] = ar
	p.wg.Add(1)
	p.mu.Unlock()
	go p.execute(ctx, ar, job)
}

// activeRunOf returns the oldest active run of a job.
func (p *dispatcher) activeRunOf(job string) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest int64
	for id, ar := range p.active {
		if ar.run.Job == job && (oldest == 0 || id < oldest) {
			oldest = id
		}
	}
	return oldest, oldest != 0
}

func (p *dispatcher) running() (running, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ar := range p.active {
		ar.mu.Lock()
		if ar.started {
			running++
		} else {
			waiting++
		}
		ar.mu.Unlock()
	}
	return running, waiting
}

// cancel stops an active run; false when the run is not active here.
func (p *dispatcher) cancel(id int64, actor string) bool {
	p.mu.Lock()
	ar, ok := p.active[id]
	p.mu.Unlock()
	if ok {
		ar.cancel(&cancelledError{actor: actor})
	}
	return ok
}

func (p *dispatcher) execute(ctx context.Context, ar *activeRun, job arbiter.Job) {
	d := p.d
	run := ar.run
	defer func() {
		p.mu.Lock()
		delete(p.active, run.ID)
		p.mu.Unlock()
		ar.cancel(nil)
		d.outputs.Notify(run.ID) // followers see the final state
		p.wg.Done()
	}()
	// Recording must succeed even after the run's context was cancelled.
	bg := context.WithoutCancel(ctx)

	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), errShutdown) {
			p.finish(bg, run.ID, arbiter.StateCancelled, nil, "", context.Cause(ctx).Error())
		}
		return // on shutdown the run stays queued for the next daemon
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}

	runCtx := ctx
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, job.Timeout, &timeoutError{after: job.Timeout})
		defer cancel()
	}
	out := runners.NewOutputWriter(outputSink{d.store, d.clock}, run.ID, runners.OutputOptions{
		Cap:     d.cfg.OutputCap,
		Notify:  func(int64) { d.outputs.Notify(run.ID) },
		OnError: func(err error) { d.log.Error("store run output", "run", run.ID, "err", err) },
	})
	loc, _ := arbiter.LoadZone(job.Timezone)
	res, err := d.runner.Run(runCtx, runners.Request{
		Job:       job,
		RunID:     run.ID,
		KillGrace: job.KillGrace,
		Output:    out,
		Env: []string{
			"ARBITER_JOB=" + job.Name,
			"ARBITER_RUN_ID=" + strconv.FormatInt(run.ID, 10),
			"ARBITER_SCHEDULED_AT=" + run.ScheduledAt.In(loc).Format(time.RFC3339),
			"ARBITER_TRIGGER=" + string(run.Trigger),
			"ARBITER_ATTEMPT=" + strconv.Itoa(max(run.Attempt, 1)),
		},
		Started: func(pid int) {
			ar.mu.Lock()
			ar.pid, ar.started = pid, true
			ar.mu.Unlock()
			if _, err := d.store.StartRun(bg, store.RunStartParams{ID: run.ID, PID: pid, Worker: d.worker, Now: d.clock.Now()}); err != nil {
				d.log.Error("record run start", "run", run.ID, "err", err)
			}
			d.outputs.Notify(run.ID)
		},
	})
	if cerr := out.Close(); cerr != nil {
		d.log.Error("flush run output", "run", run.ID, "err", cerr)
	}

	cause := context.Cause(runCtx)
	var timedOut *timeoutError
	switch {
	case err != nil:
		p.finish(bg, run.ID, arbiter.StateFailed, nil, "", "could not start: "+err.Error())
	case errors.As(cause, &timedOut):
		p.finish(bg, run.ID, arbiter.StateTimedOut, exitCode(res), res.Signal, cause.Error())
	case cause != nil:
		p.finish(bg, run.ID, arbiter.StateCancelled, exitCode(res), res.Signal, cause.Error())
	case res.Success():
		p.finish(bg, run.ID, arbiter.StateSucceeded, exitCode(res), "", "")
	case res.Signal != "":
		p.finish(bg, run.ID, arbiter.StateFailed, nil, res.Signal, "killed by "+res.Signal)
	default:
		p.finish(bg, run.ID, arbiter.StateFailed, exitCode(res), "", fmt.Sprintf("exit status %d", res.ExitCode))
	}
}

func exitCode(res runners.Result) *int {
	if res.Signal != "" {
		return nil
	}
	code := res.ExitCode
	return &code
}

func (p *dispatcher) finish(ctx context.Context, id int64, state arbiter.RunState, code *int, signal, reason string) {
	_, err := p.d.store.FinishRun(ctx, store.RunFinishParams{
		ID: id, State: state, ExitCode: code, Signal: signal, Reason: reason, Now: p.d.clock.Now(),
	})
	if err != nil {
		p.d.log.Error("record run end", "run", id, "state", state, "err", err)
	}
}

// shutdown stops dispatching and waits up to grace for active runs; then, or at the next
// signal, it cancels them (SIGTERM, SIGKILL after each job's kill grace). A further signal kills
// every process group at once.
func (p *dispatcher) shutdown(signals <-chan os.Signal, grace time.Duration) {
	p.mu.Lock()
	p.closed = true
	var waiting []*activeRun
	for _, ar := range p.active {
		ar.mu.Lock()
		if !ar.started {
			waiting = append(waiting, ar)
		}
		ar.mu.Unlock()
	}
	p.mu.Unlock()
	for _, ar := range waiting {
		ar.cancel(errShutdown) // not started: stays queued for the next daemon
	}

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	if n, _ := p.running(); n > 0 {
		p.d.log.Info("waiting for running runs", "count", n, "grace", grace)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
		p.d.log.Warn("grace period over; stopping running runs")
	case <-signals:
		p.d.log.Warn("second signal; killing every running process group now")
		p.killAll()
		<-done
		return
	}
	p.cancelAll()
	select {
	case <-done:
		return
	case <-signals:
		p.d.log.Warn("killing every running process group")
		p.killAll()
	}
	<-done
}

func (p *dispatcher) cancelAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ar := range p.active {
		ar.cancel(errShutdown)
	}
}

func (p *dispatcher) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ar := range p.active {
		ar.cancel(errShutdown)
		ar.mu.Lock()
		if ar.pid > 0 {
			_ = syscall.Kill(-ar.pid, syscall.SIGKILL)
		}
		ar.mu.Unlock()
	}
}

// outputSink stores a run's output chunks for runners.OutputWriter.
type outputSink struct {
	st    store.Store
	clock interface{ Now() time.Time }
}

func (s outputSink) AppendOutput(ctx context.Context, runID, seq int64, data []byte) error {
	return s.st.AppendOutput(ctx, store.OutputAppendParams{RunID: runID, Seq: seq, Data: data, Now: s.clock.Now()})
}

func (s outputSink) DropOutput(ctx context.Context, runID, fromSeq, throughSeq, bytes int64) error {
	return s.st.DropOutput(ctx, store.OutputDropParams{RunID: runID, FromSeq: fromSeq, ThroughSeq: throughSeq, Bytes: bytes})
}

func (p *dispatcher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
