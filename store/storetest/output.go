package storetest

import (
	"strings"
	"testing"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

func appendChunks(t *testing.T, s store.Store, runID int64, chunks ...string) (total int64) {
	t.Helper()
	for i, c := range chunks {
		err := s.AppendOutput(t.Context(), store.OutputAppendParams{RunID: runID, Seq: int64(i + 1), Data: []byte(c), Now: at(i)})
		if err != nil {
			t.Fatalf("AppendOutput seq %d: %v", i+1, err)
		}
		total += int64(len(c))
	}
	return total
}

func readOutput(t *testing.T, s store.Store, p store.OutputReadParams) []arbiter.OutputChunk {
	t.Helper()
	chunks, err := s.ReadOutput(t.Context(), p)
	if err != nil {
		t.Fatalf("ReadOutput(%+v): %v", p, err)
	}
	return chunks
}

func testOutputAppendRead(t *testing.T, s store.Store) {
	createJob(t, s, newJob("backup"))
	run := insertFire(t, s, "backup", at(1))
	data := []string{"line 1\n", "\x00\xff\xfe binary, not UTF-8\n", "ünïcødé ✓\n", "", "last\n"}
	total := appendChunks(t, s, run.ID, data...)

	chunks := readOutput(t, s, store.OutputReadParams{RunID: run.ID})
	if len(chunks) != len(data) {
		t.Fatalf("ReadOutput = %d chunks, want %d", len(chunks), len(data))
	}
	for i, c := range chunks {
		if c.RunID != run.ID || c.Seq != int64(i+1) || string(c.Data) != data[i] || !c.At.Equal(at(i)) {
			t.Errorf("chunk %d = {run %d seq %d %q at %s}, want {run %d seq %d %q at %s}",
				i, c.RunID, c.Seq, c.Data, c.At, run.ID, i+1, data[i], at(i))
		}
	}
	if got := getRun(t, s, run.ID); got.OutputBytes != total || got.OutputDropped != 0 {
		t.Errorf("OutputBytes, OutputDropped = %d, %d; want %d, 0", got.OutputBytes, got.OutputDropped, total)
	}

	page := readOutput(t, s, store.OutputReadParams{RunID: run.ID, AfterSeq: 2, Limit: 2})
	if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Errorf("ReadOutput after 2, limit 2 = %+v; want seqs 3 and 4", page)
	}
	if rest := readOutput(t, s, store.OutputReadParams{RunID: run.ID, AfterSeq: 5}); len(rest) != 0 {
		t.Errorf("ReadOutput after the last seq = %+v; want nothing", rest)
	}

	// Runs do not see each other's output.
	other := insertFire(t, s, "backup", at(2))
	if got := readOutput(t, s, store.OutputReadParams{RunID: other.ID}); len(got) != 0 {
		t.Errorf("ReadOutput of a run without output = %+v", got)
	}
}

func testOutputDrop(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	run := insertFire(t, s, "backup", at(1))
	total := appendChunks(t, s, run.ID, "head\n", "middle 1\n", "middle 2\n", "tail\n")

	dropped := int64(len("middle 1\n") + len("middle 2\n"))
	if err := s.DropOutput(ctx, store.OutputDropParams{RunID: run.ID, FromSeq: 2, ThroughSeq: 3, Bytes: dropped}); err != nil {
		t.Fatal(err)
	}
	// Output keeps arriving after a drop; the gap in the seqs marks the cut.
	if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 5, Data: []byte("more\n"), Now: at(9)}); err != nil {
		t.Fatal(err)
	}
	total += int64(len("more\n"))

	var seqs []int64
	var text strings.Builder
	for _, c := range readOutput(t, s, store.OutputReadParams{RunID: run.ID}) {
		seqs = append(seqs, c.Seq)
		text.Write(c.Data)
	}
	wantEqual(t, "seqs after the drop", seqs, []int64{1, 4, 5})
	wantEqual(t, "output after the drop", text.String(), "head\ntail\nmore\n")
	// OutputBytes counts everything the run wrote; OutputDropped what is gone.
	if got := getRun(t, s, run.ID); got.OutputBytes != total || got.OutputDropped != dropped {
		t.Errorf("OutputBytes, OutputDropped = %d, %d; want %d, %d", got.OutputBytes, got.OutputDropped, total, dropped)
	}

	// Drops add up.
	if err := s.DropOutput(ctx, store.OutputDropParams{RunID: run.ID, FromSeq: 4, ThroughSeq: 4, Bytes: 5}); err != nil {
		t.Fatal(err)
	}
	if got := getRun(t, s, run.ID); got.OutputDropped != dropped+5 {
		t.Errorf("OutputDropped = %d, want %d", got.OutputDropped, dropped+5)
	}

	// Bytes dropped without ever being appended (a skipped seq) still count as written.
	if err := s.DropOutput(ctx, store.OutputDropParams{RunID: run.ID, FromSeq: 6, ThroughSeq: 6, Bytes: 7}); err != nil {
		t.Fatal(err)
	}
	if got := getRun(t, s, run.ID); got.OutputBytes != total+7 || got.OutputDropped != dropped+5+7 {
		t.Errorf("OutputBytes, OutputDropped = %d, %d; want %d, %d", got.OutputBytes, got.OutputDropped, total+7, dropped+5+7)
	}

	// A byte count below what the range holds is refused and changes nothing.
	err := s.DropOutput(ctx, store.OutputDropParams{RunID: run.ID, FromSeq: 5, ThroughSeq: 5, Bytes: 1})
	wantErr(t, "DropOutput with too few bytes", err, arbiter.ErrInvalid)
	if got := readOutput(t, s, store.OutputReadParams{RunID: run.ID, AfterSeq: 4}); len(got) != 1 || string(got[0].Data) != "more\n" {
		t.Errorf("output after a refused drop = %+v", got)
	}
}

func testOutputErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	run := insertFire(t, s, "backup", at(1))
	total := appendChunks(t, s, run.ID, "one\n")

	err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID, Seq: 1, Data: []byte("again\n"), Now: at(2)})
	wantErr(t, "AppendOutput of a stored seq", err, arbiter.ErrConflict)
	if got := getRun(t, s, run.ID); got.OutputBytes != total {
		t.Errorf("OutputBytes after the duplicate = %d, want %d", got.OutputBytes, total)
	}
	if chunks := readOutput(t, s, store.OutputReadParams{RunID: run.ID}); len(chunks) != 1 || string(chunks[0].Data) != "one\n" {
		t.Errorf("output after the duplicate = %+v", chunks)
	}

	err = s.AppendOutput(ctx, store.OutputAppendParams{RunID: run.ID + 1000, Seq: 1, Data: []byte("x"), Now: at(2)})
	wantErr(t, "AppendOutput to an unknown run", err, arbiter.ErrNotFound)
	err = s.DropOutput(ctx, store.OutputDropParams{RunID: run.ID + 1000, FromSeq: 1, ThroughSeq: 1, Bytes: 1})
	wantErr(t, "DropOutput of an unknown run", err, arbiter.ErrNotFound)
}

func testEventsOfOps(t *testing.T, s store.Store) {
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	type ev struct {
		Kind, Job string
		Run       bool // the event names a run
		Actor     string
		At        int // minutes after base
	}
	var want []ev

	job := newJob("backup")
	createJob(t, s, job) // at base, by uid:1000
	want = append(want, ev{"job.created", "backup", false, "uid:1000", 0})
	job.Schedule = "@hourly"
	_, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: job, Now: at(1), Actor: "uid:1000"})
	must(err)
	want = append(want, ev{"job.updated", "backup", false, "uid:1000", 1})
	_, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "backup", Paused: true, Now: at(2), Actor: "uid:1001"})
	must(err)
	want = append(want, ev{"job.paused", "backup", false, "uid:1001", 2})
	_, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "backup", Paused: false, Now: at(3)})
	must(err)
	want = append(want, ev{"job.resumed", "backup", false, "daemon", 3})

	fire, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: at(4), Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at(4)})
	must(err)
	want = append(want, ev{"run.queued", "backup", true, "daemon", 4})
	_, _, err = s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: at(4), Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at(4)})
	must(err) // the same fire: no event
	const skipReason = "previous run still running"
	_, _, err = s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: at(5), Trigger: arbiter.TriggerSchedule, State: arbiter.StateSkipped, Reason: skipReason, Now: at(5)})
	must(err)
	want = append(want, ev{"run.skipped", "backup", true, "daemon", 5})
	manual, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: at(6), Now: at(6), Actor: "uid:1000"})
	must(err)
	want = append(want, ev{"run.queued", "backup", true, "uid:1000", 6})
	startRun(t, s, fire.ID, at(7))
	want = append(want, ev{"run.running", "backup", true, "daemon", 7})
	must(s.AppendOutput(ctx, store.OutputAppendParams{RunID: fire.ID, Seq: 1, Data: []byte("x"), Now: at(7)})) // no event
	must(s.DropOutput(ctx, store.OutputDropParams{RunID: fire.ID, FromSeq: 1, ThroughSeq: 1, Bytes: 1}))       // no event
	_, err = s.FinishRun(ctx, store.RunFinishParams{ID: fire.ID, State: arbiter.StateSucceeded, ExitCode: intp(0), Now: at(8)})
	must(err)
	want = append(want, ev{"run.succeeded", "backup", true, "daemon", 8})
	_, err = s.FinishRun(ctx, store.RunFinishParams{ID: manual.ID, State: arbiter.StateCancelled, Reason: "cancelled", Now: at(9), Actor: "uid:1000"})
	must(err)
	want = append(want, ev{"run.cancelled", "backup", true, "uid:1000", 9})

	// Failed operations leave no trace.
	_, err = s.CreateJob(ctx, store.JobCreateParams{Job: job, Now: at(10), Actor: "uid:1000"})
	wantErr(t, "CreateJob duplicate", err, arbiter.ErrConflict)
	_, err = s.StartRun(ctx, store.RunStartParams{ID: fire.ID, Now: at(10)})
	wantErr(t, "StartRun of a finished run", err, arbiter.ErrConflict)

	must(s.DeleteJob(ctx, store.JobDeleteParams{Name: "backup", Now: at(11), Actor: "uid:0"}))
	want = append(want, ev{"job.deleted", "backup", false, "uid:0", 11})

	events := allEvents(t, s)
	var got []ev
	for i, e := range events {
		got = append(got, ev{e.Kind, e.Job, e.RunID != 0, e.Actor, int(e.At.Sub(base).Minutes())})
		if !e.At.Equal(at(got[i].At)) {
			t.Errorf("event %d at %s, not a whole minute of the test clock", i, e.At)
		}
		if i > 0 && e.ID <= events[i-1].ID {
			t.Errorf("event ids %d, %d do not grow", events[i-1].ID, e.ID)
		}
	}
	wantEqual(t, "events", got, want)
	for _, e := range events {
		switch e.Kind {
		case "run.queued", "run.running", "run.succeeded":
			if e.RunID != fire.ID && e.RunID != manual.ID {
				t.Errorf("%s event names run %d, want %d or %d", e.Kind, e.RunID, fire.ID, manual.ID)
			}
		case "run.skipped":
			if !strings.Contains(e.Detail, skipReason) {
				t.Errorf("run.skipped detail %q does not give the reason %q", e.Detail, skipReason)
			}
		}
	}
}

func testEventsPages(t *testing.T, s store.Store) {
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		createJob(t, s, newJob(name))
	}
	all := allEvents(t, s)
	if len(all) != 5 {
		t.Fatalf("%d events, want 5", len(all))
	}
	page, err := s.ListEvents(t.Context(), store.EventListParams{AfterID: all[1].ID, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "events after the second, limit 2", page, all[2:4])
	page, err = s.ListEvents(t.Context(), store.EventListParams{AfterID: all[4].ID})
	if err != nil || len(page) != 0 {
		t.Errorf("events after the last = %+v, %v; want none", page, err)
	}
	page, err = s.ListEvents(t.Context(), store.EventListParams{Latest: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "the latest 2 events", page, all[3:5])
	page, err = s.ListEvents(t.Context(), store.EventListParams{AfterID: all[2].ID, Latest: true, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "the latest 10 events after the third", page, all[3:5])
}

func testCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Jobs != 0 || c.Paused != 0 {
		t.Errorf("Counts of an empty store = %+v", c)
	}
	for state, n := range c.Runs {
		if n != 0 {
			t.Errorf("empty store counts %d %s runs", n, state)
		}
	}

	runs := listFixture(t, s) // jobs a, b; 2 queued, 2 running, 2 succeeded
	createJob(t, s, newJob("c"))
	if _, err := s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "c", Paused: true, Now: at(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "c", ScheduledAt: at(1), Trigger: arbiter.TriggerSchedule,
		State: arbiter.StateSkipped, Reason: "paused", Now: at(1)}); err != nil {
		t.Fatal(err)
	}
	want := map[arbiter.RunState]int{}
	for _, r := range runs {
		want[r.State]++
	}
	want[arbiter.StateSkipped]++

	c, err = s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Jobs != 3 || c.Paused != 1 {
		t.Errorf("Counts jobs, paused = %d, %d; want 3, 1", c.Jobs, c.Paused)
	}
	for _, state := range arbiter.RunStates {
		if c.Runs[state] != want[state] {
			t.Errorf("Counts.Runs[%s] = %d, want %d", state, c.Runs[state], want[state])
		}
	}
}

func testEventsByJob(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("a"))
	createJob(t, s, newJob("b"))
	createJob(t, s, newJob("a.b")) // a name that "a" is a prefix of
	fa := insertFire(t, s, "a", at(1))
	if _, err := s.InsertRun(ctx, store.RunInsertParams{Job: "b", Trigger: arbiter.TriggerManual, Now: at(2), Actor: "uid:1000"}); err != nil {
		t.Fatal(err)
	}
	startRun(t, s, fa.ID, at(3))
	insertFire(t, s, "a.b", at(3))
	finishRun(t, s, fa.ID, arbiter.StateSucceeded, at(4))
	if err := s.DeleteJob(ctx, store.JobDeleteParams{Name: "b", Now: at(5), Actor: "uid:1000"}); err != nil {
		t.Fatal(err)
	}

	all := allEvents(t, s)
	of := func(job string) []arbiter.Event {
		var out []arbiter.Event
		for _, e := range all {
			if e.Job == job {
				out = append(out, e)
			}
		}
		return out
	}
	list := func(p store.EventListParams) []arbiter.Event {
		t.Helper()
		events, err := s.ListEvents(ctx, p)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", p, err)
		}
		if len(events) == 0 {
			return nil
		}
		return events
	}
	a := of("a")
	if len(a) != 4 { // created, queued, running, succeeded
		t.Fatalf("job a has %d events, want 4: %+v", len(a), a)
	}
	wantEqual(t, "events of a", list(store.EventListParams{Job: "a"}), a)
	// A deleted job's events stay.
	wantEqual(t, "events of the deleted b", list(store.EventListParams{Job: "b"}), of("b"))
	wantEqual(t, "events of a after its first, limit 2", list(store.EventListParams{Job: "a", AfterID: a[0].ID, Limit: 2}), a[1:3])
	wantEqual(t, "events of a after its last", list(store.EventListParams{Job: "a", AfterID: a[3].ID}), []arbiter.Event(nil))
	wantEqual(t, "events of an unknown job", list(store.EventListParams{Job: "zzz"}), []arbiter.Event(nil))
	wantEqual(t, "events of every job", list(store.EventListParams{}), all)
}
