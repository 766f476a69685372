// Package storetest is the conformance suite every store.Store must pass. A store's own test calls
// Exercise with a constructor of empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
//
// The suite asserts only what store.Store promises, never how a database spells it (no run id
// values, no driver messages), so SQLite and Postgres stores pass the same tests.
package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// Exercise runs the suite as parallel subtests. newStore must return a new, empty store each time
// it is called and arrange for it to be closed (t.Cleanup).
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Jobs/CreateGet", testCreateGetJob},
		{"Jobs/CreateDuplicate", testCreateDuplicateJob},
		{"Jobs/RoundTrip", testJobRoundTrip},
		{"Jobs/NotFound", testJobNotFound},
		{"Jobs/List", testListJobs},
		{"Jobs/Update", testUpdateJob},
		{"Jobs/Pause", testPauseJob},
		{"Jobs/DeleteKeepsRuns", testDeleteJobKeepsRuns},
		{"Jobs/Apply", testApplyJobs},
		{"Jobs/Drift", testDrift},
		{"Jobs/PauseEvents", testPauseEvents},
		{"Jobs/Labels", testJobLabels},

		{"Runs/InsertFire", testInsertFire},
		{"Runs/InsertFireConcurrent", testInsertFireConcurrent},
		{"Runs/InsertFireTerminal", testInsertFireTerminal},
		{"Runs/InsertFireInvalid", testInsertFireInvalid},
		{"Runs/InsertRun", testInsertRun},
		{"Runs/Start", testStartRun},
		{"Runs/Finish", testFinishRun},
		{"Runs/List", testListRuns},
		{"Runs/ListPages", testListRunsPages},
		{"Runs/Latest", testLatestRuns},
		{"Runs/Recover", testRecoverRuns},
		{"Runs/TimesRoundTrip", testTimesRoundTrip},
		{"Runs/PolicyFields", testRunPolicyFields},
		{"Runs/RetryChain", testRetryChain},
		{"Runs/InsertRunInvalid", testInsertRunInvalid},
		{"Runs/LastFires", testLastFires},
		{"Runs/ListScheduledRange", testListRunsScheduledRange},

		{"Output/AppendRead", testOutputAppendRead},
		{"Output/Drop", testOutputDrop},
		{"Output/Errors", testOutputErrors},

		{"Secrets/RoundTrip", testSecretRoundTrip},
		{"Secrets/Upsert", testSecretUpsert},
		{"Secrets/NotFound", testSecretNotFound},
		{"Secrets/Invalid", testSecretInvalid},
		{"Secrets/List", testListSecrets},
		{"Secrets/Delete", testDeleteSecret},
		{"Secrets/Replace", testReplaceSecrets},
		{"Secrets/ReplaceAllOrNothing", testReplaceSecretsAllOrNothing},
		{"Secrets/ReplaceWithoutTimes", testReplaceSecretsWithoutTimes},
		{"Secrets/ReplaceEmpty", testReplaceSecretsEmpty},
		{"Secrets/Events", testSecretEvents},

		{"Events/Ops", testEventsOfOps},
		{"Events/Append", testAppendEvent},
		{"Events/Pages", testEventsPages},
		{"Events/ByJob", testEventsByJob},
		{"Counts", testCounts},

		{"Cluster/Claim", testClaimRuns},
		{"Cluster/ClaimConcurrent", testClaimRunsConcurrent},
		{"Cluster/ClaimOverlap", testClaimRunsOverlap},
		{"Cluster/ClaimFollowsJob", testClaimFollowsJob},
		{"Cluster/ClaimDeletedJob", testClaimDeletedJob},
		{"Cluster/StartClaimed", testStartClaimed},
		{"Cluster/Cancel", testCancelRun},
		{"Cluster/RecoverWorker", testRecoverWorker},
		{"Cluster/Nodes", testNodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// base is the suite's fixed clock; at(n) is n minutes later. The nanoseconds check that stores
// keep full precision.
var base = time.Date(2025, 3, 30, 1, 2, 3, 456789012, time.UTC)

func at(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

func newJob(name string) arbiter.Job {
	j := arbiter.Job{
		Name:     name,
		Schedule: "*/5 * * * *",
		Timezone: "Europe/Berlin",
		Command:  []string{"/bin/echo", "hello"},
		Env:      map[string]string{"GREETING": "hi"},
		Timeout:  90 * time.Second,
	}
	j.Normalize()
	return j
}

func createJob(t *testing.T, s store.Store, j arbiter.Job) arbiter.Job {
	t.Helper()
	got, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: j, Now: base, Actor: "uid:1000"})
	if err != nil {
		t.Fatalf("CreateJob(%q): %v", j.Name, err)
	}
	return got
}

func insertFire(t *testing.T, s store.Store, job string, scheduled time.Time) arbiter.Run {
	t.Helper()
	r, inserted, err := s.InsertFire(t.Context(), store.FireInsertParams{
		Job: job, ScheduledAt: scheduled, Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: scheduled,
	})
	if err != nil || !inserted {
		t.Fatalf("InsertFire(%q, %s) = inserted %v, %v; want a new run", job, scheduled, inserted, err)
	}
	return r
}

func startRun(t *testing.T, s store.Store, id int64, now time.Time) arbiter.Run {
	t.Helper()
	r, err := s.StartRun(t.Context(), store.RunStartParams{ID: id, PID: 4242, Worker: "node-1", Now: now})
	if err != nil {
		t.Fatalf("StartRun(%d): %v", id, err)
	}
	return r
}

func finishRun(t *testing.T, s store.Store, id int64, state arbiter.RunState, now time.Time) arbiter.Run {
	t.Helper()
	r, err := s.FinishRun(t.Context(), store.RunFinishParams{ID: id, State: state, Now: now})
	if err != nil {
		t.Fatalf("FinishRun(%d, %s): %v", id, state, err)
	}
	return r
}

func getRun(t *testing.T, s store.Store, id int64) arbiter.Run {
	t.Helper()
	r, err := s.GetRun(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRun(%d): %v", id, err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// wantEqual compares with reflect.DeepEqual. Expected times are built in UTC without a monotonic
// reading, so equality also proves that the store returns UTC times.
func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// normJob makes the empty Env, Command and Labels spellings equal: a store may return nil or
// empty.
func normJob(j arbiter.Job) arbiter.Job {
	if len(j.Env) == 0 {
		j.Env = nil
	}
	if len(j.Command) == 0 {
		j.Command = nil
	}
	if len(j.Labels) == 0 {
		j.Labels = nil
	}
	return j
}

func wantJob(t *testing.T, what string, got, want arbiter.Job) {
	t.Helper()
	wantEqual(t, what, normJob(got), normJob(want))
}

func ids(runs []arbiter.Run) []int64 {
	out := make([]int64, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func allEvents(t *testing.T, s store.Store) []arbiter.Event {
	t.Helper()
	events, err := s.ListEvents(t.Context(), store.EventListParams{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return events
}

// runEvents is the log of one run's changes, without ids.
func runEvents(t *testing.T, s store.Store, runID int64) []arbiter.Event {
	t.Helper()
	var out []arbiter.Event
	for _, e := range allEvents(t, s) {
		if e.RunID == runID {
			e.ID = 0
			out = append(out, e)
		}
	}
	return out
}

func intp(n int) *int { return &n }
