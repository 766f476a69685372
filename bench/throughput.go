package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

// Throughput: K manual runs of a short command, as fast as they can go, 64 at a time. The
// baseline spawns the same command from a plain loop with the same concurrency.

const (
	// throughputSlots is --max-running, the baseline's concurrency, and the number of clients
	// triggering at once. Each trigger is answered only once its run is durably committed, so
	// c clients accept at most c runs per commit latency: with fewer clients than slots the
	// harness, not the daemon, would cap how fast runs are accepted.
	throughputSlots = 64
	printBytes      = 10240
)

type throughputSide struct {
	Elapsed    dur     `json:"elapsed"`
	RunsPerSec float64 `json:"runs_per_sec"`
}

type throughputResult struct {
	Name     string         `json:"name"`
	Command  []string       `json:"command"`
	K        int            `json:"k"`
	Slots    int            `json:"slots"`
	Clients  int            `json:"trigger_clients"` // triggering at once
	Baseline throughputSide `json:"baseline"`
	// BaselineFailed counts baseline processes that failed or printed the wrong byte count.
	BaselineFailed int            `json:"baseline_failed"`
	Arbiter        throughputSide `json:"arbiter"`
	// Accept is from the first trigger until the last one was answered.
	Accept       dur            `json:"accept_elapsed"`
	AcceptPerSec float64        `json:"accept_per_sec"`
	States       map[string]int `json:"states"` // the K runs by final state
	Succeeded    int            `json:"succeeded"`
	WrongOutput  int            `json:"wrong_output"` // succeeded runs whose output_bytes is off
	StartDelay   summary        `json:"start_delay"`  // started_at − trigger time, per run
	Ratio        float64        `json:"ratio"`        // runs/s arbiter / baseline
}

type throughputReport struct {
	Results []throughputResult `json:"results"`
}

func (h *harness) throughput(ctx context.Context, k int) (*throughputReport, error) {
	cases := []struct {
		name    string
		command []string
		output  int
	}{
		{"true", []string{"/bin/true"}, 0},
		{"print 10 KiB", []string{h.stamp, "-print", strconv.Itoa(printBytes)}, printBytes},
	}
	rep := &throughputReport{}
	for _, c := range cases {
		res, err := h.throughputOne(ctx, c.name, c.command, c.output, k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func (h *harness) throughputOne(ctx context.Context, name string, command []string, output, k int) (throughputResult, error) {
	res := throughputResult{Name: name, Command: command, K: k, Slots: throughputSlots, Clients: throughputSlots}

	h.logf("throughput %s: baseline, %d runs", name, k)
	elapsed, failed, err := baselineThroughput(ctx, command, output, k)
	if err != nil {
		return res, err
	}
	res.Baseline = throughputSide{Elapsed: dur(elapsed), RunsPerSec: float64(k) / elapsed.Seconds()}
	res.BaselineFailed = failed

	h.logf("throughput %s: arbiter, %d runs", name, k)
	const job = "tp"
	d, err := h.startWithJob(ctx, job, command, daemonOptions{maxRunning: throughputSlots})
	if err != nil {
		return res, err
	}
	defer d.kill()

	start := time.Now()
	if err := triggerMany(ctx, d.socket, job, k, res.Clients); err != nil {
		return res, err
	}
	res.Accept = dur(time.Since(start))
	res.AcceptPerSec = float64(k) / time.Duration(res.Accept).Seconds()
	if err := waitIdle(ctx, d.client); err != nil {
		return res, err
	}
	elapsed = time.Since(start)
	res.Arbiter = throughputSide{Elapsed: dur(elapsed), RunsPerSec: float64(k) / elapsed.Seconds()}

	runs, err := allRuns(ctx, d.client, job)
	if err != nil {
		return res, err
	}
	if err := d.stop(); err != nil {
		return res, err
	}
	res.States = map[string]int{}
	var delays []time.Duration
	for _, r := range runs {
		res.States[r.State]++
		if r.State == "succeeded" {
			res.Succeeded++
			if r.OutputBytes != int64(output) {
				res.WrongOutput++
			}
		}
		if r.StartedAt != nil {
			delays = append(delays, r.StartedAt.Sub(r.ScheduledAt))
		}
	}
	if len(runs) != k {
		return res, fmt.Errorf("%d runs triggered, %d listed", k, len(runs))
	}
	res.StartDelay = summarize(delays)
	res.Ratio = ratio(res.Arbiter.RunsPerSec, res.Baseline.RunsPerSec)
	return res, nil
}

// baselineThroughput runs command k times, throughputSlots at a time, reading stdout and
// stderr (one pipe, as arbiter gives a run) to the end. It returns the processes that failed or
// printed other than want bytes.
func baselineThroughput(ctx context.Context, command []string, want, k int) (time.Duration, int, error) {
	env := jobEnv()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range throughputSlots {
		wg.Go(func() {
			for next.Add(1) <= int64(k) && ctx.Err() == nil {
				var out countWriter
				cmd := exec.Command(command[0], command[1:]...)
				cmd.Env = env
				// The same writer for both: exec then gives the process one pipe for the two.
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil || out.n != int64(want) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return elapsed, int(failed.Load()), ctx.Err()
}

// countWriter counts what is written to it; exec writes from one goroutine per pipe.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// triggerMany triggers job k times from clients concurrent clients, each on its own
// connection.
func triggerMany(ctx context.Context, socket, job string, k, clients int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		c := client.New(socket)
		wg.Go(func() {
			for next.Add(1) <= int64(k) && ctx.Err() == nil {
				if _, err := c.TriggerJob(ctx, job); err != nil {
					cancel(fmt.Errorf("trigger %s: %w", job, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// waitIdle polls the daemon's status every 20 ms until nothing runs or waits.
func waitIdle(ctx context.Context, c *client.Client) error {
	deadline := time.Now().Add(30 * time.Minute)
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if st.Running == 0 && st.Queued == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("runs still active after 30 minutes: %d running, %d queued", st.Running, st.Queued)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *throughputReport) tables() []*table {
	var ts []*table
	for _, res := range r.Results {
		t := newTable(fmt.Sprintf("throughput  %s  K=%d  %d at a time", res.Name, res.K, res.Slots), "baseline", "arbiter", "ratio")
		t.compare("runs/s", res.Baseline.RunsPerSec, res.Arbiter.RunsPerSec, fmtRate)
		t.compareDur("elapsed", res.Baseline.Elapsed, res.Arbiter.Elapsed)
		t.row("triggers accepted/s", "", fmtRate(res.AcceptPerSec))
		t.row("start delay p50", "", fmtDur(time.Duration(res.StartDelay.P50)))
		t.row("start delay p99", "", fmtDur(time.Duration(res.StartDelay.P99)))
		t.row("succeeded", strconv.Itoa(res.K-res.BaselineFailed), strconv.Itoa(res.Succeeded))
		if res.WrongOutput > 0 {
			t.row("wrong output_bytes", "", strconv.Itoa(res.WrongOutput))
		}
		t.note("arbiter: %d clients triggering at once, --max-running %d, overlap allow; runs by state %s",
			res.Clients, res.Slots, fmtCounts(res.States))
		ts = append(ts, t)
	}
	return ts
}

// startWithJob starts a daemon in a fresh directory with one job that runs only when triggered
// (overlap allow: every trigger runs). The caller kills the daemon.
func (h *harness) startWithJob(ctx context.Context, job string, command []string, opts daemonOptions) (*daemonProc, error) {
	dir, err := h.dir(job)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(ctx, h.arbiter, dir, opts)
	if err != nil {
		return nil, err
	}
	if _, err := d.client.Apply(ctx, api.ApplyRequest{Jobs: []api.JobSpec{{
		Name: job, Schedule: "0 0 1 1 *", Command: command, Overlap: "allow",
	}}}); err != nil {
		d.kill()
		return nil, err
	}
	return d, nil
}
