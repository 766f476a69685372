package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// A single SQLite daemon claims nothing from anyone and is the only node there is, but the
// operations of a cluster work here too, with the same meaning: the conformance suite holds
// both stores to them, and `arbiter nodes` lists the one node.

// claimRunsSQL picks the runs a worker may take and moves them to running in one statement.
// A job's labels must all be among the worker's (?3, a JSON array); a job that runs one at a
// time waits while an older run of it is queued or running. Runs of deleted jobs (no jobs row)
// are claimed too, so that a worker ends them. A claim records no event: the run's start
// (StartRun) does, with the process's pid, once the worker has started it.
const claimRunsSQL = `UPDATE runs SET state = 'running', started_at = ?1, worker = ?2, pid = 0
	WHERE id IN (
		SELECT r.id FROM runs r LEFT JOIN jobs j ON j.name = r.job
		WHERE r.state = 'queued' AND (r.not_before IS NULL OR r.not_before <= ?1)
			AND (j.name IS NULL OR NOT EXISTS (
				SELECT 1 FROM json_each(j.labels) l WHERE l.value NOT IN (SELECT value FROM json_each(?3))))
			AND (j.name IS NULL OR j.overlap NOT IN ('queue', 'replace') OR NOT EXISTS (
				SELECT 1 FROM runs e WHERE e.job = r.job AND e.state IN ('queued', 'running') AND e.id < r.id))
		ORDER BY r.id LIMIT ?4)
	RETURNING ` + runColumns

func (s *Store) ClaimRuns(ctx context.Context, p store.RunClaimParams) ([]arbiter.Run, error) {
	if p.Worker == "" || p.Limit < 1 {
		return nil, fmt.Errorf("claim runs: %w", arbiter.Invalidf("worker", "a claim names its worker and claims at least 1 run"))
	}
	labels, err := json.Marshal(append([]string{}, p.Labels...))
	if err != nil {
		return nil, fmt.Errorf("claim runs: %w", err)
	}
	var runs []arbiter.Run
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, claimRunsSQL, ns(p.Now), p.Worker, string(labels), p.Limit)
		if err != nil {
			return err
		}
		if runs, err = collect(rows, scanRun); err != nil {
			return err
		}
		slices.SortFunc(runs, func(a, b arbiter.Run) int { return int(a.ID - b.ID) })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim runs for %s: %w", p.Worker, interpretError(err))
	}
	return runs, nil
}

func (s *Store) CancelRun(ctx context.Context, p store.RunCancelParams) (arbiter.Run, error) {
	if p.Reason == "" {
		return arbiter.Run{}, fmt.Errorf("cancel run %d: %w", p.ID, arbiter.Invalidf("reason", "a cancellation says why"))
	}
	var run arbiter.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx, `UPDATE runs SET state = 'cancelled', finished_at = ?, reason = ?
			WHERE id = ? AND state = 'queued' RETURNING `+runColumns, ns(p.Now), p.Reason, p.ID))
		if err == nil {
			return s.runEvent(ctx, tx, p.Now, run, p.Actor)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		run, err = scanRun(tx.QueryRowContext(ctx, `UPDATE runs SET cancel_requested = ?
			WHERE id = ? AND state = 'running' RETURNING `+runColumns, p.Reason, p.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return s.runConflict(ctx, tx, p.ID, "queued or running")
		}
		return err
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("cancel run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

const nodeColumns = `name, id, roles, labels, leader, running, version, key_id, started_at, seen_at, lease_until`

func scanNode(sc scanner) (arbiter.Node, error) {
	var (
		n                      arbiter.Node
		roles, labels          string
		leader                 bool
		started, seen, leaseTo int64
	)
	if err := sc.Scan(&n.Name, &n.ID, &roles, &labels, &leader, &n.Running, &n.Version, &n.KeyID, &started, &seen, &leaseTo); err != nil {
		return arbiter.Node{}, err
	}
	if err := json.Unmarshal([]byte(roles), &n.Roles); err != nil {
		return arbiter.Node{}, fmt.Errorf("node %s: roles: %w", n.Name, err)
	}
	if err := json.Unmarshal([]byte(labels), &n.Labels); err != nil {
		return arbiter.Node{}, fmt.Errorf("node %s: labels: %w", n.Name, err)
	}
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	n.Leader = leader
	n.StartedAt, n.SeenAt, n.LeaseUntil = fromNS(started), fromNS(seen), fromNS(leaseTo)
	return n, nil
}

// The heartbeat of a node takes over its name only from a node with the same id, or one whose
// lease has run out.
const heartbeatSQL = `INSERT INTO nodes (` + nodeColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET id = excluded.id, roles = excluded.roles, labels = excluded.labels,
		leader = excluded.leader, running = excluded.running, version = excluded.version,
		key_id = excluded.key_id, started_at = excluded.started_at, seen_at = excluded.seen_at,
		lease_until = excluded.lease_until
	WHERE nodes.id = excluded.id OR nodes.lease_until <= excluded.seen_at
	RETURNING name`

func (s *Store) HeartbeatNode(ctx context.Context, p store.NodeHeartbeatParams) error {
	n := p.Node
	if err := store.ValidateNode(n); err != nil {
		return fmt.Errorf("heartbeat of node %q: %w", n.Name, err)
	}
	roles, err := json.Marshal(n.Roles)
	if err != nil {
		return err
	}
	labels, err := json.Marshal(append([]string{}, n.Labels...))
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, heartbeatSQL, n.Name, n.ID, string(roles), string(labels), n.Leader,
			n.Running, n.Version, n.KeyID, ns(n.StartedAt), ns(n.SeenAt), ns(n.LeaseUntil)).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			var holder string
			var until int64
			if err := tx.QueryRowContext(ctx, `SELECT id, lease_until FROM nodes WHERE name = ?`, n.Name).Scan(&holder, &until); err != nil {
				return err
			}
			return fmt.Errorf("%w: node name %q is held by node %s, live until %s; give this node another name",
				arbiter.ErrConflict, n.Name, holder, fromNS(until).Format("15:04:05"))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat of node %q: %w", n.Name, interpretError(err))
	}
	return nil
}

func (s *Store) ListNodes(ctx context.Context) ([]arbiter.Node, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", interpretError(err))
	}
	nodes, err := collect(rows, scanNode)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", interpretError(err))
	}
	return nodes, nil
}
