package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

// Dispatch: N jobs fire every second; how late does each fire's process start, and does every
// fire start exactly once? The baseline is the least a scheduler can do: sleep to the second
// and spawn the N processes, every fire whatever the previous one is doing.
//
// The arbiter jobs' overlap policy is -overlap. Its default, allow, is the like-for-like job:
// like the baseline, it gives every fire its own run. With skip (arbiter's own default) a fire
// whose previous run is still queued or running is recorded as skipped instead of started.

// defaultOverlap is -overlap's default; see above.
const defaultOverlap = arbiter.OverlapAllow

// overlapNote says in the table what the policy used means for the comparison.
func overlapNote(overlap string) string {
	switch arbiter.Overlap(overlap) {
	case arbiter.OverlapAllow:
		return "every fire gets its own run, as the baseline spawns every fire"
	case arbiter.OverlapSkip:
		return "arbiter's default: a fire whose previous run is still queued or running is recorded as skipped, where the baseline spawns it"
	case arbiter.OverlapQueue:
		return "a fire whose previous run is still active waits for it, where the baseline spawns it at once"
	case arbiter.OverlapReplace:
		return "a fire whose previous run is still active cancels it, where the baseline lets both run"
	}
	return ""
}

// stragglers is how long after the window the harness waits before it looks at the records.
// A start of one of the window's fires counts however late it comes: the harness lets the
// daemon finish what it queued (see drain) before counting.
const stragglers = 3 * time.Second

// onTime is how late a start may be and still count as on time: a start a second late or more
// is at or past the job's next fire. The table's label says "<1 s".
const onTime = time.Second

// fireKey names one fire: a job and its scheduled second.
type fireKey struct {
	job string
	at  int64 // unix seconds
}

// fireStats are what a stamp file says about the fires of a window.
type fireStats struct {
	Expected   int     `json:"expected"`   // N × seconds
	Started    int     `json:"started"`    // distinct fires that started, however late
	OnTime     int     `json:"on_time"`    // fires whose first start was less than onTime late
	Missed     int     `json:"missed"`     // expected − started
	Duplicated int     `json:"duplicated"` // starts beyond the first of a fire
	Early      int     `json:"early"`      // starts before their scheduled second
	Foreign    int     `json:"foreign"`    // stamps of the window from jobs that are not expected
	Failed     int     `json:"failed"`     // baseline only: processes that did not start or exit 0
	Lateness   summary `json:"lateness"`   // start − scheduled, of each started fire's first start
	Earliest   dur     `json:"earliest"`   // the least lateness of any start (negative: early)

	started map[fireKey]bool
}

// dispatchAccount reconciles arbiter's fires with its records: every expected fire started, or
// was recorded as not started, or was lost without a trace.
type dispatchAccount struct {
	// RecordedNotStarted counts the expected fires without a stamp, by the state of their record
	// (skipped, missed, lost, …).
	RecordedNotStarted map[string]int `json:"recorded_not_started"`
	NotStartedTotal    int            `json:"recorded_not_started_total"`
	SilentlyLost       int            `json:"silently_lost"` // expected − started − recorded-not-started
	RunsByState        map[string]int `json:"runs_by_state"` // records of the window's fires
	Reasons            map[string]int `json:"reasons,omitempty"`
}

type dispatchResult struct {
	N           int             `json:"n"`
	Seconds     int             `json:"seconds"`
	Overlap     string          `json:"overlap"` // the arbiter jobs' policy
	WindowStart time.Time       `json:"window_start"`
	Baseline    fireStats       `json:"baseline"`
	Arbiter     fireStats       `json:"arbiter"`
	Account     dispatchAccount `json:"arbiter_account"`
	// UnrecordedAtEnd counts the window's fires that had no record 3 s after the window; the
	// harness then waited Settled (from the window's end) for late records.
	UnrecordedAtEnd int     `json:"unrecorded_at_end"`
	Settled         dur     `json:"settled"`
	Startup         dur     `json:"arbiter_startup"`
	P99Ratio        float64 `json:"p99_ratio"`     // p99(arbiter) / p99(baseline)
	StartRatio      float64 `json:"started_ratio"` // started(arbiter) / started(baseline)
	// Drain is how long the harness, once the window's fires were recorded and the jobs paused,
	// waited for the daemon to have nothing queued or running; when it gave up, LeftQueued and
	// LeftRunning are what was left when counting began.
	Drain       dur `json:"drain"`
	LeftQueued  int `json:"left_queued"`
	LeftRunning int `json:"left_running"`
}

type dispatchReport struct {
	Results []dispatchResult `json:"results"`
}

// dispatch measures each N in ns for a window of seconds, the arbiter jobs having the overlap
// policy given.
func (h *harness) dispatch(ctx context.Context, ns []int, seconds int, overlap string) (*dispatchReport, error) {
	rep := &dispatchReport{}
	for _, n := range ns {
		res, err := h.dispatchOne(ctx, n, seconds, overlap)
		if err != nil {
			return nil, fmt.Errorf("N=%d: %w", n, err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func (h *harness) dispatchOne(ctx context.Context, n, seconds int, overlap string) (dispatchResult, error) {
	res := dispatchResult{N: n, Seconds: seconds, Overlap: overlap}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%04d", i)
	}

	dir, err := h.dir("dispatch")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	h.logf("dispatch N=%d: baseline, %d s", n, seconds)
	baseFile := filepath.Join(dir, "baseline.stamps")
	start := windowStart(time.Now())
	failed, err := baselineDispatch(ctx, h.stamp, baseFile, names, start, seconds)
	if err != nil {
		return res, err
	}
	if res.Baseline, err = readStamps(baseFile, names, start, seconds); err != nil {
		return res, err
	}
	res.Baseline.Failed = failed

	h.logf("dispatch N=%d: arbiter, %d s", n, seconds)
	arbFile := filepath.Join(dir, "arbiter.stamps")
	d, err := startDaemon(ctx, h.arbiter, filepath.Join(dir, "d"), daemonOptions{})
	if err != nil {
		return res, err
	}
	defer d.kill()
	res.Startup = dur(d.startup)
	specs := make([]api.JobSpec, n)
	for i, name := range names {
		specs[i] = api.JobSpec{Name: name, Schedule: "* * * * * *", Command: []string{h.stamp, arbFile}, Overlap: overlap}
	}
	if err := applyChunked(ctx, d.client, specs); err != nil {
		return res, err
	}
	start = windowStart(time.Now())
	res.WindowStart = start
	end := start.Add(time.Duration(seconds) * time.Second)
	if err := sleepUntil(ctx, end.Add(stragglers)); err != nil {
		return res, err
	}
	if res.UnrecordedAtEnd, err = h.settle(ctx, d, names, start, seconds); err != nil {
		return res, err
	}
	res.Settled = dur(time.Since(end))
	// The jobs fire every second for as long as they exist, so the daemon is never idle until
	// they stop: pause them, now that every fire of the window is recorded (a fire paused
	// before its record would be lost, not late).
	for i := range specs {
		specs[i].Paused = true
	}
	if err := applyChunked(ctx, d.client, specs); err != nil {
		return res, fmt.Errorf("pause jobs: %w", err)
	}
	began := time.Now()
	left, err := h.drain(ctx, d.client, n)
	if err != nil {
		return res, err
	}
	res.Drain, res.LeftQueued, res.LeftRunning = dur(time.Since(began)), left.Queued, left.Running
	runs, err := allRuns(ctx, d.client, "")
	if err != nil {
		return res, err
	}
	if err := d.stop(); err != nil {
		return res, err
	}
	if res.Arbiter, err = readStamps(arbFile, names, start, seconds); err != nil {
		return res, err
	}
	res.Account = account(res.Arbiter, runs, names, start, seconds)
	res.P99Ratio = ratio(float64(res.Arbiter.Lateness.P99), float64(res.Baseline.Lateness.P99))
	res.StartRatio = ratio(float64(res.Arbiter.Started), float64(res.Baseline.Started))
	return res, nil
}

// A daemon that fell behind records a window's fires late: more than its tolerance of 10 s
// late, as missed. settle waits for those records while they keep coming, so that what it
// never records is told apart from what it records late.
const (
	settleStall = 15 * time.Second // no new record of the window's fires for this long: done
	settleMax   = 3 * time.Minute
)

// settle polls the daemon's new records until every fire of the window has one, or none came
// for settleStall. It returns how many fires had no record when it started.
func (h *harness) settle(ctx context.Context, d *daemonProc, names []string, start time.Time, seconds int) (int, error) {
	f := &runFollower{c: d.client, runs: map[int64]api.Run{}}
	if err := f.poll(ctx); err != nil {
		return 0, err
	}
	first := unrecorded(f.runs, names, start, seconds)
	best, progress, began := first, time.Now(), time.Now()
	for best > 0 && time.Since(progress) < settleStall && time.Since(began) < settleMax {
		if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
			return 0, err
		}
		if err := f.poll(ctx); err != nil {
			return 0, err
		}
		if u := unrecorded(f.runs, names, start, seconds); u < best {
			h.logf("dispatch N=%d: %d fires of the window not recorded yet", len(names), u)
			best, progress = u, time.Now()
		}
	}
	return first, nil
}

// drain waits until the daemon has nothing queued or running: runs of the window's fires may
// still be queued behind --max-running, and the baseline is allowed to start every fire
// however late. It gives up as settle does: when the count of queued and running runs has not
// fallen for settleStall, or after settleMax. It returns the status it last saw.
func (h *harness) drain(ctx context.Context, c *client.Client, n int) (api.Status, error) {
	began, progress, logged := time.Now(), time.Now(), time.Now()
	best := -1
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return st, fmt.Errorf("status: %w", err)
		}
		active := st.Queued + st.Running
		if active == 0 {
			return st, nil
		}
		if best < 0 || active < best {
			best, progress = active, time.Now()
		}
		if time.Since(progress) >= settleStall || time.Since(began) >= settleMax {
			h.logf("dispatch N=%d: gave up waiting for runs after %s: %d queued, %d running",
				n, fmtDur(time.Since(began)), st.Queued, st.Running)
			return st, nil
		}
		if time.Since(logged) >= 5*time.Second {
			h.logf("dispatch N=%d: %d runs queued, %d running", n, st.Queued, st.Running)
			logged = time.Now()
		}
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return st, err
		}
	}
}

// runFollower keeps the runs a daemon has recorded, fetching only those it has not seen: ids
// grow in the order runs are recorded, as the store has one writer.
type runFollower struct {
	c     *client.Client
	maxID int64
	runs  map[int64]api.Run
}

func (f *runFollower) poll(ctx context.Context) error {
	var before int64
	newest := f.maxID
	for {
		page, err := f.c.ListRuns(ctx, api.RunsQuery{Limit: 1000, Before: before})
		if err != nil {
			return fmt.Errorf("list runs: %w", err)
		}
		for _, r := range page {
			if r.ID <= f.maxID {
				f.maxID = newest
				return nil
			}
			f.runs[r.ID] = r
			newest = max(newest, r.ID)
		}
		if len(page) < 1000 {
			f.maxID = newest
			return nil
		}
		before = page[len(page)-1].ID
	}
}

// unrecorded counts the window's fires that have no record among runs.
func unrecorded(runs map[int64]api.Run, names []string, start time.Time, seconds int) int {
	records := fireRecords(slices.Collect(maps.Values(runs)), start, seconds)
	n := 0
	for _, name := range names {
		for s := start.Unix(); s < start.Unix()+int64(seconds); s++ {
			if _, ok := records[fireKey{name, s}]; !ok {
				n++
			}
		}
	}
	return n
}

// fireRecords maps each fire of the window that runs record to the state of its record. A
// missed record stands for a range of fires; with schedules firing every second, each second of
// the range is one fire.
func fireRecords(runs []api.Run, start time.Time, seconds int) map[fireKey]string {
	from, to := start.Unix(), start.Unix()+int64(seconds)
	records := map[fireKey]string{}
	for _, r := range runs {
		first, last, ok := fireRange(r, from, to)
		if !ok {
			continue
		}
		for s := first; s <= last; s++ {
			if _, ok := records[fireKey{r.Job, s}]; !ok {
				records[fireKey{r.Job, s}] = r.State
			}
		}
	}
	return records
}

// fireRange is the seconds of [from, to) a scheduled run's record stands for.
func fireRange(r api.Run, from, to int64) (first, last int64, ok bool) {
	if r.Trigger == "manual" {
		return 0, 0, false
	}
	first, last = r.ScheduledAt.Unix(), r.ScheduledAt.Unix()
	if r.MissedUntil != nil {
		last = r.MissedUntil.Unix()
	}
	if last < from || first >= to {
		return 0, 0, false
	}
	return max(first, from), min(last, to-1), true
}

// windowStart is the whole second after the next one: time to settle before measuring.
func windowStart(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(2 * time.Second)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// baselineDispatch sleeps to each second of the window and spawns one stamp per job, with the
// environment arbiter would give it. It returns how many processes failed.
func baselineDispatch(ctx context.Context, stamp, file string, names []string, start time.Time, seconds int) (int, error) {
	env := jobEnv()
	var wg sync.WaitGroup
	var failed atomic.Int64
	defer wg.Wait()
	for s := range seconds {
		at := start.Add(time.Duration(s) * time.Second)
		if err := sleepUntil(ctx, at); err != nil {
			return 0, err
		}
		scheduled := "ARBITER_SCHEDULED_AT=" + at.Format(time.RFC3339)
		for i, name := range names {
			cmd := exec.Command(stamp, file)
			cmd.Env = append(slices.Clip(env), "ARBITER_JOB="+name, scheduled,
				"ARBITER_RUN_ID="+strconv.Itoa(s*len(names)+i+1), "ARBITER_TRIGGER=schedule", "ARBITER_ATTEMPT=1")
			if err := cmd.Start(); err != nil {
				failed.Add(1)
				continue
			}
			wg.Go(func() {
				if cmd.Wait() != nil {
					failed.Add(1)
				}
			})
		}
	}
	wg.Wait()
	return int(failed.Load()), nil
}

// jobEnv is the harness's environment without ARBITER_ variables, for the processes its
// baselines start.
func jobEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBITER_") {
			env = append(env, kv)
		}
	}
	return env
}

// readStamps reads a stamp file and describes the fires of the window: the seconds from start
// on, for the jobs named.
func readStamps(path string, names []string, start time.Time, seconds int) (fireStats, error) {
	fs := fireStats{Expected: len(names) * seconds, started: map[fireKey]bool{}}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		fs.Missed = fs.Expected // nothing ever started
		return fs, nil
	}
	if err != nil {
		return fs, err
	}
	defer f.Close()
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	from, to := start.Unix(), start.Unix()+int64(seconds)
	first := map[fireKey]time.Duration{}
	earliest := time.Duration(1<<63 - 1)
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return fs, fmt.Errorf("%s:%d: want 3 fields, got %q", path, line, sc.Text())
		}
		at, err := time.Parse(time.RFC3339, fields[1])
		if err != nil {
			return fs, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		nanos, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return fs, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if at.Unix() < from || at.Unix() >= to {
			continue
		}
		if !known[fields[0]] {
			fs.Foreign++
			continue
		}
		late := time.Unix(0, nanos).Sub(at)
		earliest = min(earliest, late)
		if late < 0 {
			fs.Early++
		}
		k := fireKey{fields[0], at.Unix()}
		if prev, ok := first[k]; ok {
			fs.Duplicated++
			first[k] = min(prev, late)
			continue
		}
		first[k] = late
		fs.started[k] = true
	}
	if err := sc.Err(); err != nil {
		return fs, err
	}
	fs.Started = len(first)
	fs.Missed = fs.Expected - fs.Started
	for _, late := range first {
		if late < onTime {
			fs.OnTime++
		}
	}
	if len(first) > 0 {
		fs.Lateness = summarize(slices.Collect(maps.Values(first)))
		fs.Earliest = dur(earliest)
	}
	return fs, nil
}

// account matches each expected fire that left no stamp with arbiter's record of it.
func account(st fireStats, runs []api.Run, names []string, start time.Time, seconds int) dispatchAccount {
	acc := dispatchAccount{RecordedNotStarted: map[string]int{}, RunsByState: map[string]int{}, Reasons: map[string]int{}}
	from, to := start.Unix(), start.Unix()+int64(seconds)
	for _, r := range runs {
		if _, _, ok := fireRange(r, from, to); !ok {
			continue
		}
		acc.RunsByState[r.State]++
		if r.State != "succeeded" && r.Reason != "" {
			acc.Reasons[reasonKind(r.Reason)]++
		}
	}
	records := fireRecords(runs, start, seconds)
	for _, name := range names {
		for s := from; s < to; s++ {
			k := fireKey{name, s}
			if st.started[k] {
				continue
			}
			if state, ok := records[k]; ok {
				acc.RecordedNotStarted[state]++
				acc.NotStartedTotal++
			} else {
				acc.SilentlyLost++
			}
		}
	}
	return acc
}

// reasonKind shortens a reason to its kind, without the run ids and times that make every
// reason different.
func reasonKind(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	if strings.HasPrefix(reason, "skipped: previous run") {
		if strings.HasSuffix(reason, "still queued") {
			return "skipped: previous run still queued"
		}
		return "skipped: previous run still running"
	}
	return kind
}

// applyChunked creates jobs through /v1/apply in chunks that stay well under the API's body
// limit.
func applyChunked(ctx context.Context, c *client.Client, specs []api.JobSpec) error {
	const chunk = 2000
	for i := 0; i < len(specs); i += chunk {
		if _, err := c.Apply(ctx, api.ApplyRequest{Jobs: specs[i:min(i+chunk, len(specs))]}); err != nil {
			return fmt.Errorf("apply jobs %d-%d: %w", i, min(i+chunk, len(specs))-1, err)
		}
	}
	return nil
}

// allRuns pages through every run (of job, unless it is ""), newest first.
func allRuns(ctx context.Context, c *client.Client, job string) ([]api.Run, error) {
	var all []api.Run
	var before int64
	for {
		page, err := c.ListRuns(ctx, api.RunsQuery{Job: job, Limit: 1000, Before: before})
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		before = page[len(page)-1].ID
	}
}

func (r *dispatchReport) tables() []*table {
	var ts []*table
	for _, res := range r.Results {
		t := newTable(fmt.Sprintf("dispatch  N=%d  %d s window", res.N, res.Seconds), "baseline", "arbiter", "ratio")
		b, a := res.Baseline, res.Arbiter
		t.compareDur("lateness p50", b.Lateness.P50, a.Lateness.P50)
		t.compareDur("lateness p99", b.Lateness.P99, a.Lateness.P99)
		t.compareDur("lateness max", b.Lateness.Max, a.Lateness.Max)
		t.row("earliest", fmtDur(time.Duration(b.Earliest)), fmtDur(time.Duration(a.Earliest)))
		t.row("fires expected", strconv.Itoa(b.Expected), strconv.Itoa(a.Expected))
		t.compare("started eventually", float64(b.Started), float64(a.Started), fmtInt)
		t.compare("started on time (<1 s late)", float64(b.OnTime), float64(a.OnTime), fmtInt)
		t.row("missed", strconv.Itoa(b.Missed), strconv.Itoa(a.Missed))
		t.row("duplicated", strconv.Itoa(b.Duplicated), strconv.Itoa(a.Duplicated))
		t.row("started early", strconv.Itoa(b.Early), strconv.Itoa(a.Early))
		if b.Failed > 0 {
			t.row("baseline failures", strconv.Itoa(b.Failed), "")
		}
		t.row("recorded, not started", "", fmt.Sprintf("%d %s", res.Account.NotStartedTotal, fmtCounts(res.Account.RecordedNotStarted)))
		t.row("unrecorded at end + 3 s", "", strconv.Itoa(res.UnrecordedAtEnd))
		t.row("silently lost", "", strconv.Itoa(res.Account.SilentlyLost))
		t.row("daemon start-up", "", fmtDur(time.Duration(res.Startup)))
		t.note("arbiter: default --max-running (64), overlap %s (%s)", res.Overlap, overlapNote(res.Overlap))
		t.note("records of the window's fires: %s", fmtCounts(res.Account.RunsByState))
		if res.UnrecordedAtEnd > 0 {
			t.note("waited %s after the window for late records", fmtDur(time.Duration(res.Settled)))
		}
		if left := res.LeftQueued + res.LeftRunning; left > 0 {
			t.note("gave up after %s waiting for queued runs: counted with %d queued, %d running", fmtDur(time.Duration(res.Drain)), res.LeftQueued, res.LeftRunning)
		} else {
			t.note("then waited %s for the runs still queued or running", fmtDur(time.Duration(res.Drain)))
		}
		for _, k := range slices.Sorted(maps.Keys(res.Account.Reasons)) {
			t.note("  %d × %s", res.Account.Reasons[k], k)
		}
		ts = append(ts, t)
	}
	return ts
}

// fmtCounts prints counts by name, largest first: "(skipped 12, missed 3)".
func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
