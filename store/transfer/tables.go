package transfer

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// table is one table that is copied: its columns, by the same names and in the same order in
// both schemas (schema.sql and store/pgstore/migrations), how its rows are read from SQLite and
// turned into the values of the Postgres columns, and the aggregates both sides must agree on.
type table struct {
	name    string
	columns []string
	order   string // the SQLite read's ORDER BY: the primary key, so Postgres gets rows in key order
	// row scans one SQLite row and returns the Postgres values, in the order of columns, and
	// what to call the row in an error.
	row func(*sql.Rows) (key string, values []any, err error)
	// stats selects four bigints over the table, in SQL that both databases run alike: the row
	// count first. Equal results on both sides after the copy are the check that nothing was
	// lost or changed on the way.
	stats string
	// derived are the Postgres columns that are not copied because Postgres fills them itself.
	derived []string
}

// stats are the four aggregates of a table's stats query.
type stats [4]int64

// tables are copied in this order: run_output refers to runs. Not copied: nodes (each node of
// the cluster registers itself; the single SQLite node is not one of them) and the migration
// bookkeeping.
var tables = []table{
	{
		name: "jobs",
		columns: []string{"name", "schedule", "timezone", "command", "shell", "dir", "env",
			"timeout_ns", "kill_grace_ns", "overlap", "catchup_ns", "retries", "retry_delay_ns",
			"jitter_ns", "paused", "source", "drifted", "labels", "created_at", "updated_at"},
		order: "name",
		row:   jobRow,
		stats: `SELECT count(*), CAST(coalesce(sum(retries), 0) AS bigint),
			CAST(coalesce(sum(length(name)), 0) AS bigint), CAST(coalesce(sum(length(schedule)), 0) AS bigint) FROM jobs`,
	},
	{
		name: "runs",
		columns: []string{"id", "job", "trigger", "scheduled_at", "attempt", "state", "reason",
			"created_at", "started_at", "finished_at", "exit_code", "signal", "pid", "worker",
			"output_bytes", "output_dropped", "retry_of", "not_before", "jitter_ns",
			"missed_count", "missed_until", "cancel_requested"},
		order: "id",
		row:   runRow,
		stats: `SELECT count(*), coalesce(max(id), 0), CAST(coalesce(sum(id), 0) AS bigint),
			CAST(coalesce(sum(output_bytes), 0) AS bigint) FROM runs`,
		// A trigger copies them from the run's job, which is copied first.
		derived: []string{"job_labels", "job_serial"},
	},
	{
		name:    "run_output",
		columns: []string{"run_id", "seq", "at", "data"},
		order:   "run_id, seq",
		row:     outputRow,
		// length() of a blob (SQLite) and of a bytea (Postgres) counts bytes.
		stats: `SELECT count(*), CAST(coalesce(sum(run_id), 0) AS bigint), CAST(coalesce(sum(seq), 0) AS bigint),
			CAST(coalesce(sum(length(data)), 0) AS bigint) FROM run_output`,
	},
	{
		name:    "events",
		columns: []string{"id", "at", "kind", "job", "run_id", "actor", "detail"},
		order:   "id",
		row:     eventRow,
		stats: `SELECT count(*), coalesce(max(id), 0), CAST(coalesce(sum(id), 0) AS bigint),
			CAST(coalesce(sum(run_id), 0) AS bigint) FROM events`,
	},
	{
		name:    "secrets",
		columns: []string{"name", "key_id", "nonce", "ciphertext", "size", "created_at", "updated_at"},
		order:   "name",
		row:     secretRow,
		stats: `SELECT count(*), CAST(coalesce(sum(size), 0) AS bigint), CAST(coalesce(sum(length(nonce)), 0) AS bigint),
			CAST(coalesce(sum(length(ciphertext)), 0) AS bigint) FROM secrets`,
	},
}

// nullInt is a nullable integer column as Postgres takes it: nil for NULL.
func nullInt(n sql.NullInt64) any {
	if !n.Valid {
		return nil
	}
	return n.Int64
}

// stringList decodes a JSON array of strings (a job's command or labels), never to nil: pgx
// writes a nil slice as NULL.
func stringList(column, s string) ([]string, error) {
	list := []string{}
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("%s %q is not a JSON array of strings: %w", column, s, err)
	}
	if list == nil { // the JSON null
		return nil, fmt.Errorf("%s is null, not a JSON array", column)
	}
	return list, nil
}

func jobRow(rows *sql.Rows) (string, []any, error) {
	var (
		name, schedule, timezone, shell, dir, env, overlap, source, labels string
		command                                                            sql.NullString
		timeout, grace, catchup, retries, retryDelay, jitter               int64
		paused, drifted, created, updated                                  int64
	)
	if err := rows.Scan(&name, &schedule, &timezone, &command, &shell, &dir, &env,
		&timeout, &grace, &overlap, &catchup, &retries, &retryDelay,
		&jitter, &paused, &source, &drifted, &labels, &created, &updated); err != nil {
		return "a job", nil, err
	}
	key := fmt.Sprintf("job %q", name)
	// NULL (a shell job) stays NULL; an argv becomes a text[].
	var argv any
	if command.Valid {
		list, err := stringList("command", command.String)
		if err != nil {
			return key, nil, err
		}
		argv = list
	}
	// Decoded as store/sqlitestore reads it and encoded as store/pgstore writes it: a JSON
	// object of strings, '{}' when empty.
	vars := map[string]string{}
	if err := json.Unmarshal([]byte(env), &vars); err != nil || vars == nil {
		return key, nil, fmt.Errorf("env %q is not a JSON object of strings: %v", env, err)
	}
	labelList, err := stringList("labels", labels)
	if err != nil {
		return key, nil, err
	}
	return key, []any{name, schedule, timezone, argv, shell, dir, vars,
		timeout, grace, overlap, catchup, retries, retryDelay,
		jitter, paused != 0, source, drifted != 0, labelList, created, updated}, nil
}

func runRow(rows *sql.Rows) (string, []any, error) {
	var (
		id, scheduled, attempt, created, pid, outBytes, outDropped, jitter, missedCount int64
		job, trigger, state, reason, signal, worker, cancelRequested                    string
		started, finished, exitCode, retryOf, notBefore, missedUntil                    sql.NullInt64
	)
	if err := rows.Scan(&id, &job, &trigger, &scheduled, &attempt, &state, &reason,
		&created, &started, &finished, &exitCode, &signal, &pid, &worker,
		&outBytes, &outDropped, &retryOf, &notBefore, &jitter,
		&missedCount, &missedUntil, &cancelRequested); err != nil {
		return "a run", nil, err
	}
	return fmt.Sprintf("run %d", id), []any{id, job, trigger, scheduled, attempt, state, reason,
		created, nullInt(started), nullInt(finished), nullInt(exitCode), signal, pid, worker,
		outBytes, outDropped, nullInt(retryOf), nullInt(notBefore), jitter,
		missedCount, nullInt(missedUntil), cancelRequested}, nil
}

func outputRow(rows *sql.Rows) (string, []any, error) {
	var (
		runID, seq, at int64
		data           []byte // Scan copies: each row has its own
	)
	if err := rows.Scan(&runID, &seq, &at, &data); err != nil {
		return "a chunk of output", nil, err
	}
	if data == nil {
		data = []byte{} // NOT NULL: an empty blob reads as nil
	}
	return fmt.Sprintf("chunk %d of run %d", seq, runID), []any{runID, seq, at, data}, nil
}

func eventRow(rows *sql.Rows) (string, []any, error) {
	var (
		id, at                   int64
		kind, job, actor, detail string
		runID                    sql.NullInt64
	)
	if err := rows.Scan(&id, &at, &kind, &job, &runID, &actor, &detail); err != nil {
		return "an event", nil, err
	}
	return fmt.Sprintf("event %d", id), []any{id, at, kind, job, nullInt(runID), actor, detail}, nil
}

// secretRow copies a secret as the bytes it is: the ciphertext, bound to the name and key id,
// opens only with the key file, which never enters the database.
func secretRow(rows *sql.Rows) (string, []any, error) {
	var (
		name, keyID       string
		nonce, ciphertext []byte
		size, created     int64
		updated           int64
	)
	if err := rows.Scan(&name, &keyID, &nonce, &ciphertext, &size, &created, &updated); err != nil {
		return "a secret", nil, err
	}
	if nonce == nil {
		nonce = []byte{}
	}
	if ciphertext == nil {
		ciphertext = []byte{}
	}
	return fmt.Sprintf("secret %q", name), []any{name, keyID, nonce, ciphertext, size, created, updated}, nil
}

// checkText finds text Postgres cannot store, which SQLite takes: a NUL byte or invalid UTF-8.
// Finding it here names the row and column; Postgres would only fail the COPY.
func checkText(columns []string, values []any) error {
	bad := func(s string) string {
		switch {
		case strings.IndexByte(s, 0) >= 0:
			return "a NUL byte"
		case !utf8.ValidString(s):
			return "invalid UTF-8"
		}
		return ""
	}
	for i, v := range values {
		var problem string
		switch v := v.(type) {
		case string:
			problem = bad(v)
		case []string:
			for _, s := range v {
				if problem = bad(s); problem != "" {
					break
				}
			}
		case map[string]string:
			for k, s := range v {
				if problem = bad(k + s); problem != "" {
					break
				}
			}
		}
		if problem != "" {
			return fmt.Errorf("its %s holds %s, which Postgres cannot store as text", columns[i], problem)
		}
	}
	return nil
}
