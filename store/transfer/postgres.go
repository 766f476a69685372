package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store/pgstore"
)

// lockTimeout bounds the wait for the target's tables: a session that holds them (a node
// already using the database, someone's open transaction) makes the copy fail rather than hang.
const lockTimeout = "10s"

// copyToPostgres copies src into the empty database at connString, in one transaction.
func copyToPostgres(ctx context.Context, src *source, connString, safe string, opts Options) (Report, error) {
	cfg, err := pgxpool.ParseConfig(connString) // as pgstore.Open parses it: pool_* settings allowed
	if err != nil {
		return Report{}, fmt.Errorf("open %s: %w", safe, arbiter.Invalidf("dsn", "%v", err))
	}
	connect := func() (*pgx.Conn, error) {
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", safe, err)
		}
		return conn, nil
	}

	// Refuse a database in use before pgstore.Open may migrate its schema: a refused target is
	// left exactly as it was.
	conn, err := connect()
	if err != nil {
		return Report{}, err
	}
	held, err := targetRows(ctx, conn, safe, false)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return Report{}, err
	}
	if !held.empty() {
		return Report{}, held
	}

	// Create the schema, or bring it to this arbiter's version, as a node starting would.
	st, err := pgstore.Open(ctx, connString, pgstore.Options{})
	if err != nil {
		return Report{}, err
	}
	st.Close()

	if conn, err = connect(); err != nil {
		return Report{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return copyTx(ctx, conn, src, safe, opts)
}

// copyTx copies every table in one transaction, which it commits only once the target agrees
// with the source.
func copyTx(ctx context.Context, conn *pgx.Conn, src *source, safe string, opts Options) (rep Report, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("copy into %s: %w", safe, err)
	}
	defer func() {
		if err != nil {
			// Without ctx's cancellation, so that pgx rolls back rather than dropping the
			// connection; either way the server discards the transaction.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// A long COPY must not be cut short by the role's timeouts. ACCESS EXCLUSIVE: nobody reads
	// or writes these tables until the copy commits, so a node that starts meanwhile waits and
	// then sees everything, never half of it.
	for _, q := range []string{
		`SET LOCAL statement_timeout = 0`,
		`SET LOCAL idle_in_transaction_session_timeout = 0`,
		`SET LOCAL lock_timeout = '` + lockTimeout + `'`,
		`LOCK TABLE jobs, runs, run_output, events, secrets, nodes IN ACCESS EXCLUSIVE MODE`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				return Report{}, fmt.Errorf("the database %s is in use: another session held its tables for %s; stop the nodes using it: %w", safe, lockTimeout, err)
			}
			return Report{}, fmt.Errorf("copy into %s: %w", safe, err)
		}
	}
	// Again under the lock: a node may have started on the database since the first look.
	held, err := targetRows(ctx, tx, safe, true)
	if err != nil {
		return Report{}, err
	}
	if !held.empty() {
		return Report{}, held
	}
	if err := checkTargetColumns(ctx, tx, safe); err != nil {
		return Report{}, err
	}

	for _, t := range tables {
		n, err := copyTable(ctx, tx, src, t, opts.Progress)
		if err != nil {
			return Report{}, err
		}
		switch t.name {
		case "jobs":
			rep.Jobs = n
		case "runs":
			rep.Runs = n
		case "run_output":
			rep.OutputChunks = n
		case "events":
			rep.Events = n
		case "secrets":
			rep.Secrets = n
		}
	}
	rep.OutputBytes = src.stats["run_output"][3]

	// COPY writes the ids it is given into the identity columns (as INSERT ... OVERRIDING
	// SYSTEM VALUE would) without advancing their sequences: move them past every id the
	// SQLite file ever handed out, or the next run would clash with a copied one.
	for name, last := range map[string]int64{"runs": src.lastRunID, "events": src.lastEventID} {
		if last == 0 {
			continue // nothing ever stored: the sequence starts at 1, as it is
		}
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), $2)`, name, last); err != nil {
			return Report{}, fmt.Errorf("copy into %s: continue the %s ids after %d: %w", safe, name, last, err)
		}
	}
	rep.LastRunID, rep.LastEventID = src.lastRunID, src.lastEventID

	if err := verify(ctx, tx, src, safe); err != nil {
		return Report{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Report{}, fmt.Errorf("copy into %s: commit: %w", safe, err)
	}
	return rep, nil
}

// copyTable streams one table from SQLite into Postgres with COPY.
func copyTable(ctx context.Context, tx pgx.Tx, src *source, t table, progress func(Progress)) (int64, error) {
	total := src.stats[t.name][0]
	report := func(n int64) {
		if progress != nil {
			progress(Progress{Table: t.name, Copied: n, Total: total})
		}
	}
	report(0)
	rows, err := src.rows(ctx, t)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	// pgx reads the rows on a goroutine of its own while this one waits in CopyFrom; it is done
	// with them when CopyFrom returns.
	var (
		read   int64
		rowErr error // ours, with the row named: pgx would pass on only its text
	)
	next := func() ([]any, error) {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				rowErr = src.readErr(err)
				return nil, rowErr
			}
			return nil, nil
		}
		key, values, err := t.row(rows)
		if err == nil {
			err = checkText(t.columns, values)
		}
		if err != nil {
			rowErr = fmt.Errorf("%s: %s: %w", src.path, key, err)
			return nil, rowErr
		}
		read++
		if read%progressEvery == 0 && read < total { // the last call comes after COPY
			report(read)
		}
		return values, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromFunc(next))
	if rowErr != nil {
		return 0, fmt.Errorf("copy %s: %w", t.name, rowErr)
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", t.name, err)
	}
	if n != read {
		return 0, fmt.Errorf("copy %s: Postgres took %d rows of the %d sent", t.name, n, read)
	}
	report(n)
	return n, nil
}

// verify compares every table's aggregates in the target, inside the copy's transaction, with
// the source's.
func verify(ctx context.Context, tx pgx.Tx, src *source, safe string) error {
	for _, t := range tables {
		var got stats
		if err := tx.QueryRow(ctx, t.stats).Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
			return fmt.Errorf("copy into %s: check %s: %w", safe, t.name, err)
		}
		if want := src.stats[t.name]; got != want {
			return fmt.Errorf("copy into %s: the copied %s do not match the SQLite file (%d rows and aggregates %v, want %d rows and %v); nothing was copied",
				safe, t.name, got[0], got[1:], want[0], want[1:])
		}
	}
	return nil
}

// querier is what targetRows needs of a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// targetRows counts what the target holds. Before the schema exists (migrated false), the
// tables may be missing, which counts as empty.
func targetRows(ctx context.Context, q querier, safe string, migrated bool) (*NotEmptyError, error) {
	held := &NotEmptyError{DSN: safe}
	for _, c := range []struct {
		table string
		n     *int64
	}{{"jobs", &held.Jobs}, {"runs", &held.Runs}, {"events", &held.Events}, {"secrets", &held.Secrets}, {"nodes", &held.Nodes}} {
		if !migrated {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, c.table).Scan(&exists); err != nil {
				return nil, fmt.Errorf("read %s: %w", safe, err)
			}
			if !exists {
				continue
			}
		}
		// The table name is one of ours, not input.
		if err := q.QueryRow(ctx, `SELECT count(*) FROM `+c.table).Scan(c.n); err != nil {
			return nil, fmt.Errorf("read %s: count %s: %w", safe, c.table, err)
		}
	}
	return held, nil
}

// checkTargetColumns makes sure every copied table of the target has exactly the columns this
// package writes, so that none is left to its default unnoticed.
func checkTargetColumns(ctx context.Context, tx pgx.Tx, safe string) error {
	for _, t := range tables {
		rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1`, t.name)
		if err != nil {
			return fmt.Errorf("read %s: the columns of %s: %w", safe, t.name, err)
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read %s: the columns of %s: %w", safe, t.name, err)
		}
		slices.Sort(have)
		if want := slices.Sorted(slices.Values(slices.Concat(t.columns, t.derived))); !slices.Equal(have, want) {
			return fmt.Errorf("the database %s: table %s has the columns %v, where this arbiter copies %v", safe, t.name, have, want)
		}
	}
	return nil
}
