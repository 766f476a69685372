package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// The tests of what catch-up, retries and jitter need from a store: the run fields they set,
// retry chains, missed records and LastFires.

// testRunPolicyFields checks that NotBefore, Jitter, RetryOf, MissedCount and MissedUntil come
// back from every operation that returns runs, and survive the state changes.
func testRunPolicyFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))

	fp := store.FireInsertParams{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued,
		NotBefore: at(5).Add(7*time.Second + 3), Jitter: 7*time.Second + 3, Now: at(5)}
	fire, inserted, err := s.InsertFire(ctx, fp)
	if err != nil || !inserted {
		t.Fatalf("InsertFire = inserted %v, %v", inserted, err)
	}
	wantFire := arbiter.Run{ID: fire.ID, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: at(5), Attempt: 1,
		State: arbiter.StateQueued, CreatedAt: at(5), NotBefore: fp.NotBefore, Jitter: fp.Jitter}
	wantEqual(t, "InsertFire with jitter", fire, wantFire)

	mp := store.FireInsertParams{Job: "backup", ScheduledAt: at(-30), Trigger: arbiter.TriggerSchedule, State: arbiter.StateMissed,
		Reason: "5 fires missed while the daemon was down", MissedCount: 5, MissedUntil: at(-10).Add(1), Now: at(4)}
	missed, inserted, err := s.InsertFire(ctx, mp)
	if err != nil || !inserted {
		t.Fatalf("InsertFire of a missed record = inserted %v, %v", inserted, err)
	}
	wantMissed := arbiter.Run{ID: missed.ID, Job: "backup", Trigger: arbiter.TriggerSchedule, ScheduledAt: at(-30), Attempt: 1,
		State: arbiter.StateMissed, Reason: mp.Reason, CreatedAt: at(4), FinishedAt: at(4), MissedCount: 5, MissedUntil: mp.MissedUntil}
	wantEqual(t, "InsertFire of a missed record", missed, wantMissed)

	// The existing fire comes back whole when it is inserted again.
	again, inserted, err := s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: at(-30),
		Trigger: arbiter.TriggerCatchup, State: arbiter.StateQueued, Now: at(6)})
	if err != nil || inserted {
		t.Errorf("InsertFire of the missed fire again = inserted %v, %v; want the record", inserted, err)
	}
	wantEqual(t, "InsertFire again", again, wantMissed)

	startRun(t, s, fire.ID, at(6))
	wantFire = finishRun(t, s, fire.ID, arbiter.StateFailed, at(7))
	if wantFire.NotBefore != fp.NotBefore || wantFire.Jitter != fp.Jitter {
		t.Errorf("the fire after start and finish = %+v; want NotBefore %s and Jitter %s kept", wantFire, fp.NotBefore, fp.Jitter)
	}

	rp := store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5), Attempt: 2,
		RetryOf: fire.ID, NotBefore: at(7).Add(10 * time.Second), Now: at(7)}
	retry, err := s.InsertRun(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	wantRetry := arbiter.Run{ID: retry.ID, Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5), Attempt: 2,
		State: arbiter.StateQueued, CreatedAt: at(7), RetryOf: fire.ID, NotBefore: rp.NotBefore}
	wantEqual(t, "InsertRun of a retry", retry, wantRetry)

	for _, want := range []arbiter.Run{wantFire, wantMissed, wantRetry} {
		wantEqual(t, "GetRun", getRun(t, s, want.ID), want)
	}
	runs, err := s.ListRuns(ctx, store.RunListParams{Job: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "ListRuns", runs, []arbiter.Run{wantRetry, wantMissed, wantFire})
	latest, err := s.LatestRuns(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "LatestRuns", latest, map[string]arbiter.Run{"backup": wantRetry})

	running := startRun(t, s, retry.ID, at(8))
	wantRetry.State, wantRetry.StartedAt, wantRetry.PID, wantRetry.Worker = arbiter.StateRunning, at(8), 4242, "node-1"
	wantEqual(t, "StartRun of the retry", running, wantRetry)
	recovered, err := s.RecoverRuns(ctx, store.RunRecoverParams{Reason: "daemon restarted", Now: at(9)})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "RecoverRuns", recovered, []arbiter.Run{wantRetry})
	wantRetry.State, wantRetry.Reason, wantRetry.FinishedAt = arbiter.StateLost, "daemon restarted", at(9)
	wantEqual(t, "GetRun of the lost retry", getRun(t, s, retry.ID), wantRetry)
}

func testRetryChain(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	first := insertFire(t, s, "backup", at(5))
	startRun(t, s, first.ID, at(5))
	first = finishRun(t, s, first.ID, arbiter.StateFailed, at(6))

	second, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5),
		Attempt: 2, RetryOf: first.ID, NotBefore: at(6).Add(10 * time.Second), Now: at(6), Actor: "daemon"})
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, s, second.ID, at(7))
	second = finishRun(t, s, second.ID, arbiter.StateTimedOut, at(8))

	// Attempt 3 names the first attempt too, not attempt 2. Without a ScheduledAt it keeps the
	// first attempt's: a retry stands for the same fire.
	third, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry,
		Attempt: 3, RetryOf: first.ID, NotBefore: at(8).Add(20 * time.Second), Now: at(8)})
	if err != nil {
		t.Fatal(err)
	}
	want := arbiter.Run{ID: third.ID, Job: "backup", Trigger: arbiter.TriggerRetry, ScheduledAt: at(5), Attempt: 3,
		State: arbiter.StateQueued, CreatedAt: at(8), RetryOf: first.ID, NotBefore: at(8).Add(20 * time.Second)}
	wantEqual(t, "attempt 3", third, want)

	runs, err := s.ListRuns(ctx, store.RunListParams{Job: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "the chain, newest first", runs, []arbiter.Run{third, second, first})
	for _, r := range runs {
		wantRetryOf, wantTrigger := first.ID, arbiter.TriggerRetry
		if r.ID == first.ID {
			wantRetryOf, wantTrigger = 0, arbiter.TriggerSchedule
		}
		if r.RetryOf != wantRetryOf || r.Trigger != wantTrigger || !r.ScheduledAt.Equal(at(5)) {
			t.Errorf("attempt %d: RetryOf %d, trigger %s, scheduled %s; want %d, %s, %s",
				r.Attempt, r.RetryOf, r.Trigger, r.ScheduledAt, wantRetryOf, wantTrigger, at(5))
		}
	}

	// Each attempt of a chain exists once: deciding a retry twice does not run it twice.
	events := len(allEvents(t, s))
	_, err = s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry,
		Attempt: 3, RetryOf: first.ID, Now: at(9)})
	wantErr(t, "attempt 3 again", err, arbiter.ErrConflict)
	if runs, err := s.ListRuns(ctx, store.RunListParams{Job: "backup"}); err != nil || len(runs) != 3 {
		t.Errorf("ListRuns after the duplicate attempt = %d runs, %v; want 3", len(runs), err)
	}
	if n := len(allEvents(t, s)); n != events {
		t.Errorf("the refused attempt wrote %d events", n-events)
	}
	// Another fire's chain has its own attempt numbers.
	other := insertFire(t, s, "backup", at(10))
	if _, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry,
		Attempt: 3, RetryOf: other.ID, Now: at(11)}); err != nil {
		t.Errorf("attempt 3 of another fire: %v", err)
	}
}

func testInsertRunInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	createJob(t, s, newJob("other"))
	fire := insertFire(t, s, "backup", at(1))
	otherFire := insertFire(t, s, "other", at(1))
	retry, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry,
		Attempt: 2, RetryOf: fire.ID, Now: at(2)})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.ListRuns(ctx, store.RunListParams{})
	if err != nil {
		t.Fatal(err)
	}
	events := len(allEvents(t, s))

	tests := []struct {
		name string
		p    store.RunInsertParams
		want error
	}{
		{"retry without RetryOf", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 2}, arbiter.ErrInvalid},
		{"retry with a negative RetryOf", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 2, RetryOf: -fire.ID}, arbiter.ErrInvalid},
		{"retry as attempt 0", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, RetryOf: fire.ID}, arbiter.ErrInvalid},
		{"retry as attempt 1", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 1, RetryOf: fire.ID}, arbiter.ErrInvalid},
		{"retry of an unknown run", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 2, RetryOf: 1 << 40}, arbiter.ErrNotFound},
		{"retry of another job's run", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 2, RetryOf: otherFire.ID}, arbiter.ErrInvalid},
		{"retry naming a retry", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerRetry, Attempt: 3, RetryOf: retry.ID}, arbiter.ErrInvalid},
		{"retry of an unknown job", store.RunInsertParams{Job: "nope", Trigger: arbiter.TriggerRetry, Attempt: 2, RetryOf: fire.ID}, arbiter.ErrNotFound},
		{"manual with RetryOf", store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, RetryOf: fire.ID}, arbiter.ErrInvalid},
		{"empty trigger", store.RunInsertParams{Job: "backup"}, arbiter.ErrInvalid},
	}
	for _, tt := range tests {
		tt.p.Now = at(3)
		_, err := s.InsertRun(ctx, tt.p)
		wantErr(t, tt.name, err, tt.want)
	}

	after, err := s.ListRuns(ctx, store.RunListParams{})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "runs after the refused inserts", after, before)
	if n := len(allEvents(t, s)); n != events {
		t.Errorf("refused inserts wrote %d events", n-events)
	}
}

func testLastFires(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.LastFires(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("LastFires of an empty store = %v, %v; want nothing", got, err)
	}

	for _, name := range []string{"a", "b", "c", "d", "e", "gone"} {
		createJob(t, s, newJob(name))
	}
	fire := func(job string, scheduled time.Time, trigger arbiter.Trigger, state arbiter.RunState, count int, until time.Time) arbiter.Run {
		t.Helper()
		r, inserted, err := s.InsertFire(ctx, store.FireInsertParams{Job: job, ScheduledAt: scheduled, Trigger: trigger,
			State: state, Reason: "test", MissedCount: count, MissedUntil: until, Now: at(60)})
		if err != nil || !inserted {
			t.Fatalf("InsertFire(%s, %s) = inserted %v, %v", job, scheduled, inserted, err)
		}
		return r
	}
	never := time.Time{}

	// a: its latest fire is a catch-up run; manual runs and retries, however late their
	// ScheduledAt, are no fires.
	a1 := fire("a", at(1), arbiter.TriggerSchedule, arbiter.StateQueued, 0, never)
	finishRun(t, s, startRun(t, s, a1.ID, at(1)).ID, arbiter.StateFailed, at(2))
	fire("a", at(7), arbiter.TriggerCatchup, arbiter.StateQueued, 0, never)
	if _, err := s.InsertRun(ctx, store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerManual, ScheduledAt: at(30), Now: at(30)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertRun(ctx, store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerRetry, ScheduledAt: at(40),
		Attempt: 2, RetryOf: a1.ID, Now: at(40)}); err != nil {
		t.Fatal(err)
	}
	// b: a missed record ends after every other fire, though it starts before some of them.
	fire("b", at(10), arbiter.TriggerSchedule, arbiter.StateQueued, 0, never)
	fire("b", at(2), arbiter.TriggerSchedule, arbiter.StateMissed, 3, at(20).Add(time.Nanosecond))
	// c: only manual runs.
	if _, err := s.InsertRun(ctx, store.RunInsertParams{Job: "c", Trigger: arbiter.TriggerManual, Now: at(5)}); err != nil {
		t.Fatal(err)
	}
	// d: a skipped fire is accounted for too.
	fire("d", at(3), arbiter.TriggerSchedule, arbiter.StateSkipped, 0, never)
	// e: a missed record that is not the latest.
	fire("e", at(4), arbiter.TriggerSchedule, arbiter.StateMissed, 1, at(4))
	fire("e", at(50), arbiter.TriggerSchedule, arbiter.StateQueued, 0, never)
	// gone: deleted jobs have nothing to catch up.
	fire("gone", at(100), arbiter.TriggerSchedule, arbiter.StateQueued, 0, never)
	if err := s.DeleteJob(ctx, store.JobDeleteParams{Name: "gone", Now: at(100)}); err != nil {
		t.Fatal(err)
	}

	got, err = s.LastFires(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "LastFires", got, map[string]time.Time{
		"a": at(7),
		"b": at(20).Add(time.Nanosecond),
		"d": at(3),
		"e": at(50),
	})
}

// runsFixture creates jobs a and b with fires, manual runs, retries and a missed record at
// various fire times and returns all runs newest first.
func runsFixture(t *testing.T, s store.Store) []arbiter.Run {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	createJob(t, s, newJob("b"))
	a0 := insertFire(t, s, "a", at(0))
	finishRun(t, s, startRun(t, s, insertFire(t, s, "b", at(10)).ID, at(10)).ID, arbiter.StateSucceeded, at(11))
	startRun(t, s, insertFire(t, s, "a", at(10)).ID, at(10))
	insertFire(t, s, "b", at(15))
	mustRun := func(p store.RunInsertParams) arbiter.Run {
		t.Helper()
		r, err := s.InsertRun(ctx, p)
		if err != nil {
			t.Fatalf("InsertRun(%+v): %v", p, err)
		}
		return r
	}
	mustRun(store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerManual, ScheduledAt: at(10), Now: at(10)})
	finishRun(t, s, a0.ID, arbiter.StateFailed, at(12))
	mustRun(store.RunInsertParams{Job: "a", Trigger: arbiter.TriggerRetry, ScheduledAt: at(0), Attempt: 2, RetryOf: a0.ID, Now: at(12)})
	if _, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "a", ScheduledAt: at(20), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateSkipped, Reason: "busy", Now: at(20)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "b", ScheduledAt: at(30), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateMissed, Reason: "missed", MissedCount: 2, MissedUntil: at(35), Now: at(40)}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListRuns(ctx, store.RunListParams{Limit: 1000})
	if err != nil || len(all) != 8 {
		t.Fatalf("ListRuns = %d runs, %v; want 8", len(all), err)
	}
	return all
}

func testListRunsScheduledRange(t *testing.T, s store.Store) {
	runs := runsFixture(t, s)
	pick := func(keep func(arbiter.Run) bool) []arbiter.Run {
		var out []arbiter.Run
		for _, r := range runs {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	in := func(r arbiter.Run, from, to time.Time) bool {
		return !r.ScheduledAt.Before(from) && !r.ScheduledAt.After(to)
	}
	india := time.FixedZone("IST", 5*3600+1800)
	active := []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
	tests := []struct {
		name string
		p    store.RunListParams
		want []arbiter.Run
	}{
		{"from, inclusive", store.RunListParams{ScheduledFrom: at(10)},
			pick(func(r arbiter.Run) bool { return !r.ScheduledAt.Before(at(10)) })},
		{"to, inclusive", store.RunListParams{ScheduledTo: at(10)},
			pick(func(r arbiter.Run) bool { return !r.ScheduledAt.After(at(10)) })},
		{"one instant", store.RunListParams{ScheduledFrom: at(10), ScheduledTo: at(10)},
			pick(func(r arbiter.Run) bool { return r.ScheduledAt.Equal(at(10)) })},
		{"between instants", store.RunListParams{ScheduledFrom: at(10).Add(1), ScheduledTo: at(20).Add(-1)},
			pick(func(r arbiter.Run) bool { return r.ScheduledAt.Equal(at(15)) })},
		{"from after to", store.RunListParams{ScheduledFrom: at(20), ScheduledTo: at(10)}, nil},
		{"another zone", store.RunListParams{ScheduledFrom: at(10).In(india), ScheduledTo: at(15).In(india)},
			pick(func(r arbiter.Run) bool { return in(r, at(10), at(15)) })},
		// A missed record is found by its first fire, ScheduledAt, not by its range.
		{"inside a missed range", store.RunListParams{ScheduledFrom: at(31), ScheduledTo: at(40)}, nil},
		{"job and from", store.RunListParams{Job: "a", ScheduledFrom: at(10)},
			pick(func(r arbiter.Run) bool { return r.Job == "a" && !r.ScheduledAt.Before(at(10)) })},
		{"job and range", store.RunListParams{Job: "b", ScheduledFrom: at(10), ScheduledTo: at(30)},
			pick(func(r arbiter.Run) bool { return r.Job == "b" && in(r, at(10), at(30)) })},
		{"states and to", store.RunListParams{States: active, ScheduledTo: at(10)},
			pick(func(r arbiter.Run) bool { return r.State.Active() && !r.ScheduledAt.After(at(10)) })},
		{"job, states and range", store.RunListParams{Job: "a", States: active, ScheduledFrom: at(0), ScheduledTo: at(10)},
			pick(func(r arbiter.Run) bool { return r.Job == "a" && r.State.Active() && in(r, at(0), at(10)) })},
		{"job, terminal states and range", store.RunListParams{Job: "b",
			States: []arbiter.RunState{arbiter.StateSucceeded, arbiter.StateMissed}, ScheduledFrom: at(0), ScheduledTo: at(40)},
			pick(func(r arbiter.Run) bool {
				return r.Job == "b" && (r.State == arbiter.StateSucceeded || r.State == arbiter.StateMissed)
			})},
		{"range and limit", store.RunListParams{ScheduledFrom: at(0), ScheduledTo: at(10), Limit: 2},
			pick(func(r arbiter.Run) bool { return in(r, at(0), at(10)) })[:2]},
		{"range and before", store.RunListParams{ScheduledTo: at(10), BeforeID: runs[2].ID},
			pick(func(r arbiter.Run) bool { return r.ID < runs[2].ID && !r.ScheduledAt.After(at(10)) })},
	}
	for _, tt := range tests {
		got, err := s.ListRuns(t.Context(), tt.p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(tt.want) == len(runs) {
			t.Errorf("%s: the case filters nothing out; fix the fixture", tt.name)
		}
		if len(got) == 0 {
			got = nil // a store may return an empty slice
		}
		wantEqual(t, tt.name, got, tt.want)
	}
	if !slices.ContainsFunc(runs, func(r arbiter.Run) bool { return r.Trigger == arbiter.TriggerRetry }) {
		t.Error("the fixture has no retry")
	}
}
