package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

func testCreateGetJob(t *testing.T, s store.Store) {
	j := newJob("backup")
	j.CreatedAt, j.UpdatedAt = at(-60), at(-60) // the store's clock (Now) wins
	got := createJob(t, s, j)

	want := j
	want.CreatedAt, want.UpdatedAt = base, base
	wantJob(t, "CreateJob", got, want)

	got, err := s.GetJob(t.Context(), "backup")
	if err != nil {
		t.Fatal(err)
	}
	wantJob(t, "GetJob", got, want)
}

func testCreateDuplicateJob(t *testing.T, s store.Store) {
	first := createJob(t, s, newJob("backup"))
	other := newJob("backup")
	other.Schedule = "@daily"
	_, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: other, Now: at(1), Actor: "uid:1000"})
	wantErr(t, "CreateJob of a taken name", err, arbiter.ErrConflict)

	got, err := s.GetJob(t.Context(), "backup")
	if err != nil {
		t.Fatal(err)
	}
	wantJob(t, "job after the failed create", got, first)
}

func testJobRoundTrip(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		edit func(j *arbiter.Job)
	}{
		{"command", func(j *arbiter.Job) {}},
		{"shell", func(j *arbiter.Job) {
			j.Command, j.Shell = nil, `printf '%s\n' "$GREETING" | tr a-z A-Z && exit 3`
		}},
		{"unicode", func(j *arbiter.Job) {
			j.Command = []string{"/usr/bin/say", "grüße, 世界 ✓", "", `"quoted" \ back\slash`, "tab\there"}
			j.Dir = "/srv/données/日本"
			j.Env = map[string]string{"NAME": "Zoë 🚀", "EMPTY": "", "JSON": `{"a":[1,2]}`}
		}},
		{"nil env", func(j *arbiter.Job) { j.Env = nil }},
		{"empty env", func(j *arbiter.Job) { j.Env = map[string]string{} }},
		{"durations", func(j *arbiter.Job) {
			j.Timeout, j.KillGrace = time.Nanosecond, 36*time.Hour+time.Nanosecond
		}},
		{"zone and source", func(j *arbiter.Job) {
			j.Timezone, j.Source = "", "/etc/arbiter/jobs/backup.toml"
		}},
		{"paused", func(j *arbiter.Job) { j.Paused = true }},
		{"catch-up and retries", func(j *arbiter.Job) {
			j.Catchup, j.Retries = arbiter.DefaultCatchup+time.Nanosecond, 3
			j.RetryDelay, j.Jitter = 1500*time.Millisecond+7, 45*time.Second+time.Nanosecond
		}},
		{"policy limits", func(j *arbiter.Job) {
			j.Catchup, j.Retries, j.RetryDelay, j.Jitter = 365*24*time.Hour, arbiter.MaxRetries, arbiter.MaxRetryDelay, 24*time.Hour
		}},
		{"catch-up off", func(j *arbiter.Job) { j.Catchup, j.Retries, j.Jitter = 0, 0, 0 }},
		{"overlap queue", func(j *arbiter.Job) { j.Overlap = arbiter.OverlapQueue }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob(sanitize(tt.name)) // the cases share one store
			tt.edit(&j)
			created := createJob(t, s, j)
			got, err := s.GetJob(t.Context(), j.Name)
			if err != nil {
				t.Fatal(err)
			}
			want := j
			want.CreatedAt, want.UpdatedAt = base, base
			wantJob(t, "CreateJob", created, want)
			wantJob(t, "GetJob", got, want)
		})
	}
}

// sanitize turns a case name into a valid job name.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

func testJobNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetJob(ctx, "nope")
	wantErr(t, "GetJob", err, arbiter.ErrNotFound)
	_, err = s.UpdateJob(ctx, store.JobUpdateParams{Job: newJob("nope"), Now: base})
	wantErr(t, "UpdateJob", err, arbiter.ErrNotFound)
	_, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "nope", Paused: true, Now: base})
	wantErr(t, "SetJobPaused", err, arbiter.ErrNotFound)
	err = s.DeleteJob(ctx, store.JobDeleteParams{Name: "nope", Now: base})
	wantErr(t, "DeleteJob", err, arbiter.ErrNotFound)
	if events := allEvents(t, s); len(events) != 0 {
		t.Errorf("failed operations wrote events: %+v", events)
	}
}

func testListJobs(t *testing.T, s store.Store) {
	jobs, err := s.ListJobs(t.Context())
	if err != nil || len(jobs) != 0 {
		t.Fatalf("ListJobs of an empty store = %v, %v", jobs, err)
	}
	for _, name := range []string{"m", "a", "z.1", "a-2", "0"} {
		createJob(t, s, newJob(name))
	}
	jobs, err = s.ListJobs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	wantEqual(t, "ListJobs names", names, []string{"0", "a", "a-2", "m", "z.1"})

	// ListJobs returns every field, as GetJob does.
	j := newJob("zz-policies")
	j.Overlap, j.Catchup, j.Retries, j.RetryDelay, j.Jitter = arbiter.OverlapAllow, 90*time.Second, 7, time.Minute+1, time.Second+2
	created := createJob(t, s, j)
	jobs, err = s.ListJobs(t.Context())
	if err != nil || len(jobs) != 6 {
		t.Fatalf("ListJobs = %d jobs, %v; want 6", len(jobs), err)
	}
	want := j
	want.CreatedAt, want.UpdatedAt = base, base
	wantJob(t, "ListJobs' last job", jobs[5], want)
	wantJob(t, "CreateJob", created, want)

	// ListJobsPage walks the same list a page at a time.
	var paged []arbiter.Job
	for after := ""; ; {
		page, err := s.ListJobsPage(t.Context(), store.JobPageParams{After: after, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 4 {
			t.Fatalf("a page of %d jobs, over the limit of 4", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].Name
	}
	wantEqual(t, "ListJobsPage, all pages", paged, jobs)

	// ListJobSchedules agrees with ListJobs on what planning needs.
	paused := newJob("p")
	paused.Schedule, paused.Timezone, paused.Paused = "0 4 * * 1", "America/New_York", true
	createJob(t, s, paused)
	if jobs, err = s.ListJobs(t.Context()); err != nil {
		t.Fatal(err)
	}
	scheds, err := s.ListJobSchedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got, fromJobs []store.JobSchedule
	got = scheds
	for _, j := range jobs {
		fromJobs = append(fromJobs, store.JobSchedule{Name: j.Name, Schedule: j.Schedule, Timezone: j.Timezone,
			Catchup: j.Catchup, Paused: j.Paused, UpdatedAt: j.UpdatedAt})
	}
	wantEqual(t, "ListJobSchedules", got, fromJobs)
	want7 := store.JobSchedule{Name: "p", Schedule: "0 4 * * 1", Timezone: "America/New_York", Paused: true, UpdatedAt: base}
	if len(got) != 7 || got[4] != want7 || got[6].Catchup != 90*time.Second {
		t.Errorf("ListJobSchedules = %+v; want 7, with %+v fifth and a 90s catch-up last", got, want7)
	}
}

func testUpdateJob(t *testing.T, s store.Store) {
	createJob(t, s, newJob("backup"))

	j := arbiter.Job{
		Name:       "backup",
		Schedule:   "0 3 * * *",
		Timezone:   "America/New_York",
		Shell:      "pg_dump app > /tmp/app.sql",
		Dir:        "/var/backups",
		Timeout:    time.Hour,
		KillGrace:  30 * time.Second,
		Overlap:    arbiter.OverlapReplace,
		Catchup:    time.Hour,
		Retries:    5,
		RetryDelay: 30 * time.Second,
		Jitter:     2 * time.Minute,
		Paused:     true,
		Source:     "jobs/backup.toml",
		CreatedAt:  at(100), // ignored: CreatedAt is kept
	}
	got, err := s.UpdateJob(t.Context(), store.JobUpdateParams{Job: j, Now: at(5), Actor: "uid:1000"})
	if err != nil {
		t.Fatal(err)
	}
	want := j
	want.CreatedAt, want.UpdatedAt = base, at(5)
	wantJob(t, "UpdateJob", got, want)
	got, err = s.GetJob(t.Context(), "backup")
	if err != nil {
		t.Fatal(err)
	}
	wantJob(t, "GetJob after update", got, want)

	// Back to zero: 0 turns catch-up, retries and jitter off; the store fills no defaults.
	j.Catchup, j.Retries, j.Jitter, j.RetryDelay = 0, 0, 0, time.Nanosecond
	if _, err := s.UpdateJob(t.Context(), store.JobUpdateParams{Job: j, Now: at(6), Actor: "uid:1000"}); err != nil {
		t.Fatal(err)
	}
	want = j
	want.CreatedAt, want.UpdatedAt = base, at(6)
	got, err = s.GetJob(t.Context(), "backup")
	if err != nil {
		t.Fatal(err)
	}
	wantJob(t, "GetJob after turning policies off", got, want)
}

func testPauseJob(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := createJob(t, s, newJob("backup"))

	got, err := s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "backup", Paused: true, Now: at(1), Actor: "uid:1000"})
	if err != nil {
		t.Fatal(err)
	}
	want := created
	want.Paused, want.UpdatedAt = true, at(1)
	wantJob(t, "pause", got, want)
	if got, err = s.GetJob(ctx, "backup"); err != nil || !got.Paused {
		t.Errorf("GetJob after pause = %+v, %v; want paused", got, err)
	}

	// Pausing again is not an error.
	if got, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "backup", Paused: true, Now: at(2)}); err != nil || !got.Paused {
		t.Errorf("pause a paused job = %+v, %v; want paused", got, err)
	}

	got, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "backup", Paused: false, Now: at(3), Actor: "uid:1000"})
	if err != nil {
		t.Fatal(err)
	}
	want.Paused, want.UpdatedAt = false, at(3)
	wantJob(t, "resume", got, want)
}

func testDeleteJobKeepsRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	fire := insertFire(t, s, "backup", at(5))
	manual, err := s.InsertRun(ctx, store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, ScheduledAt: at(6), Now: at(6)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendOutput(ctx, store.OutputAppendParams{RunID: fire.ID, Seq: 1, Data: []byte("kept"), Now: at(5)}); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteJob(ctx, store.JobDeleteParams{Name: "backup", Now: at(10), Actor: "uid:1000"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetJob(ctx, "backup")
	wantErr(t, "GetJob after delete", err, arbiter.ErrNotFound)
	err = s.DeleteJob(ctx, store.JobDeleteParams{Name: "backup", Now: at(11)})
	wantErr(t, "DeleteJob twice", err, arbiter.ErrNotFound)

	fire.OutputBytes = int64(len("kept"))
	wantEqual(t, "GetRun after delete", getRun(t, s, fire.ID), fire)
	runs, err := s.ListRuns(ctx, store.RunListParams{Job: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "ListRuns after delete", runs, []arbiter.Run{manual, fire})
	chunks, err := s.ReadOutput(ctx, store.OutputReadParams{RunID: fire.ID})
	if err != nil || len(chunks) != 1 || string(chunks[0].Data) != "kept" {
		t.Errorf("ReadOutput after delete = %+v, %v; want the chunk", chunks, err)
	}

	// The name is free again.
	createJob(t, s, newJob("backup"))
	_, inserted, err := s.InsertFire(ctx, store.FireInsertParams{Job: "backup", ScheduledAt: at(20),
		Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at(20)})
	if err != nil || !inserted {
		t.Errorf("InsertFire for the recreated job = inserted %v, %v", inserted, err)
	}
}

func testApplyJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	keep := createJob(t, s, newJob("keep"))
	gone := createJob(t, s, newJob("gone"))
	changed := keep
	changed.Schedule, changed.Source, changed.Drifted = "*/5 * * * *", "/srv/jobs/keep.toml", false

	// One failing change rolls back every other one.
	dup := newJob("gone") // its name is taken
	_, err := s.ApplyJobs(ctx, store.JobApplyParams{
		Create: []arbiter.Job{newJob("fresh"), dup}, Update: []arbiter.Job{changed}, Delete: []string{"gone"}, Now: at(5),
	})
	wantErr(t, "ApplyJobs with a taken name", err, arbiter.ErrConflict)
	if _, err := s.GetJob(ctx, "fresh"); !errors.Is(err, arbiter.ErrNotFound) {
		t.Errorf("a failed apply created a job: %v", err)
	}
	got, _ := s.GetJob(ctx, "keep")
	wantJob(t, "job after a failed apply", got, keep)
	_, err = s.ApplyJobs(ctx, store.JobApplyParams{Delete: []string{"nope"}, Now: at(5)})
	wantErr(t, "ApplyJobs deleting a missing job", err, arbiter.ErrNotFound)

	fresh := newJob("fresh")
	fresh.Source = "/srv/jobs/fresh.toml"
	jobs, err := s.ApplyJobs(ctx, store.JobApplyParams{
		Create: []arbiter.Job{fresh}, Update: []arbiter.Job{changed}, Delete: []string{gone.Name}, Now: at(6), Actor: "uid:7",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Name != "fresh" || jobs[1].Schedule != "*/5 * * * *" || jobs[1].Source != "/srv/jobs/keep.toml" {
		t.Fatalf("applied jobs = %+v", jobs)
	}
	if _, err := s.GetJob(ctx, "gone"); !errors.Is(err, arbiter.ErrNotFound) {
		t.Errorf("the deleted job is still there: %v", err)
	}
	events, err := s.ListEvents(ctx, store.EventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		if e.Actor == "uid:7" {
			kinds = append(kinds, e.Kind+" "+e.Job)
		}
	}
	wantEqual(t, "events of the apply", kinds, []string{"job.created fresh", "job.updated keep", "job.deleted gone"})
}

func testDrift(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := newJob("managed")
	j.Source = "/srv/jobs/managed.toml"
	createJob(t, s, j)
	got, err := s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "managed", Paused: true, Drift: true, Now: at(1)})
	if err != nil || !got.Paused || !got.Drifted {
		t.Fatalf("forced pause = %+v, %v; want paused and drifted", got, err)
	}
	got.Drifted = false // an apply puts it back in line
	if got, err = s.UpdateJob(ctx, store.JobUpdateParams{Job: got, Now: at(2)}); err != nil || got.Drifted {
		t.Fatalf("update = %+v, %v; want drift cleared", got, err)
	}
}

// A job's pauses are all in the event log, however they happened: created paused, paused, or
// paused or resumed by an update.
func testPauseEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := newJob("sleepy")
	j.Paused = true
	j = createJob(t, s, j)
	j.Paused = false
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: j, Now: at(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: j, Now: at(2)}); err != nil { // no change of pause
		t.Fatal(err)
	}
	events, err := s.ListEvents(ctx, store.EventListParams{Job: "sleepy"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	wantEqual(t, "events", kinds, []string{"job.created", "job.paused", "job.updated", "job.resumed", "job.updated"})
}

// A job's labels (normalized: sorted, unique) come back as they were stored, through every
// operation that writes or reads jobs.
func testJobLabels(t *testing.T, s store.Store) {
	ctx := t.Context()
	long := strings.Repeat("x", 63)
	sixteen := make([]string, arbiter.MaxLabels)
	for i := range sixteen {
		sixteen[i] = fmt.Sprintf("l%02d", i)
	}

	gpu := newJob("gpu")
	gpu.Labels = []string{"eu", "gpu"}
	plain := newJob("plain")
	wantGPU, wantPlain := gpu, plain
	wantGPU.CreatedAt, wantGPU.UpdatedAt = base, base
	wantPlain.CreatedAt, wantPlain.UpdatedAt = base, base
	wantJob(t, "CreateJob with labels", createJob(t, s, gpu), wantGPU)
	wantJob(t, "CreateJob without labels", createJob(t, s, plain), wantPlain)
	get := func(what, name string, want arbiter.Job) {
		t.Helper()
		got, err := s.GetJob(ctx, name)
		if err != nil {
			t.Fatalf("%s: GetJob(%q): %v", what, name, err)
		}
		wantJob(t, what, got, want)
	}
	get("GetJob with labels", "gpu", wantGPU)
	get("GetJob without labels", "plain", wantPlain)

	jobs, err := s.ListJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("ListJobs = %d jobs, want 2", len(jobs))
	}
	wantJob(t, "ListJobs, with labels", jobs[0], wantGPU)
	wantJob(t, "ListJobs, without labels", jobs[1], wantPlain)
	page, err := s.ListJobsPage(ctx, store.JobPageParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 {
		t.Fatalf("ListJobsPage = %d jobs, want 2", len(page))
	}
	wantJob(t, "ListJobsPage, with labels", page[0], wantGPU)
	wantJob(t, "ListJobsPage, without labels", page[1], wantPlain)

	// An update replaces the labels, gives some to a job without, and takes them all away.
	gpu.Labels = []string{"gpu", long}
	got, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: gpu, Now: at(1), Actor: "uid:1000"})
	if err != nil {
		t.Fatal(err)
	}
	wantGPU = gpu
	wantGPU.CreatedAt, wantGPU.UpdatedAt = base, at(1)
	wantJob(t, "UpdateJob changing labels", got, wantGPU)
	get("GetJob after changing labels", "gpu", wantGPU)

	plain.Labels = sixteen
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: plain, Now: at(2)}); err != nil {
		t.Fatal(err)
	}
	wantPlain = plain
	wantPlain.CreatedAt, wantPlain.UpdatedAt = base, at(2)
	get("GetJob after adding labels", "plain", wantPlain)

	// A pause keeps them.
	if got, err = s.SetJobPaused(ctx, store.JobSetPausedParams{Name: "plain", Paused: true, Now: at(3)}); err != nil {
		t.Fatal(err)
	}
	wantPlain.Paused, wantPlain.UpdatedAt = true, at(3)
	wantJob(t, "SetJobPaused", got, wantPlain)

	gpu.Labels = nil
	if _, err := s.UpdateJob(ctx, store.JobUpdateParams{Job: gpu, Now: at(4)}); err != nil {
		t.Fatal(err)
	}
	wantGPU = gpu
	wantGPU.CreatedAt, wantGPU.UpdatedAt = base, at(4)
	get("GetJob after removing labels", "gpu", wantGPU)

	// An apply creates and updates jobs with their labels.
	applied := newJob("applied")
	applied.Labels, applied.Source = []string{"a-1", "b.2_c"}, "/srv/jobs/applied.toml"
	gpu.Labels = []string{"eu", "gpu"}
	jobs, err = s.ApplyJobs(ctx, store.JobApplyParams{Create: []arbiter.Job{applied}, Update: []arbiter.Job{gpu}, Now: at(5), Actor: "uid:7"})
	if err != nil {
		t.Fatal(err)
	}
	wantApplied := applied
	wantApplied.CreatedAt, wantApplied.UpdatedAt = at(5), at(5)
	wantGPU = gpu
	wantGPU.CreatedAt, wantGPU.UpdatedAt = base, at(5)
	if len(jobs) != 2 {
		t.Fatalf("ApplyJobs = %d jobs, want 2", len(jobs))
	}
	wantJob(t, "ApplyJobs' created job", jobs[0], wantApplied)
	wantJob(t, "ApplyJobs' updated job", jobs[1], wantGPU)
	get("GetJob after apply, created", "applied", wantApplied)
	get("GetJob after apply, updated", "gpu", wantGPU)

	jobs, err = s.ListJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "ListJobs after apply", len(jobs), 3)
	for i, want := range []arbiter.Job{wantApplied, wantGPU, wantPlain} {
		if i < len(jobs) {
			wantJob(t, "ListJobs after apply, "+want.Name, jobs[i], want)
		}
	}
	var paged []arbiter.Job
	for after := ""; ; {
		page, err := s.ListJobsPage(ctx, store.JobPageParams{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Name
	}
	wantEqual(t, "ListJobsPage after apply", paged, jobs)
}
