package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

type replacedError struct{ by int64 }

func (e *replacedError) Error() string {
	return fmt.Sprintf("cancelled: replaced by run %d (overlap policy replace)", e.by)
}

// dispatcher executes queued runs, at most max at a time, and tracks the active ones so they can
// be cancelled and so the overlap policy can see them.
type dispatcher struct {
	d     *Daemon
	slots chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	active map[int64]*activeRun
	closed bool

	jobEnded *broadcaster[string]   // a run of the job ended: runs waiting for their turn look again
	ended    *broadcaster[struct{}] // any run ended: a worker of a cluster claims again
}

type activeRun struct {
	run    arbiter.Run
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	pid     int // process group of the started process; 0 before it starts
	started bool
	settled bool // its end is being recorded here, or was recorded elsewhere: nothing to stop
}

func newDispatcher(d *Daemon, max int) *dispatcher {
	return &dispatcher{
		d:        d,
		slots:    make(chan struct{}, max),
		active:   make(map[int64]*activeRun),
		jobEnded: newBroadcaster[string](),
		ended:    newBroadcaster[struct{}](),
	}
}

// free is how many more runs may be handed over now without waiting for a slot.
func (p *dispatcher) free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	return max(cap(p.slots)-len(p.active), 0)
}

// freed is closed when a run next ends.
func (p *dispatcher) freed() <-chan struct{} { return p.ended.Wait(struct{}{}) }

// cancelAllWith cancels every active run with cause and says how many there were.
func (p *dispatcher) cancelAllWith(cause error) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ar := range p.active {
		ar.cancel(cause)
	}
	return len(p.active)
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

// activeRunOf returns the oldest active run of a job and whether it has started.
func (p *dispatcher) activeRunOf(job string) (id int64, started, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rid, ar := range p.active {
		if ar.run.Job == job && (id == 0 || rid < id) {
			id = rid
			ar.mu.Lock()
			started = ar.started
			ar.mu.Unlock()
		}
	}
	return id, started, id != 0
}

// waitingRunOf returns a run of the job that has not started yet (waiting for its turn, a
// slot, or the end of a backoff).
func (p *dispatcher) waitingRunOf(job string) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ar := range p.active {
		ar.mu.Lock()
		started := ar.started
		ar.mu.Unlock()
		if ar.run.Job == job && !started {
			return id, true
		}
	}
	return 0, false
}

// activeRunsOf lists the job's active runs.
func (p *dispatcher) activeRunsOf(job string) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []int64
	for id, ar := range p.active {
		if ar.run.Job == job {
			ids = append(ids, id)
		}
	}
	return ids
}

// hasEarlierActive reports whether the job has an active run older than id: under the queue
// and replace policies a run waits for those to end, so two never run side by side.
func (p *dispatcher) hasEarlierActive(job string, id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rid, ar := range p.active {
		if ar.run.Job == job && rid < id {
			return true
		}
	}
	return false
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

// cancelWith stops an active run, recording cause as the reason.
func (p *dispatcher) cancelWith(id int64, cause error) bool {
	p.mu.Lock()
	ar, ok := p.active[id]
	p.mu.Unlock()
	if ok {
		ar.cancel(cause)
	}
	return ok
}

// endedAs reports whether the store holds run id as ended in state at now: the end this node
// tried to record, to the nanosecond.
func (p *dispatcher) endedAs(ctx context.Context, id int64, state arbiter.RunState, now time.Time) bool {
	r, err := p.d.store.GetRun(ctx, id)
	return err == nil && r.State == state && r.FinishedAt.Equal(now)
}

// activeIDs lists the active runs.
func (p *dispatcher) activeIDs() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int64, 0, len(p.active))
	for id := range p.active {
		ids = append(ids, id)
	}
	return ids
}

// cancelEndedElsewhere stops an active run whose end the store holds though this node did not
// record it (the cluster counted it lost), with cause. It does nothing to a run whose end is
// being recorded here, nor twice to one run, and reports whether it stopped the run.
func (p *dispatcher) cancelEndedElsewhere(id int64, cause error) bool {
	p.mu.Lock()
	ar, ok := p.active[id]
	p.mu.Unlock()
	if !ok {
		return false
	}
	ar.mu.Lock()
	settled := ar.settled
	ar.settled = true
	ar.mu.Unlock()
	if !settled {
		ar.cancel(cause)
	}
	return !settled
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
		p.jobEnded.Notify(run.Job)
		p.ended.Notify(struct{}{})
		p.wg.Done()
	}()
	// Recording must succeed even after the run's context was cancelled.
	bg := context.WithoutCancel(ctx)

	if !p.awaitStart(ctx, run, job) {
		switch {
		case !errors.Is(context.Cause(ctx), errShutdown):
			p.finish(bg, run.ID, arbiter.StateCancelled, nil, "", context.Cause(ctx).Error())
		case run.State == arbiter.StateRunning:
			// Claimed in a cluster, so running in the store though it never started: lost, like
			// the runs of a node that stops, and retried by the next attempt.
			if p.finish(bg, run.ID, arbiter.StateLost, nil, "", "lost: node "+d.worker+" stopped before starting it") {
				p.retryIfAttemptsLeft(bg, run, job, d.clock.Now())
			}
		}
		return // on shutdown a queued run stays queued for the next daemon
	}
	// The slot bounds the processes running at once, so it is freed as soon as the process has
	// exited, not after the finish is recorded: a commit's wait need not hold the next run back.
	var freeSlot sync.Once
	releaseSlot := func() { freeSlot.Do(func() { <-p.slots }) }
	defer releaseSlot()
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
	secretEnv, secretValues, err := d.secretValues(bg, job, run.ID)
	if err != nil {
		p.finish(bg, run.ID, arbiter.StateFailed, nil, "", "could not start: "+err.Error())
		return
	}
	stored := runners.NewOutputWriter(outputSink{d.store, d.clock}, run.ID, runners.OutputOptions{
		Cap:     d.cfg.OutputCap,
		Notify:  func(int64) { d.outputs.Notify(run.ID) },
		OnError: func(err error) { d.log.Error("store run output", "run", run.ID, "err", err) },
	})
	// Secret values never reach storage or followers: the redactor sits in front of the store.
	var out io.Writer = stored
	var redactor *runners.Redactor
	if len(secretValues) > 0 {
		redactor = runners.NewRedactor(stored, secretValues)
		out = redactor
	}
	loc, _ := arbiter.LoadZone(job.Timezone)
	// The start is recorded while the run goes on, not before: waiting for that commit would
	// hold every run's slot for one more fsync. The finish is recorded only after it.
	var recordingStart sync.WaitGroup
	res, err := d.runner.Run(runCtx, runners.Request{
		Job:       job,
		RunID:     run.ID,
		KillGrace: job.KillGrace,
		Output:    out,
		Env: append([]string{
			"ARBITER_JOB=" + job.Name,
			"ARBITER_RUN_ID=" + strconv.FormatInt(run.ID, 10),
			"ARBITER_SCHEDULED_AT=" + run.ScheduledAt.In(loc).Format(time.RFC3339),
			"ARBITER_TRIGGER=" + string(run.Trigger),
			"ARBITER_ATTEMPT=" + strconv.Itoa(max(run.Attempt, 1)),
			runners.MarkerEnv + "=" + d.runMarker(run.ID),
		}, secretEnv...),
		Started: func(pid int) {
			ar.mu.Lock()
			ar.pid, ar.started = pid, true
			ar.mu.Unlock()
			started := store.RunStartParams{ID: run.ID, PID: pid, Worker: d.worker, Now: d.clock.Now()}
			recordingStart.Go(func() {
				_, err := d.store.StartRun(bg, started)
				switch {
				case errors.Is(err, arbiter.ErrConflict) && p.cancelEndedElsewhere(run.ID, errFenced):
					// The run was claimed here, then counted lost (this node froze or was cut
					// off) and retried elsewhere: it must not run twice.
					d.log.Warn("the store had ended the run before its start was recorded: the cluster counted it lost while this node could not reach the store; stopping it", "run", run.ID, "err", err)
				case err != nil:
					d.log.Error("record run start", "run", run.ID, "err", err)
				}
				d.outputs.Notify(run.ID)
			})
		},
	})
	releaseSlot()
	recordingStart.Wait()
	if redactor != nil {
		_ = redactor.Close() // flushes what it held back into the store's writer
	}
	if cerr := stored.Close(); cerr != nil {
		d.log.Error("flush run output", "run", run.ID, "err", cerr)
	}

	state, code, signal, reason := outcome(res, err, context.Cause(runCtx))
	retry := retryable(state) && run.Attempt < 1+job.Retries && !p.isClosed()
	var delay time.Duration
	switch {
	case retry:
		delay = retryDelay(job.RetryDelay, run.Attempt)
		reason += fmt.Sprintf("; attempt %d of %d, retrying in %s", run.Attempt, 1+job.Retries, delay.Round(time.Second))
	case retryable(state) && job.Retries > 0:
		reason += fmt.Sprintf("; no attempts left (%d of %d)", run.Attempt, 1+job.Retries)
	}
	finished := p.finish(bg, run.ID, state, code, signal, reason)
	if retry && finished {
		p.retry(bg, run, job, d.clock.Now().Add(delay))
	}
}

// outcome turns how a run ended into its final state, exit code, signal and reason.
func outcome(res runners.Result, startErr, cause error) (arbiter.RunState, *int, string, string) {
	var timedOut *timeoutError
	switch {
	case startErr != nil:
		return arbiter.StateFailed, nil, "", "could not start: " + startErr.Error()
	case errors.As(cause, &timedOut):
		return arbiter.StateTimedOut, exitCode(res), res.Signal, cause.Error()
	case errors.Is(cause, errFenced):
		return arbiter.StateLost, exitCode(res), res.Signal, cause.Error() // retried elsewhere
	case cause != nil:
		return arbiter.StateCancelled, exitCode(res), res.Signal, cause.Error()
	case res.Success():
		return arbiter.StateSucceeded, exitCode(res), "", ""
	case res.Signal != "":
		return arbiter.StateFailed, nil, res.Signal, "killed by " + res.Signal
	default:
		return arbiter.StateFailed, exitCode(res), "", fmt.Sprintf("exit status %d", res.ExitCode)
	}
}

// retryable reports whether a run that ended in state may be retried: failures and timeouts,
// and runs lost with their daemon; never a run somebody cancelled.
func retryable(state arbiter.RunState) bool {
	return state == arbiter.StateFailed || state == arbiter.StateTimedOut || state == arbiter.StateLost
}

// retryDelay is the backoff before attempt+1: base doubling per attempt, capped at
// arbiter.MaxRetryDelay, with "equal jitter" (half fixed, half random) so that jobs failing
// together do not retry in lockstep.
func retryDelay(base time.Duration, attempt int) time.Duration {
	if base <= 0 {
		base = arbiter.DefaultRetryDelay
	}
	d := base
	for i := 1; i < attempt && d < arbiter.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, arbiter.MaxRetryDelay)
	return d/2 + rand.N(d/2+1)
}

// retry queues the next attempt of run, to start at notBefore.
func (p *dispatcher) retry(ctx context.Context, run arbiter.Run, job arbiter.Job, notBefore time.Time) {
	first := run.RetryOf
	if first == 0 {
		first = run.ID
	}
	var next arbiter.Run
	now := p.d.clock.Now()
	// Retried on a lost connection: the chain's unique (retry_of, attempt) refuses a second
	// insert of one attempt whose first insert did commit.
	err := p.d.persist(ctx, "queue retry", func() error {
		var err error
		next, err = p.d.store.InsertRun(ctx, store.RunInsertParams{
			Job:         run.Job,
			Trigger:     arbiter.TriggerRetry,
			ScheduledAt: run.ScheduledAt,
			Attempt:     run.Attempt + 1,
			RetryOf:     first,
			NotBefore:   notBefore,
			Now:         now,
			Actor:       "daemon",
		})
		return err
	})
	if err != nil {
		p.d.log.Error("queue retry", "run", run.ID, "job", run.Job, "err", err)
		return
	}
	p.d.enqueue(next, job)
}

// retryIfAttemptsLeft retries a run that ended without the dispatcher seeing it (lost with a
// previous daemon).
func (p *dispatcher) retryIfAttemptsLeft(ctx context.Context, run arbiter.Run, job arbiter.Job, now time.Time) {
	if run.Attempt < 1+job.Retries {
		p.retry(ctx, run, job, now)
	}
}

// awaitStart blocks until the run may start: its NotBefore has come (retry backoff, jitter),
// under the queue and replace policies the job's earlier runs have ended, and a slot is free.
// False when ctx ended first.
func (p *dispatcher) awaitStart(ctx context.Context, run arbiter.Run, job arbiter.Job) bool {
	if wait := run.NotBefore.Sub(p.d.clock.Now()); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	if job.Overlap == arbiter.OverlapQueue || job.Overlap == arbiter.OverlapReplace {
		for {
			ended := p.jobEnded.Wait(job.Name) // subscribe before looking, so no end slips by
			if !p.hasEarlierActive(job.Name, run.ID) {
				break
			}
			select {
			case <-ended:
			case <-ctx.Done():
				return false
			}
		}
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func exitCode(res runners.Result) *int {
	if res.Signal != "" {
		return nil
	}
	code := res.ExitCode
	return &code
}

func (p *dispatcher) finish(ctx context.Context, id int64, state arbiter.RunState, code *int, signal, reason string) bool {
	// Marked before the store is told: from its commit on, the store no longer holds the run
	// as running, and cancelEndedElsewhere must not take that for a run the cluster ended.
	p.mu.Lock()
	if ar, ok := p.active[id]; ok {
		ar.mu.Lock()
		ar.settled = true
		ar.mu.Unlock()
	}
	p.mu.Unlock()
	now := p.d.clock.Now()
	tries := 0
	err := p.d.persist(ctx, "record run end", func() error {
		tries++
		_, err := p.d.store.FinishRun(ctx, store.RunFinishParams{
			ID: id, State: state, ExitCode: code, Signal: signal, Reason: reason, Now: now,
		})
		if tries > 1 && errors.Is(err, arbiter.ErrConflict) && p.endedAs(ctx, id, state, now) {
			// An earlier try committed, but its answer was lost with the connection.
			return nil
		}
		return err
	})
	switch {
	case errors.Is(err, arbiter.ErrConflict):
		// In a cluster, the leader counted the run lost while this node was out of reach,
		// and retried it elsewhere: that end stands, and this one must not queue a retry too.
		p.d.log.Warn("record run end: the store had already ended the run; its end there stands", "run", id, "state", state, "err", err)
	case err != nil:
		p.d.log.Error("record run end", "run", id, "state", state, "err", err)
	}
	return err == nil
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
