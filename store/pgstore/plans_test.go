package pgstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		plan := explain(t, conn, tt.query.q, tt.query.args...)
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

// TestClaimPlan: a claim walks the queued runs in id order through an index and stops at its
// limit, whatever the depth of the queue and whatever the statistics say about it, with the
// plan for the values and with the generic plan. No Sort: sorting means reading every queued
// run on each claim, which made draining a backlog quadratic in its depth (BENCHMARKS.md,
// section 7). Only the pick is checked: the overlap check of a queue job, and how the generic
// plan (which never knows the limit, and which Postgres does not choose while it costs more)
// finds the picked rows, are not this test's concern.
func TestClaimPlan(t *testing.T) {
	t.Parallel()
	s, dsn := openEmpty(t)
	mustJob(t, s, "plain")
	labelled := job("labelled")
	labelled.Labels = []string{"gpu"}
	queued := job("one-at-a-time")
	queued.Overlap = arbiter.OverlapQueue
	for _, j := range []arbiter.Job{labelled, queued} {
		if _, err := s.CreateJob(t.Context(), store.JobCreateParams{Job: j, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	conn := rawConn(t, dsn)
	ctx := t.Context()
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	insert := func(state string, n int) {
		exec(fmt.Sprintf(`INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at)
			SELECT (ARRAY['plain', 'labelled', 'one-at-a-time'])[i %% 3 + 1], 'manual', i, 1, '%s', 1
			FROM generate_series(1, %d) AS i`, state, n))
	}
	exec(`PREPARE claim (bigint, text, text[], int) AS ` + claimRunsSQL)
	check := func(situation string) {
		t.Helper()
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			exec(`SET plan_cache_mode = ` + mode)
			for _, limit := range []int{1, 16} {
				plan := explain(t, conn, fmt.Sprintf(`EXECUTE claim(1, 'w', '{}', %d)`, limit))
				text := strings.Join(plan, "\n")
				// Only the pick matters: the claim's other parts sort the claimed runs, a batch.
				if from := slices.IndexFunc(plan, func(l string) bool { return strings.Contains(l, "CTE picked") }); from >= 0 {
					to := slices.IndexFunc(plan[from+1:], func(l string) bool { return strings.Contains(l, "CTE ") })
					if to >= 0 {
						plan = plan[from : from+1+to]
					} else {
						plan = plan[from:]
					}
				}
				pick := slices.IndexFunc(plan, func(l string) bool { return strings.Contains(l, " on runs r ") })
				if strings.Contains(strings.Join(plan, "\n"), "Sort") || pick < 0 || !strings.Contains(plan[pick], "Index Scan using") {
					t.Errorf("%s, %s, limit %d: the claim does not walk an index of the queued runs:\n%s", situation, mode, limit, text)
				}
			}
		}
	}
	// A table with a history, analyzed while its queue was empty; then a backlog.
	insert("succeeded", 5000)
	exec(`ANALYZE runs`)
	insert("queued", 2000)
	check("a backlog after the last ANALYZE")
	// Statistics that count the backlog: most runs are queued.
	insert("queued", 20000)
	exec(`ANALYZE runs`)
	check("an analyzed backlog")
}

// A database migrated from version 1 with runs queued gets the copies of their jobs that a
// claim reads (migration 002): a labelled job's run waits for a worker with the labels.
func TestMigrationCopiesQueuedRunsJobs(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	conn := rawConn(t, dsn)
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), createMigrationsTableSQL); err != nil {
		t.Fatal(err)
	}
	if err := apply(t.Context(), conn, ms[0]); err != nil {
		t.Fatal(err)
	}
	// What a version-1 store wrote: two jobs, a run of each queued, and one finished.
	_, err = conn.Exec(t.Context(), `INSERT INTO jobs (name, schedule, overlap, source, labels, created_at, updated_at) VALUES
		('train', '@daily', 'allow', 'cli', '{gpu}', 0, 0), ('plain', '@daily', 'queue', 'cli', '{}', 0, 0);
		INSERT INTO runs (job, trigger, scheduled_at, attempt, state, created_at) VALUES
		('train', 'manual', 1, 1, 'queued', 1), ('plain', 'manual', 2, 1, 'queued', 2),
		('plain', 'manual', 3, 1, 'queued', 3), ('train', 'manual', 0, 1, 'succeeded', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	s := openAt(t, dsn, Options{})
	claim := func(worker string, labels []string) []string {
		runs, err := s.ClaimRuns(t.Context(), store.RunClaimParams{Worker: worker, Labels: labels, Limit: 10, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		var jobs []string
		for _, r := range runs {
			jobs = append(jobs, r.Job)
		}
		return jobs
	}
	if got := claim("w1", nil); !slices.Equal(got, []string{"plain"}) {
		t.Errorf("a worker without labels claimed the runs of %v; want one of plain (it runs one at a time)", got)
	}
	if got := claim("w2", []string{"gpu"}); !slices.Equal(got, []string{"train"}) {
		t.Errorf("a gpu worker claimed the runs of %v; want train's", got)
	}
}

// explain returns the lines of EXPLAIN query.
func explain(t *testing.T, conn *pgx.Conn, query string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	return plan
}
