package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

// Scale: what M registered jobs that rarely fire cost a daemon when it starts, at rest and
// when it is asked about them, beside a daemon with none.

type apiLatency struct {
	Status   summary `json:"status"`
	GetJob   summary `json:"get_job"`   // of a job in the middle; "not found" with no jobs
	ListRuns summary `json:"list_runs"` // limit 50
	ListJobs summary `json:"list_jobs"` // every job
}

type scaleSide struct {
	Jobs     int        `json:"jobs"`
	Register dur        `json:"register"` // creating the jobs through chunked applies
	DBBytes  int64      `json:"db_bytes"` // the data dir's files after registering
	Startup  dur        `json:"startup"`  // exec of a fresh daemon on that data dir → status answers
	Mem      procMem    `json:"mem_after_start"`
	MemIdle  procMem    `json:"mem_after_idle"`
	Idle     dur        `json:"idle"`
	IdleCPU  float64    `json:"idle_cpu_pct"` // of one core, over Idle
	LsWall   dur        `json:"ls_wall"`      // `arbiter ls -o json`, exec to exit: the median of lsRuns
	LsJobs   int        `json:"ls_jobs"`
	LsBytes  int64      `json:"ls_bytes"`
	API      apiLatency `json:"api"`
}

type scaleReport struct {
	Baseline scaleSide   `json:"baseline"`
	Sizes    []scaleSide `json:"sizes"`
}

func (h *harness) scale(ctx context.Context, sizes []int, idle time.Duration) (*scaleReport, error) {
	rep := &scaleReport{}
	var err error
	if rep.Baseline, err = h.scaleOne(ctx, 0, idle); err != nil {
		return nil, fmt.Errorf("0 jobs: %w", err)
	}
	for _, m := range sizes {
		side, err := h.scaleOne(ctx, m, idle)
		if err != nil {
			return nil, fmt.Errorf("%d jobs: %w", m, err)
		}
		rep.Sizes = append(rep.Sizes, side)
	}
	return rep, nil
}

// scaleJobs are m jobs with distinct schedules that fire at most once a year, in a few zones.
func scaleJobs(m int) []api.JobSpec {
	zones := []string{"", "Europe/Berlin", "America/New_York", "Asia/Tokyo"}
	specs := make([]api.JobSpec, m)
	for i := range specs {
		minute, hour, day, month := i%60, (i/60)%24, 1+(i/1440)%28, 1+(i/40320)%12
		specs[i] = api.JobSpec{
			Name:     fmt.Sprintf("scale-%06d", i),
			Schedule: fmt.Sprintf("%d %d %d %d *", minute, hour, day, month),
			Timezone: zones[i%len(zones)],
			Command:  []string{"/bin/true"},
		}
	}
	return specs
}

func (h *harness) scaleOne(ctx context.Context, m int, idle time.Duration) (scaleSide, error) {
	side := scaleSide{Jobs: m, Idle: dur(idle)}
	dir, err := h.dir("scale")
	if err != nil {
		return side, err
	}
	defer os.RemoveAll(dir)

	h.logf("scale %d jobs: registering", m)
	d, err := startDaemon(ctx, h.arbiter, dir, daemonOptions{})
	if err != nil {
		return side, err
	}
	start := time.Now()
	if err := applyChunked(ctx, d.client, scaleJobs(m)); err != nil {
		d.kill()
		return side, err
	}
	side.Register = dur(time.Since(start))
	if err := d.stop(); err != nil {
		return side, err
	}
	if side.DBBytes, err = dirSize(filepath.Join(dir, "data")); err != nil {
		return side, err
	}

	h.logf("scale %d jobs: restart, %s idle", m, idle)
	d, err = startDaemon(ctx, h.arbiter, dir, daemonOptions{})
	if err != nil {
		return side, err
	}
	defer d.kill()
	side.Startup = dur(d.startup)
	if side.Mem, err = readMem(d.pid()); err != nil {
		return side, err
	}
	cpu0, err := readCPU(d.pid())
	if err != nil {
		return side, err
	}
	t0 := time.Now()
	if err := sleepUntil(ctx, t0.Add(idle)); err != nil {
		return side, err
	}
	cpu1, err := readCPU(d.pid())
	if err != nil {
		return side, err
	}
	side.IdleCPU = 100 * (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	if side.MemIdle, err = readMem(d.pid()); err != nil {
		return side, err
	}

	h.logf("scale %d jobs: ls and API latency", m)
	if side.LsWall, side.LsJobs, side.LsBytes, err = h.lsJSON(ctx, d); err != nil {
		return side, err
	}
	if side.API, err = measureAPI(ctx, d.client, m); err != nil {
		return side, err
	}
	return side, d.stop()
}

// lsRuns is how many times `arbiter ls -o json` is timed: one call is one sample of a noisy
// machine, so the figure is the median.
const lsRuns = 3

// lsJSON times `arbiter ls -o json` lsRuns times and counts the jobs the last call printed.
func (h *harness) lsJSON(ctx context.Context, d *daemonProc) (dur, int, int64, error) {
	var walls []time.Duration
	var out bytes.Buffer
	for range lsRuns {
		var errOut bytes.Buffer
		out.Reset()
		cmd := d.cli(ctx, h.arbiter, "ls", "-o", "json")
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		err := cmd.Run()
		walls = append(walls, time.Since(start))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("arbiter ls -o json: %w\n%s", err, errOut.Bytes())
		}
	}
	var list api.JobList
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		return 0, 0, 0, fmt.Errorf("arbiter ls -o json printed no job list: %w", err)
	}
	return dur(summarize(walls).P50), len(list.Jobs), int64(out.Len()), nil
}

// measureAPI times calls of each kind, one after another on one connection.
func measureAPI(ctx context.Context, c *client.Client, m int) (apiLatency, error) {
	var lat apiLatency
	var err error
	const calls = 200
	if lat.Status, err = timeCalls(calls, func() error { _, err := c.Status(ctx); return err }); err != nil {
		return lat, fmt.Errorf("status: %w", err)
	}
	name := "no-such-job"
	if m > 0 {
		name = fmt.Sprintf("scale-%06d", m/2)
	}
	if lat.GetJob, err = timeCalls(calls, func() error {
		_, err := c.GetJob(ctx, name)
		if m == 0 && errors.Is(err, arbiter.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return lat, fmt.Errorf("get job: %w", err)
	}
	if lat.ListRuns, err = timeCalls(calls, func() error {
		_, err := c.ListRuns(ctx, api.RunsQuery{Limit: 50})
		return err
	}); err != nil {
		return lat, fmt.Errorf("list runs: %w", err)
	}
	// The full list costs in proportion to the jobs: at least 20 calls, and no more once
	// listBudget is spent (about 20 calls at 100,000 jobs).
	if lat.ListJobs, err = timeCalls(calls, func() error {
		jobs, err := c.ListJobs(ctx)
		if err == nil && len(jobs) != m {
			err = fmt.Errorf("%d jobs listed, want %d", len(jobs), m)
		}
		return err
	}); err != nil {
		return lat, fmt.Errorf("list jobs: %w", err)
	}
	return lat, nil
}

// Bounds of the calls timed per kind: up to n, but once callBudget is spent no more than
// minCalls.
const (
	minCalls   = 20
	callBudget = 5 * time.Second
)

// timeCalls times call n times, one after another, or fewer (but at least minCalls) when they
// take more than callBudget in all.
func timeCalls(n int, call func() error) (summary, error) {
	ds := make([]time.Duration, 0, n)
	begin := time.Now()
	for len(ds) < n && (len(ds) < minCalls || time.Since(begin) < callBudget) {
		start := time.Now()
		if err := call(); err != nil {
			return summary{}, err
		}
		ds = append(ds, time.Since(start))
	}
	return summarize(ds), nil
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

func (r *scaleReport) tables() []*table {
	var ts []*table
	b := r.Baseline
	for _, s := range r.Sizes {
		t := newTable(fmt.Sprintf("scale  M=%d jobs  %s idle", s.Jobs, fmtDur(time.Duration(s.Idle))), "0 jobs", fmt.Sprintf("%d jobs", s.Jobs), "ratio")
		t.row("register (apply)", "", fmtDur(time.Duration(s.Register)))
		t.compare("database size", float64(b.DBBytes), float64(s.DBBytes), fmtBytes)
		t.compareDur("start-up", b.Startup, s.Startup)
		t.compare("VmRSS after start", float64(b.Mem.RSS), float64(s.Mem.RSS), fmtBytes)
		t.compare("VmHWM after start", float64(b.Mem.HWM), float64(s.Mem.HWM), fmtBytes)
		t.compare("VmRSS after idle", float64(b.MemIdle.RSS), float64(s.MemIdle.RSS), fmtBytes)
		t.compare("idle CPU (% of a core)", b.IdleCPU, s.IdleCPU, fmtPct)
		t.compareDur("ls -o json (median of 3)", b.LsWall, s.LsWall)
		t.row("ls jobs printed", strconv.Itoa(b.LsJobs), strconv.Itoa(s.LsJobs))
		t.compare("ls bytes", float64(b.LsBytes), float64(s.LsBytes), fmtBytes)
		for _, c := range []struct {
			name    string
			base, m summary
		}{
			{"GET status", b.API.Status, s.API.Status},
			{"GET one job", b.API.GetJob, s.API.GetJob},
			{"list runs (50)", b.API.ListRuns, s.API.ListRuns},
			{"list jobs (all)", b.API.ListJobs, s.API.ListJobs},
		} {
			t.compareDur(c.name+" p50", c.base.P50, c.m.P50)
			t.compareDur(c.name+" p99", c.base.P99, c.m.P99)
		}
		t.note("calls per figure: %d status, %d get job, %d list runs, %d list jobs (%d with 0 jobs), each kind within %s when it can;",
			s.API.Status.Count, s.API.GetJob.Count, s.API.ListRuns.Count, s.API.ListJobs.Count, b.API.ListJobs.Count, callBudget)
		t.note("GET one job with 0 jobs answers 404; latency includes decoding the answer in the client")
		ts = append(ts, t)
	}
	return ts
}
