package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestQuick runs every scenario at the sizes of -quick against the real binary and checks
// what the scenarios observe about arbiter's behaviour. It asserts no figure: timings belong in
// the harness's report, not in a test.
func TestQuick(t *testing.T) {
	ctx := t.Context()
	arbiterBin, stampBin, err := buildBinaries(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := shortTempDir("arbbt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	h := &harness{arbiter: arbiterBin, stamp: stampBin, tmp: tmp, progress: t.Output()}
	cfg := quickConfig()
	// The scenarios run one after another: each would disturb the others' timing.

	t.Run("dispatch", func(t *testing.T) {
		rep, err := h.dispatch(ctx, cfg.dispatchN, cfg.seconds, cfg.overlap)
		if err != nil {
			t.Fatal(err)
		}
		printTables(t, rep)
		for _, res := range rep.Results {
			for _, side := range []struct {
				name string
				fs   fireStats
			}{{"baseline", res.Baseline}, {"arbiter", res.Arbiter}} {
				fs := side.fs
				if fs.Early > 0 || fs.Earliest < 0 {
					t.Errorf("%s N=%d: %d fires started before their second (earliest %s)", side.name, res.N, fs.Early, fmtDur(time.Duration(fs.Earliest)))
				}
				if fs.Duplicated > 0 {
					t.Errorf("%s N=%d: %d fires started more than once", side.name, res.N, fs.Duplicated)
				}
				if fs.Foreign > 0 {
					t.Errorf("%s N=%d: %d stamps from unknown jobs", side.name, res.N, fs.Foreign)
				}
				if res.N <= 10 && fs.Missed > 0 {
					t.Errorf("%s N=%d: %d of %d fires never started", side.name, res.N, fs.Missed, fs.Expected)
				}
				if fs.OnTime > fs.Started {
					t.Errorf("%s N=%d: %d fires on time of %d started", side.name, res.N, fs.OnTime, fs.Started)
				}
			}
			if res.Overlap == string(arbiter.OverlapAllow) && res.Account.RecordedNotStarted["skipped"] > 0 {
				t.Errorf("N=%d: overlap allow, yet %d fires were skipped", res.N, res.Account.RecordedNotStarted["skipped"])
			}
			if res.N <= 10 && res.LeftQueued+res.LeftRunning > 0 {
				t.Errorf("N=%d: counted with %d runs queued and %d running: the daemon never went idle", res.N, res.LeftQueued, res.LeftRunning)
			}
			if res.Baseline.Failed > 0 {
				t.Errorf("N=%d: %d baseline processes failed", res.N, res.Baseline.Failed)
			}
			if res.Account.SilentlyLost > 0 {
				t.Errorf("N=%d: %d fires neither started nor were recorded", res.N, res.Account.SilentlyLost)
			}
			if got := res.Arbiter.Started + res.Account.NotStartedTotal + res.Account.SilentlyLost; got != res.Arbiter.Expected {
				t.Errorf("N=%d: started %d + recorded %d + lost %d = %d, want the %d expected", res.N,
					res.Arbiter.Started, res.Account.NotStartedTotal, res.Account.SilentlyLost, got, res.Arbiter.Expected)
			}
		}
	})

	t.Run("throughput", func(t *testing.T) {
		rep, err := h.throughput(ctx, cfg.k)
		if err != nil {
			t.Fatal(err)
		}
		printTables(t, rep)
		for _, res := range rep.Results {
			if res.Succeeded != res.K {
				t.Errorf("%s: %d of %d runs succeeded; by state %v", res.Name, res.Succeeded, res.K, res.States)
			}
			if res.WrongOutput > 0 {
				t.Errorf("%s: %d runs stored another output_bytes than the command wrote", res.Name, res.WrongOutput)
			}
			if res.BaselineFailed > 0 {
				t.Errorf("%s: %d baseline processes failed", res.Name, res.BaselineFailed)
			}
		}
	})

	t.Run("scale", func(t *testing.T) {
		rep, err := h.scale(ctx, cfg.jobs, cfg.idle)
		if err != nil {
			t.Fatal(err)
		}
		printTables(t, rep)
		if rep.Baseline.LsJobs != 0 {
			t.Errorf("ls -o json printed %d jobs of a daemon with none", rep.Baseline.LsJobs)
		}
		for _, s := range rep.Sizes {
			if s.LsJobs != s.Jobs {
				t.Errorf("ls -o json printed %d jobs, want %d", s.LsJobs, s.Jobs)
			}
			if s.Startup <= 0 || s.Mem.RSS <= 0 {
				t.Errorf("%d jobs: start-up %s and RSS %d were not measured", s.Jobs, fmtDur(time.Duration(s.Startup)), s.Mem.RSS)
			}
		}
	})

	t.Run("flood", func(t *testing.T) {
		res, err := h.flood(ctx, cfg.flood)
		if err != nil {
			t.Fatal(err)
		}
		printTables(t, res)
		if res.State != "succeeded" {
			t.Errorf("the flood run ended %s", res.State)
		}
		if res.BaselineBytes != res.Size {
			t.Errorf("the baseline read %d bytes, want %d", res.BaselineBytes, res.Size)
		}
		if res.OutputBytes != res.Size {
			t.Errorf("output_bytes = %d, want the %d bytes written", res.OutputBytes, res.Size)
		}
		if res.Kept <= 0 || res.Kept > res.OutputCap {
			t.Errorf("%d bytes of output stored, want some and at most the cap of %d", res.Kept, res.OutputCap)
		}
		if want := res.Size - res.Kept; res.OutputDropped != want {
			t.Errorf("output_dropped = %d, want written − kept = %d", res.OutputDropped, want)
		}
	})
}

func printTables(t *testing.T, r report) {
	t.Helper()
	for _, tb := range r.tables() {
		if err := tb.write(t.Output()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadStampsAndAccount(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(sec int) string { return start.Add(time.Duration(sec) * time.Second).Format(time.RFC3339) }
	ns := func(sec int, late time.Duration) int64 {
		return start.Add(time.Duration(sec)*time.Second + late).UnixNano()
	}
	line := func(job string, sec int, late time.Duration) string {
		return job + " " + at(sec) + " " + strconv.FormatInt(ns(sec, late), 10) + "\n"
	}
	lines := line("bench-0000", 0, 2*time.Millisecond) +
		line("bench-0001", 0, 1500*time.Millisecond) + // started, but not on time
		line("bench-0000", 0, 1200*time.Millisecond) + // a late duplicate of an on-time start
		line("bench-0000", 1, 3*time.Millisecond) +
		line("bench-0000", 1, 9*time.Millisecond) + // a duplicate
		line("bench-0000", -1, time.Millisecond) + // before the window
		line("bench-0000", 2, time.Millisecond) + // after it
		line("other", 1, time.Millisecond) // not an expected job
	path := filepath.Join(t.TempDir(), "stamps")
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"bench-0000", "bench-0001"}
	fs, err := readStamps(path, names, start, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Expected != 4 || fs.Started != 3 || fs.OnTime != 2 || fs.Missed != 1 || fs.Duplicated != 2 || fs.Foreign != 1 || fs.Early != 0 {
		t.Errorf("readStamps = %+v, want 4 expected, 3 started, 2 on time, 1 missed, 2 duplicated, 1 foreign", fs)
	}
	if fs.Lateness.Max != dur(1500*time.Millisecond) || fs.Earliest != dur(2*time.Millisecond) {
		t.Errorf("lateness %+v, earliest %s; want max 1.5s (first starts only), earliest 2ms", fs.Lateness, fmtDur(time.Duration(fs.Earliest)))
	}

	tests := []struct {
		name     string
		runs     []api.Run
		recorded map[string]int
		lost     int
	}{
		{"no record", nil, map[string]int{}, 1},
		{"skipped", []api.Run{{Job: "bench-0001", State: "skipped", Trigger: "schedule", ScheduledAt: start.Add(time.Second)}},
			map[string]int{"skipped": 1}, 0},
		{"missed range", []api.Run{{Job: "bench-0001", State: "missed", Trigger: "schedule", ScheduledAt: start.Add(-5 * time.Second),
			MissedUntil: new(start.Add(time.Second)), MissedCount: 7}}, map[string]int{"missed": 1}, 0},
		{"manual runs do not count", []api.Run{{Job: "bench-0001", State: "succeeded", Trigger: "manual", ScheduledAt: start.Add(time.Second)}},
			map[string]int{}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc := account(fs, tc.runs, names, start, 2)
			if acc.SilentlyLost != tc.lost || len(acc.RecordedNotStarted) != len(tc.recorded) {
				t.Fatalf("account = %+v, want recorded %v and %d lost", acc, tc.recorded, tc.lost)
			}
			for k, v := range tc.recorded {
				if acc.RecordedNotStarted[k] != v {
					t.Errorf("recorded %s = %d, want %d", k, acc.RecordedNotStarted[k], v)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := summarize(ds)
	if s.Count != 100 || s.Min != dur(time.Millisecond) || s.P50 != dur(50*time.Millisecond) ||
		s.P99 != dur(99*time.Millisecond) || s.Max != dur(100*time.Millisecond) {
		t.Errorf("summarize(1..100 ms) = %+v", s)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("summarize sorted its argument")
	}
	if got := summarize(nil); got != (summary{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30},
		{"64MiB", 64 << 20},
		{"256MiB", 256 << 20},
		{"10MB", 10e6},
		{"4096", 4096},
		{"0", 0},
		{"lots", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.want == 0 {
				if err == nil {
					t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}
