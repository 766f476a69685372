package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

func testInsertFire(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	createJob(t, s, newJob("report"))

	p := store.FireInsertParams{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateQueued, Now: at(5).Add(time.Millisecond)}
	run, inserted, err := s.InsertFire(ctx, p)
	if err != nil || !inserted {
		t.Fatalf("InsertFire = inserted %v, %v", inserted, err)
	}
	if run.ID <= 0 {
		t.Errorf("run id = %d, want > 0", run.ID)
	}
	want := arbiter.Run{ID: run.ID, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: at(5),
		Attempt: 1, State: arbiter.StateQueued, CreatedAt: p.Now}
	wantEqual(t, "InsertFire", run, want)
	wantEqual(t, "GetRun", getRun(t, s, run.ID), want)

	// The same fire again, even as a catch-up or a skip decided by another scheduler, is the
	// same run, unchanged.
	for _, again := range []store.FireInsertParams{
		{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at(7)},
		{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerCatchup, State: arbiter.StateQueued, Now: at(8)},
		{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerSchedule, State: arbiter.StateSkipped, Reason: "x", Now: at(9)},
	} {
		got, inserted, err := s.InsertFire(ctx, again)
		if err != nil || inserted {
			t.Errorf("InsertFire again (%s, %s) = inserted %v, %v; want the existing run", again.Trigger, again.State, inserted, err)
		}
		wantEqual(t, "InsertFire again", got, want)
	}

	// Another time, or another job at the same time, is another fire.
	later := insertFire(t, s, "backup", at(10))
	other := insertFire(t, s, "report", at(5))
	if later.ID <= run.ID || other.ID <= later.ID {
		t.Errorf("run ids %d, %d, %d do not grow", run.ID, later.ID, other.ID)
	}
	// A catch-up fire is a fire too.
	catchup, inserted, err := s.InsertFire(ctx, store.FireInsertParams{Job: "report", ScheduledAt: at(1),
		Trigger: arbiter.TriggerCatchup, State: arbiter.StateQueued, Now: at(20)})
	if err != nil || !inserted || catchup.Trigger != arbiter.TriggerCatchup {
		t.Errorf("catch-up InsertFire = %+v, inserted %v, %v", catchup, inserted, err)
	}

	_, _, err = s.InsertFire(ctx, store.FireInsertParams{Job: "nope", ScheduledAt: at(5),
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at(5)})
	wantErr(t, "InsertFire of an unknown job", err, arbiter.ErrNotFound)
}

func testInsertFireConcurrent(t *testing.T, s store.Store) {
	createJob(t, s, newJob("backup"))
	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		runs    [n]arbiter.Run
		news    [n]bool
		errs    [n]error
		fireAt  = at(5)
		ctx     = t.Context()
		trigger = []arbiter.Trigger{arbiter.TriggerSchedule, arbiter.TriggerCatchup}
	)
	for i := range n {
		wg.Go(func() {
			<-start // release them together
			runs[i], news[i], errs[i] = s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: fireAt,
				Trigger: trigger[i%2], State: arbiter.StateQueued, Now: fireAt})
		})
	}
	close(start)
	wg.Wait()

	inserted := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("InsertFire %d: %v", i, errs[i])
		}
		if news[i] {
			inserted++
		}
		if runs[i].ID != runs[0].ID {
			t.Errorf("InsertFire %d returned run %d, InsertFire 0 run %d", i, runs[i].ID, runs[0].ID)
		}
	}
	if inserted != 1 {
		t.Errorf("%d of %d concurrent InsertFire calls inserted; want exactly 1", inserted, n)
	}
	all, err := s.ListRuns(ctx, store.RunListParams{Job: "backup"})
	if err != nil || len(all) != 1 {
		t.Errorf("ListRuns = %d runs, %v; want 1", len(all), err)
	}
}

func testInsertFireTerminal(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	tests := []store.FireInsertParams{
		{Job: "backup", ScheduledAt: at(0), Trigger: arbiter.TriggerSchedule, State: arbiter.StateSkipped,
			Reason: "previous run 41 still running", Jitter: 3 * time.Second, Now: at(10)},
		{Job: "backup", ScheduledAt: at(1), Trigger: arbiter.TriggerSchedule, State: arbiter.StateMissed,
			Reason: "3 fires missed while the daemon was down", MissedCount: 3, MissedUntil: at(3), Now: at(11)},
	}
	for _, p := range tests {
		t.Run(string(p.State), func(t *testing.T) {
			run, inserted, err := s.InsertFire(ctx, p)
			if err != nil || !inserted {
				t.Fatalf("InsertFire = inserted %v, %v", inserted, err)
			}
			want := arbiter.Run{ID: run.ID, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: p.ScheduledAt,
				Attempt: 1, State: p.State, Reason: p.Reason, CreatedAt: p.Now, FinishedAt: p.Now,
				Jitter: p.Jitter, MissedCount: p.MissedCount, MissedUntil: p.MissedUntil}
			wantEqual(t, "terminal fire", run, want)

			_, err = s.StartRun(ctx, store.RunStartParams{ID: run.ID, PID: 1, Now: at(30)})
			wantErr(t, "StartRun of a terminal fire", err, arbiter.ErrConflict)
			_, err = s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: arbiter.StateFailed, Now: at(30)})
			wantErr(t, "FinishRun of a terminal fire", err, arbiter.ErrConflict)
			wantEqual(t, "GetRun", getRun(t, s, run.ID), want)
		})
	}
}

func testInsertFireInvalid(t *testing.T, s store.Store) {
	createJob(t, s, newJob("backup"))
	// fire is a valid queued fire; each case breaks it one way.
	fire := func(edit func(p *store.FireInsertParams)) store.FireInsertParams {
		p := store.FireInsertParams{Job: "backup", ScheduledAt: at(1), Trigger: arbiter.TriggerSchedule,
			State: arbiter.StateQueued, Now: at(1)}
		edit(&p)
		return p
	}
	missed := func(count int, until time.Time) func(p *store.FireInsertParams) {
		return func(p *store.FireInsertParams) {
			p.State, p.Reason, p.MissedCount, p.MissedUntil = arbiter.StateMissed, "missed", count, until
		}
	}
	tests := []struct {
		name string
		p    store.FireInsertParams
	}{
		{"manual trigger", fire(func(p *store.FireInsertParams) { p.Trigger = arbiter.TriggerManual })},
		{"retry trigger", fire(func(p *store.FireInsertParams) { p.Trigger = arbiter.TriggerRetry })},
		{"running", fire(func(p *store.FireInsertParams) { p.State = arbiter.StateRunning })},
		{"succeeded", fire(func(p *store.FireInsertParams) { p.State = arbiter.StateSucceeded })},
		{"negative jitter", fire(func(p *store.FireInsertParams) { p.Jitter = -time.Second })},
		{"queued with a missed count", fire(func(p *store.FireInsertParams) { p.MissedCount = 1 })},
		{"queued with missed until", fire(func(p *store.FireInsertParams) { p.MissedUntil = at(1) })},
		{"skipped with a missed count", fire(func(p *store.FireInsertParams) {
			p.State, p.Reason, p.MissedCount, p.MissedUntil = arbiter.StateSkipped, "busy", 2, at(2)
		})},
		{"missed without a count", fire(missed(0, at(1)))},
		{"missed with a negative count", fire(missed(-1, at(1)))},
		{"missed without until", fire(missed(2, time.Time{}))},
		{"missed until before the first fire", fire(missed(2, at(1).Add(-time.Nanosecond)))},
		{"one missed fire ending elsewhere", fire(missed(1, at(2)))},
		{"several missed fires at one instant", fire(missed(2, at(1)))},
	}
	for _, tt := range tests {
		_, _, err := s.InsertFire(t.Context(), tt.p)
		wantErr(t, tt.name, err, arbiter.ErrInvalid)
	}
	if runs, err := s.ListRuns(t.Context(), store.RunListParams{}); err != nil || len(runs) != 0 {
		t.Errorf("ListRuns after invalid fires = %+v, %v; want nothing", runs, err)
	}
	if events := allEvents(t, s); len(events) != 1 { // job.created
		t.Errorf("invalid fires wrote events: %+v", events[1:])
	}
	// Nothing of them stuck: the fire is still free, and one missed fire is a valid record.
	if _, inserted, err := s.InsertFire(t.Context(), fire(missed(1, at(1)))); err != nil || !inserted {
		t.Errorf("InsertFire of one missed fire = inserted %v, %v; want a new record", inserted, err)
	}
}

func testInsertRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	fire := insertFire(t, s, "backup", at(5))

	// Manual runs may share the fire's time, and each other's.
	var manual []arbiter.Run
	for i := range 2 {
		p := store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: at(5), Now: at(6 + i), Actor: "uid:1000"}
		r, err := s.InsertRun(ctx, p)
		if err != nil {
			t.Fatalf("InsertRun %d: %v", i, err)
		}
		want := arbiter.Run{ID: r.ID, Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: at(5),
			Attempt: 1, State: arbiter.StateQueued, CreatedAt: p.Now}
		wantEqual(t, "InsertRun", r, want)
		wantEqual(t, "GetRun", getRun(t, s, r.ID), want)
		manual = append(manual, r)
	}
	if ids := []int64{fire.ID, manual[0].ID, manual[1].ID}; !slices.IsSorted(ids) || ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("run ids %v are not increasing", ids)
	}

	retry, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5),
		Attempt: 2, RetryOf: fire.ID, Now: at(9)})
	if err != nil || retry.Attempt != 2 || retry.Trigger != arbiter.TriggerRetry || retry.RetryOf != fire.ID {
		t.Errorf("retry InsertRun = %+v, %v; want attempt 2 of run %d", retry, err, fire.ID)
	}

	_, err = s.InsertRun(ctx, store.RunInsertParams{Job: "nope", Trigger: arbiter.TriggerManual, ScheduledAt: at(5), Now: at(5)})
	wantErr(t, "InsertRun of an unknown job", err, arbiter.ErrNotFound)
	for _, trig := range []arbiter.Trigger{arbiter.TriggerSchedule, arbiter.TriggerCatchup} {
		_, err = s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: trig, ScheduledAt: at(50), Now: at(50)})
		wantErr(t, "InsertRun with trigger "+string(trig), err, arbiter.ErrInvalid)
	}
}

func testStartRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	fire := insertFire(t, s, "backup", at(5))

	got, err := s.StartRun(ctx, store.RunStartParams{ID: fire.ID, PID: 31337, Worker: "node-1", Now: at(6)})
	if err != nil {
		t.Fatal(err)
	}
	want := fire
	want.State, want.StartedAt, want.PID, want.Worker = arbiter.StateRunning, at(6), 31337, "node-1"
	wantEqual(t, "StartRun", got, want)
	wantEqual(t, "GetRun", getRun(t, s, fire.ID), want)

	_, err = s.StartRun(ctx, store.RunStartParams{ID: fire.ID, PID: 1, Worker: "node-2", Now: at(7)})
	wantErr(t, "StartRun twice", err, arbiter.ErrConflict)
	wantEqual(t, "GetRun after the second start", getRun(t, s, fire.ID), want)

	_, err = s.StartRun(ctx, store.RunStartParams{ID: fire.ID + 1000, PID: 1, Now: at(7)})
	wantErr(t, "StartRun of an unknown run", err, arbiter.ErrNotFound)
}

func testFinishRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))

	t.Run("from running", func(t *testing.T) {
		run := startRun(t, s, insertFire(t, s, "backup", at(1)).ID, at(2))
		got, err := s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: arbiter.StateFailed, ExitCode: intp(3),
			Reason: "exit status 3", Now: at(4), Actor: "uid:1000"})
		if err != nil {
			t.Fatal(err)
		}
		want := run
		want.State, want.ExitCode, want.Reason, want.FinishedAt = arbiter.StateFailed, intp(3), "exit status 3", at(4)
		wantEqual(t, "FinishRun", got, want)
		wantEqual(t, "GetRun", getRun(t, s, run.ID), want)
		if d := got.Duration(at(100)); d != 2*time.Minute {
			t.Errorf("Duration = %v, want 2m", d)
		}

		_, err = s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: arbiter.StateSucceeded, ExitCode: intp(0), Now: at(5)})
		wantErr(t, "FinishRun twice", err, arbiter.ErrConflict)
		wantEqual(t, "GetRun after the second finish", getRun(t, s, run.ID), want)
		wantEqual(t, "the run's events", runEvents(t, s, run.ID), []arbiter.Event{
			{At: at(1), Kind: "run.queued", Job: "backup", RunID: run.ID, Actor: "daemon"},
			{At: at(2), Kind: "run.running", Job: "backup", RunID: run.ID, Actor: "daemon", Detail: fmt.Sprintf("pid %d on %s", run.PID, run.Worker)},
			{At: at(4), Kind: "run.failed", Job: "backup", RunID: run.ID, Actor: "uid:1000", Detail: "exit status 3"},
		})
	})

	t.Run("exit code zero and signal", func(t *testing.T) {
		ok := startRun(t, s, insertFire(t, s, "backup", at(10)).ID, at(10))
		got, err := s.FinishRun(ctx, store.RunFinishParams{ID: ok.ID, State: arbiter.StateSucceeded, ExitCode: intp(0), Now: at(11)})
		if err != nil || got.ExitCode == nil || *got.ExitCode != 0 {
			t.Errorf("FinishRun with exit code 0 = %+v, %v", got, err)
		}
		killed := startRun(t, s, insertFire(t, s, "backup", at(12)).ID, at(12))
		got, err = s.FinishRun(ctx, store.RunFinishParams{ID: killed.ID, State: arbiter.StateTimedOut, Signal: "SIGKILL",
			Reason: "timeout after 1m30s", Now: at(14)})
		if err != nil || got.ExitCode != nil || got.Signal != "SIGKILL" || got.State != arbiter.StateTimedOut {
			t.Errorf("FinishRun with a signal = %+v, %v; want SIGKILL and no exit code", got, err)
		}
		var details []string
		for _, e := range append(runEvents(t, s, ok.ID), runEvents(t, s, killed.ID)...) {
			if e.Kind != "run.queued" && e.Kind != "run.running" {
				details = append(details, e.Kind+": "+e.Detail)
			}
		}
		wantEqual(t, "the finishes' events", details, []string{"run.succeeded: exit code 0", "run.timed_out: timeout after 1m30s"})
	})

	t.Run("from queued", func(t *testing.T) {
		run := insertFire(t, s, "backup", at(20))
		got, err := s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: arbiter.StateCancelled, Reason: "cancelled by uid:1000", Now: at(21)})
		if err != nil {
			t.Fatal(err)
		}
		want := run
		want.State, want.Reason, want.FinishedAt = arbiter.StateCancelled, "cancelled by uid:1000", at(21)
		wantEqual(t, "cancel a queued run", got, want)
		_, err = s.StartRun(ctx, store.RunStartParams{ID: run.ID, PID: 1, Now: at(22)})
		wantErr(t, "StartRun of a cancelled run", err, arbiter.ErrConflict)
	})

	t.Run("not terminal", func(t *testing.T) {
		run := insertFire(t, s, "backup", at(30))
		for _, state := range []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning, "exploded", ""} {
			_, err := s.FinishRun(ctx, store.RunFinishParams{ID: run.ID, State: state, Now: at(31)})
			wantErr(t, "FinishRun to "+string(state), err, arbiter.ErrInvalid)
		}
		wantEqual(t, "GetRun", getRun(t, s, run.ID), run)
	})

	t.Run("unknown", func(t *testing.T) {
		_, err := s.FinishRun(ctx, store.RunFinishParams{ID: 1 << 40, State: arbiter.StateFailed, Now: at(40)})
		wantErr(t, "FinishRun of an unknown run", err, arbiter.ErrNotFound)
		_, err = s.GetRun(ctx, 1<<40)
		wantErr(t, "GetRun of an unknown run", err, arbiter.ErrNotFound)
	})
}

// listFixture creates jobs a and b with runs in various states and returns them newest first.
func listFixture(t *testing.T, s store.Store) []arbiter.Run {
	createJob(t, s, newJob("a"))
	createJob(t, s, newJob("b"))
	var runs []arbiter.Run
	for i := range 6 {
		job := []string{"a", "b"}[i%2]
		r := insertFire(t, s, job, at(i))
		switch i % 3 {
		case 1:
			r = startRun(t, s, r.ID, at(i))
		case 2:
			r = finishRun(t, s, startRun(t, s, r.ID, at(i)).ID, arbiter.StateSucceeded, at(i+1))
		}
		runs = append(runs, r)
	}
	slices.Reverse(runs)
	return runs
}

func testListRuns(t *testing.T, s store.Store) {
	runs := listFixture(t, s) // ids descending: b5(succ) a4(running) b3(queued) a2(succ) b1(running) a0(queued)
	pick := func(keep func(arbiter.Run) bool) []arbiter.Run {
		var out []arbiter.Run
		for _, r := range runs {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	active := []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
	tests := []struct {
		name string
		p    store.RunListParams
		want []arbiter.Run
	}{
		{"all", store.RunListParams{}, runs},
		{"job", store.RunListParams{Job: "a"}, pick(func(r arbiter.Run) bool { return r.Job == "a" })},
		{"unknown job", store.RunListParams{Job: "zzz"}, nil},
		{"one state", store.RunListParams{States: []arbiter.RunState{arbiter.StateSucceeded}},
			pick(func(r arbiter.Run) bool { return r.State == arbiter.StateSucceeded })},
		{"states", store.RunListParams{States: active}, pick(func(r arbiter.Run) bool { return r.State.Active() })},
		{"job and states", store.RunListParams{Job: "b", States: active},
			pick(func(r arbiter.Run) bool { return r.Job == "b" && r.State.Active() })},
		{"before", store.RunListParams{BeforeID: runs[2].ID}, runs[3:]},
		{"before and job", store.RunListParams{Job: "b", BeforeID: runs[2].ID},
			pick(func(r arbiter.Run) bool { return r.Job == "b" && r.ID < runs[2].ID })},
		{"limit", store.RunListParams{Limit: 2}, runs[:2]},
	}
	for _, tt := range tests {
		got, err := s.ListRuns(t.Context(), tt.p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		wantEqual(t, tt.name, got, tt.want)
	}
}

func testListRunsPages(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	const n = 55
	var want []int64
	for i := range n {
		want = append(want, insertFire(t, s, "backup", at(i)).ID)
	}
	slices.Reverse(want)

	first, err := s.ListRuns(ctx, store.RunListParams{})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "default page", ids(first), want[:50])

	var got []int64
	before := int64(0)
	for page := 0; ; page++ {
		runs, err := s.ListRuns(ctx, store.RunListParams{Job: "backup", BeforeID: before, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 || page > n {
			break
		}
		got = append(got, ids(runs)...)
		before = runs[len(runs)-1].ID
	}
	wantEqual(t, "pages of 7", got, want)
}

func testLatestRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, name := range []string{"a", "b", "c"} {
		createJob(t, s, newJob(name))
	}
	insertFire(t, s, "a", at(1))
	insertFire(t, s, "a", at(2))
	b := finishRun(t, s, insertFire(t, s, "b", at(1)).ID, arbiter.StateCancelled, at(3))
	// The newest run is the last created, not the latest fire time.
	a, err := s.InsertRun(ctx, store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerManual, ScheduledAt: at(0), Now: at(4)})
	if err != nil {
		t.Fatal(err)
	}

	got, err := s.LatestRuns(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "LatestRuns(nil)", got, map[string]arbiter.Run{"a": a, "b": b})

	got, err = s.LatestRuns(ctx, []string{"a", "c", "zzz"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "LatestRuns(a, c, zzz)", got, map[string]arbiter.Run{"a": a})

	got, err = s.LatestRuns(ctx, []string{})
	if err != nil || len(got) != 0 {
		t.Errorf("LatestRuns(empty) = %v, %v; want nothing", got, err)
	}
}

func testRecoverRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	createJob(t, s, newJob("b"))
	r1 := startRun(t, s, insertFire(t, s, "a", at(1)).ID, at(1))
	r2 := startRun(t, s, insertFire(t, s, "b", at(2)).ID, at(2))
	queued := insertFire(t, s, "a", at(3))
	done := finishRun(t, s, startRun(t, s, insertFire(t, s, "b", at(4)).ID, at(4)).ID, arbiter.StateSucceeded, at(5))

	const reason = "daemon restarted; the process was lost"
	got, err := s.RecoverRuns(ctx, store.RunRecoverParams{Reason: reason, Now: at(10)})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(x, y arbiter.Run) int { return int(x.ID - y.ID) })
	wantEqual(t, "RecoverRuns returns the runs as they were", got, []arbiter.Run{r1, r2})

	for _, r := range []arbiter.Run{r1, r2} {
		want := r
		want.State, want.Reason, want.FinishedAt = arbiter.StateLost, reason, at(10)
		wantEqual(t, "recovered run", getRun(t, s, r.ID), want)
	}
	wantEqual(t, "queued run", getRun(t, s, queued.ID), queued)
	wantEqual(t, "finished run", getRun(t, s, done.ID), done)

	got, err = s.RecoverRuns(ctx, store.RunRecoverParams{Reason: reason, Now: at(11)})
	if err != nil || len(got) != 0 {
		t.Errorf("RecoverRuns again = %v, %v; want nothing", got, err)
	}

	lost := map[int64]arbiter.Event{}
	for _, e := range allEvents(t, s) {
		if e.Kind == "run.lost" {
			lost[e.RunID] = e
		}
	}
	if len(lost) != 2 {
		t.Errorf("run.lost events = %+v, want one for each of runs %d and %d", lost, r1.ID, r2.ID)
	}
	for _, r := range []arbiter.Run{r1, r2} {
		e, ok := lost[r.ID]
		if !ok || e.Job != r.Job || e.Actor != "daemon" || !e.At.Equal(at(10)) || !strings.Contains(e.Detail, reason) {
			t.Errorf("run.lost event of run %d = %+v, want one by daemon at %s saying why", r.ID, e, at(10))
		}
	}
}

// testTimesRoundTrip checks that every stored instant comes back exactly, to the nanosecond, in
// UTC, whatever zone it went in with.
func testTimesRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	india := time.FixedZone("IST", 5*3600+1800)
	times := []time.Time{
		time.Date(2031, 7, 4, 23, 59, 59, 999999999, india),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), // before the epoch
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),      // near the end of int64 nanoseconds
		time.Date(2025, 10, 26, 2, 30, 0, 123, time.FixedZone("", -(9*3600+1800))),
	}
	for i, tm := range times {
		utc := tm.UTC()
		job := newJob(sanitize("t" + string(rune('a'+i))))
		j, err := s.CreateJob(ctx, store.JobCreateParams{Job: job, Now: tm})
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "job CreatedAt", j.CreatedAt, utc)
		r, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: job.Name, ScheduledAt: tm,
			Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, NotBefore: tm, Now: tm})
		if err != nil {
			t.Fatal(err)
		}
		startRun(t, s, r.ID, tm)
		finishRun(t, s, r.ID, arbiter.StateSucceeded, tm)
		if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: r.ID, Seq: 1, Data: []byte("x"), Now: tm}); err != nil {
			t.Fatal(err)
		}
		missed, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: job.Name, ScheduledAt: tm.Add(-time.Hour),
			Trigger: arbiter.TriggerSchedule, State: arbiter.StateMissed, MissedCount: 2, MissedUntil: tm, Now: tm})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := s.InsertRun(ctx, store.RunInsertParams{Job: job.Name, Trigger: arbiter.TriggerRetry, Attempt: 2,
			RetryOf: r.ID, NotBefore: tm, Now: tm})
		if err != nil {
			t.Fatal(err)
		}

		got := getRun(t, s, r.ID)
		for name, v := range map[string]time.Time{"ScheduledAt": got.ScheduledAt, "CreatedAt": got.CreatedAt,
			"StartedAt": got.StartedAt, "FinishedAt": got.FinishedAt, "NotBefore": got.NotBefore,
			"MissedUntil of the missed record": getRun(t, s, missed.ID).MissedUntil,
			"NotBefore of the retry":           getRun(t, s, retry.ID).NotBefore,
			"ScheduledAt of the retry":         getRun(t, s, retry.ID).ScheduledAt} {
			wantEqual(t, name+" of "+tm.String(), v, utc)
		}
		last, err := s.LastFires(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "LastFires of "+tm.String(), last[job.Name], utc)
		j, err = s.GetJob(ctx, job.Name)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "job UpdatedAt", j.UpdatedAt, utc)
		chunks, err := s.ReadOutput(ctx, store.OutputReadParams{RunID: r.ID})
		if err != nil || len(chunks) != 1 {
			t.Fatalf("ReadOutput = %v, %v", chunks, err)
		}
		wantEqual(t, "chunk At", chunks[0].At, utc)
	}
	for _, e := range allEvents(t, s) {
		if e.At.Location() != time.UTC {
			t.Errorf("event %d At %s is not UTC", e.ID, e.At)
		}
	}
}
