package pgstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// TestQueryPlans pins the index each hot or whole-table query relies on, so that a schema or
// query change that silently turns one into a scan of every run fails here. Sequential scans are
// priced out of the session (enable_seqscan = off): the question is whether an index can serve
// the query, not which plan the planner prefers for an empty table. A query no index serves still
// shows "Seq Scan".
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	_, dsn := openEmpty(t)
	conn := rawConn(t, dsn)
	ctx := t.Context()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	from, to := time.Unix(100, 0), time.Unix(200, 0)
	active := []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
	type query struct {
		q    string
		args []any
	}
	listRuns := func(p store.RunListParams) query {
		q, args := listRunsQuery(p)
		return query{q, args}
	}
	listEvents := func(p store.EventListParams) query {
		q, args := listEventsQuery(p)
		return query{q, args}
	}
	tests := []struct {
		name  string
		query query
		want  []string // substrings of the plan, each with alternatives: "a|b"
	}{
		{"LastFires", query{lastFiresQuery, nil}, []string{"using runs_fire on runs", "using runs_missed on runs"}},
		{"LatestRuns of jobs", query{latestRunsOfSQL, []any{[]string{"a", "b"}}}, []string{"Index Scan Backward using runs_job_id on runs"}},
		{"LatestRuns of all", query{latestRunsAllSQL, nil}, []string{"using runs_job_id on runs"}},
		{"ListRuns job and range", listRuns(store.RunListParams{Job: "a", ScheduledFrom: from, ScheduledTo: to}),
			[]string{"runs_job_scheduled|runs_job_id"}},
		{"ListRuns job, states and range", listRuns(store.RunListParams{Job: "a", States: active, ScheduledFrom: from, ScheduledTo: to}),
			[]string{"runs_job_scheduled|runs_job_id"}},
		{"ListRuns job", listRuns(store.RunListParams{Job: "a"}), []string{"Index Scan Backward using runs_job_id on runs"}},
		{"ListRuns job before", listRuns(store.RunListParams{Job: "a", BeforeID: 10}), []string{"Index Scan Backward using runs_job_id on runs"}},
		{"ListRuns states", listRuns(store.RunListParams{States: active}), []string{"runs_state_id"}},
		{"ListEvents", listEvents(store.EventListParams{AfterID: 5}), []string{"events_pkey"}},
		{"ListEvents job", listEvents(store.EventListParams{Job: "a", AfterID: 5}), []string{"events_job_id"}},
		{"ListEvents latest", listEvents(store.EventListParams{Latest: true}), []string{"events_pkey"}},
		{"Counts", query{countsQuery, nil}, []string{"jobs_pkey", "jobs_paused", "runs_state_id"}},
		{"ListJobsPage", query{`SELECT ` + jobColumns + ` FROM jobs WHERE name > $1 ORDER BY name LIMIT $2`, []any{"a", 10}},
			[]string{"jobs_pkey"}},
		{"InsertFire's conflict", query{fireConflictSQL, []any{"a", int64(1)}}, []string{"runs_fire"}},
		{"ReadOutput", query{`SELECT run_id, seq, at, data FROM run_output WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			[]any{int64(1), int64(0), 10}}, []string{"run_output_pkey"}},
	}
	for _, tt := range tests {
		rows, err := conn.Query(ctx, "EXPLAIN "+tt.query.q, tt.query.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		for _, w := range tt.want {
			if !slices.ContainsFunc(strings.Split(w, "|"), func(alt string) bool { return strings.Contains(text, alt) }) {
				t.Errorf("%s: plan lacks %q:\n%s", tt.name, w, text)
			}
		}
		if strings.Contains(text, "Seq Scan") {
			t.Errorf("%s: plan scans a whole table:\n%s", tt.name, text)
		}
	}
}
