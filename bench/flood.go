package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// Flood: one run writes SIZE bytes as fast as it can. Does the daemon keep its memory and the
// stored output bounded, and how fast does it drain the pipe? The baseline reads the same
// command's output to io.Discard.

// floodCap is the daemon's --output-cap in this scenario: the default, given explicitly so
// the figures do not depend on it changing.
const floodCap = 1 << 20

// samplePeriod is how often the daemon's memory and the run's state are sampled.
const samplePeriod = 50 * time.Millisecond

type floodSide struct {
	Elapsed dur     `json:"elapsed"`
	MBps    float64 `json:"mb_per_sec"` // 10^6 bytes
}

type floodResult struct {
	Size      int64     `json:"size"`
	OutputCap int64     `json:"output_cap"`
	Command   []string  `json:"command"`
	Baseline  floodSide `json:"baseline"`
	// BaselineBytes is what the baseline read: Size, or the command misbehaved.
	BaselineBytes int64     `json:"baseline_bytes"`
	Arbiter       floodSide `json:"arbiter"` // started_at → finished_at of the run
	Wall          dur       `json:"wall"`    // trigger → the run seen terminal
	IdleMem       procMem   `json:"idle_mem"`
	PeakRSS       int64     `json:"peak_rss"` // the largest VmRSS sampled during the run
	HWM           int64     `json:"vm_hwm"`   // after the run
	Samples       int       `json:"samples"`
	State         string    `json:"state"`
	OutputBytes   int64     `json:"output_bytes"`
	OutputDropped int64     `json:"output_dropped"`
	ReadBack      int64     `json:"read_back"` // bytes of GET /v1/runs/ID/output
	Kept          int64     `json:"kept"`      // of those, the run's own (NUL) bytes
	Ratio         float64   `json:"ratio"`     // MB/s arbiter / baseline
}

func (r *floodResult) tables() []*table {
	t := newTable(fmt.Sprintf("flood  %s of output  --output-cap %s", fmtBytes(float64(r.Size)), fmtBytes(float64(r.OutputCap))),
		"baseline", "arbiter", "ratio")
	t.compare("throughput", r.Baseline.MBps, r.Arbiter.MBps, fmtMBps)
	t.compareDur("duration", r.Baseline.Elapsed, r.Arbiter.Elapsed)
	t.row("trigger → terminal", "", fmtDur(time.Duration(r.Wall)))
	t.compare("daemon VmRSS idle → peak", float64(r.IdleMem.RSS), float64(r.PeakRSS), fmtBytes)
	t.row("daemon VmHWM", fmtBytes(float64(r.IdleMem.HWM)), fmtBytes(float64(r.HWM)))
	t.row("run state", "", r.State)
	t.row("output_bytes", strconv.FormatInt(r.BaselineBytes, 10), strconv.FormatInt(r.OutputBytes, 10))
	t.row("output_dropped", "", strconv.FormatInt(r.OutputDropped, 10))
	t.row("stored output read back", "", fmt.Sprintf("%d (%d of the run's bytes)", r.ReadBack, r.Kept))
	t.note("baseline column of the memory rows: the same daemon before the run; %d memory samples, every %s", r.Samples, samplePeriod)
	return []*table{t}
}

func (h *harness) flood(ctx context.Context, size int64) (*floodResult, error) {
	head, err := exec.LookPath("head")
	if err != nil {
		return nil, err
	}
	command := []string{head, "-c", strconv.FormatInt(size, 10), "/dev/zero"}
	res := &floodResult{Size: size, OutputCap: floodCap, Command: command}

	h.logf("flood %s: baseline", fmtBytes(float64(size)))
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = jobEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res.BaselineBytes, err = io.Copy(io.Discard, stdout)
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	elapsed := time.Since(start)
	res.Baseline = floodSide{Elapsed: dur(elapsed), MBps: float64(size) / 1e6 / elapsed.Seconds()}

	h.logf("flood %s: arbiter", fmtBytes(float64(size)))
	const job = "flood"
	d, err := h.startWithJob(ctx, job, command, daemonOptions{outputCap: floodCap})
	if err != nil {
		return nil, err
	}
	defer d.kill()
	if res.IdleMem, err = readMem(d.pid()); err != nil {
		return nil, err
	}

	start = time.Now()
	run, err := d.client.TriggerJob(ctx, job)
	if err != nil {
		return nil, err
	}
	// Memory is sampled on its own ticker so that a slow GetRun cannot stretch the period.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(samplePeriod)
		defer t.Stop()
		for {
			if m, err := readMem(d.pid()); err == nil {
				res.PeakRSS = max(res.PeakRSS, m.RSS)
				res.Samples++
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	run, err = waitTerminal(ctx, d, run.ID)
	res.Wall = dur(time.Since(start))
	stopSampling()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if m, err := readMem(d.pid()); err == nil {
		res.HWM = m.HWM
	}
	res.State, res.OutputBytes, res.OutputDropped = run.State, run.OutputBytes, run.OutputDropped
	if run.StartedAt != nil && run.FinishedAt != nil {
		elapsed = run.FinishedAt.Sub(*run.StartedAt)
		res.Arbiter = floodSide{Elapsed: dur(elapsed), MBps: float64(size) / 1e6 / elapsed.Seconds()}
	}
	res.Ratio = ratio(res.Arbiter.MBps, res.Baseline.MBps)

	out, err := d.client.Output(ctx, run.ID, 0, false)
	if err != nil {
		return nil, err
	}
	var nuls nulCounter
	res.ReadBack, err = io.Copy(&nuls, out)
	out.Close()
	if err != nil {
		return nil, fmt.Errorf("read output: %w", err)
	}
	res.Kept = nuls.nuls
	return res, d.stop()
}

// waitTerminal polls a run every samplePeriod until it has ended.
func waitTerminal(ctx context.Context, d *daemonProc, id int64) (api.Run, error) {
	for {
		r, err := d.client.GetRun(ctx, id)
		if err != nil {
			return r, fmt.Errorf("get run %d: %w", id, err)
		}
		switch r.State {
		case "queued", "running":
		default:
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-d.done:
			return r, fmt.Errorf("daemon exited during run %d: %v\n%s", id, d.waitErr, d.logTail())
		case <-time.After(samplePeriod):
		}
	}
}

// nulCounter counts NUL bytes: /dev/zero's output, as opposed to arbiter's marker line.
type nulCounter struct{ nuls int64 }

func (c *nulCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == 0 {
			c.nuls++
		}
	}
	return len(p), nil
}
