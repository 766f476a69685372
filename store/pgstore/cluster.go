package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// claimRunsSQL picks the runs a worker may take and moves them to running in one statement.
// FOR UPDATE SKIP LOCKED lets claimers on several nodes take disjoint batches without waiting
// for each other. The pick is a MATERIALIZED CTE: as a subquery of WHERE id IN (...), Postgres
// may run it more than once and claim more than the limit. A job's labels must all be among the
// worker's ($3); a job that runs one at a time waits while an older run of it is queued or
// running (a queued one locked by another claimer still counts: it is still queued). Runs of
// deleted jobs are claimed too, so that a worker ends them.
//
// The pick reads the run's row alone: the job's labels and whether it runs one at a time are
// copied onto its runs (job_labels, job_serial; migration 002), so a claim walks the index of
// the queued runs (runs_state_id) in id order and stops after $4 that qualify, without a
// lookup of the job for each run it passes, those that other claimers hold included.
// TestClaimPlan keeps it so.
var claimRunsSQL = `WITH picked AS MATERIALIZED (
		SELECT r.id FROM runs r
		WHERE r.state = 'queued' AND (r.not_before IS NULL OR r.not_before <= $1)
			AND r.job_labels <@ $3::text[]
			AND (NOT r.job_serial OR NOT EXISTS (
				SELECT 1 FROM runs e WHERE e.job = r.job AND e.state IN ('queued', 'running') AND e.id < r.id))
		ORDER BY r.id LIMIT $4
		FOR UPDATE SKIP LOCKED)
	UPDATE runs SET state = 'running', started_at = $1, worker = $2, pid = 0
	FROM picked WHERE runs.id = picked.id
	RETURNING ` + prefixed("runs.", runColumns)

// prefixed qualifies each column of a list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// ClaimRuns is one statement in one round trip, which commits on its own. It records no event
// and takes no lock but the rows': the claimed run's start (StartRun) records its event, with
// its pid, once the worker has started its process, so claimers on several nodes never wait for
// each other, nor for the event log's writers (BENCHMARKS.md, section 7).
func (s *Store) ClaimRuns(ctx context.Context, p store.RunClaimParams) ([]arbiter.Run, error) {
	if p.Worker == "" || p.Limit < 1 {
		return nil, fmt.Errorf("claim runs: %w", arbiter.Invalidf("worker", "a claim names its worker and claims at least 1 run"))
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	labels := p.Labels
	if labels == nil {
		labels = []string{}
	}
	rows, err := s.pool.Query(ctx, claimRunsSQL, ns(p.Now), p.Worker, labels, p.Limit)
	var runs []arbiter.Run
	if err == nil {
		runs, err = collect(nil, rows, scanRun)
		slices.SortFunc(runs, func(a, b arbiter.Run) int { return cmp.Compare(a.ID, b.ID) })
	}
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
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		run, err = scanRun(tx.QueryRow(ctx, `UPDATE runs SET state = 'cancelled', finished_at = $1, reason = $2
			WHERE id = $3 AND state = 'queued' RETURNING `+runColumns, ns(p.Now), p.Reason, p.ID))
		if err == nil {
			tx.runEvent(p.Now, run, p.Actor)
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		run, err = scanRun(tx.QueryRow(ctx, `UPDATE runs SET cancel_requested = $1
			WHERE id = $2 AND state = 'running' RETURNING `+runColumns, p.Reason, p.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return runConflict(ctx, tx, p.ID, "queued or running")
		}
		if err == nil {
			// Not an event of the log's kinds, but the running node must wake: notify.
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, eventChannel)
		}
		return err
	})
	if err != nil {
		return arbiter.Run{}, fmt.Errorf("cancel run %d: %w", p.ID, interpretError(err))
	}
	return run, nil
}

const nodeColumns = `name, id, roles, labels, leader, running, version, key_id, started_at, seen_at, lease_until`

func scanNode(row pgx.Row) (arbiter.Node, error) {
	var (
		n                      arbiter.Node
		roles                  []string
		started, seen, leaseTo int64
	)
	if err := row.Scan(&n.Name, &n.ID, &roles, &n.Labels, &n.Leader, &n.Running, &n.Version, &n.KeyID, &started, &seen, &leaseTo); err != nil {
		return arbiter.Node{}, err
	}
	for _, r := range roles {
		n.Roles = append(n.Roles, arbiter.Role(r))
	}
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	n.StartedAt, n.SeenAt, n.LeaseUntil = fromNS(started), fromNS(seen), fromNS(leaseTo)
	return n, nil
}

// The heartbeat of a node takes over its name only from a node with the same id, or one whose
// lease has run out.
const heartbeatSQL = `INSERT INTO nodes (` + nodeColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (name) DO UPDATE SET id = excluded.id, roles = excluded.roles, labels = excluded.labels,
		leader = excluded.leader, running = excluded.running, version = excluded.version,
		key_id = excluded.key_id, started_at = excluded.started_at, seen_at = excluded.seen_at,
		lease_until = excluded.lease_until
	WHERE nodes.id = excluded.id OR nodes.lease_until <= excluded.seen_at
	RETURNING name`

// HeartbeatNode writes outside the event log: a heartbeat every few seconds from every node
// would drown it, and wake every follower.
func (s *Store) HeartbeatNode(ctx context.Context, p store.NodeHeartbeatParams) error {
	n := p.Node
	if err := store.ValidateNode(n); err != nil {
		return fmt.Errorf("heartbeat of node %q: %w", n.Name, err)
	}
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = string(r)
	}
	labels := n.Labels
	if labels == nil {
		labels = []string{}
	}
	err := s.write(ctx, func(tx *wtx) error {
		var name string
		err := tx.QueryRow(ctx, heartbeatSQL, n.Name, n.ID, roles, labels, n.Leader, n.Running, n.Version,
			n.KeyID, ns(n.StartedAt), ns(n.SeenAt), ns(n.LeaseUntil)).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			var holder string
			var until int64
			if err := tx.QueryRow(ctx, `SELECT id, lease_until FROM nodes WHERE name = $1`, n.Name).Scan(&holder, &until); err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", interpretError(err))
	}
	nodes, err := collect(nil, rows, scanNode)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", interpretError(err))
	}
	return nodes, nil
}

// SchedulerLock is the cluster's scheduler lock on this store's database.
func (s *Store) SchedulerLock() *SchedulerLock { return &SchedulerLock{s: s} }

// SchedulerLock elects the node that fires the schedules: whoever holds a session-level advisory
// lock, on a connection kept for the purpose. When that connection ends (the node died, the
// network broke, Postgres restarted), Postgres releases the lock and another node takes it; the
// holder notices within lockPing and stops firing. Until it notices (it may have frozen), the
// store refuses the fires it records under its term (store.FireInsertParams.Term).
type SchedulerLock struct {
	s *Store

	mu   sync.Mutex
	conn *pgx.Conn
	stop chan struct{}
	done chan struct{}
}

// lockPing is how often the holder checks that its lock's connection still lives.
const lockPing = time.Second

// lockIdleTimeout ends, on the server, the session of a holder that stopped pinging: a node that
// froze (a stopped process, a suspended VM) or was cut off by the network keeps its socket, so
// Postgres would otherwise keep the session, and the lock, until TCP gave up on it, hours later.
// The holder pings every lockPing; the standbys take the lock within this much of its silence.
const lockIdleTimeout = 10 * lockPing

// lockSessionSQL bounds the lock's session: idle_session_timeout (PostgreSQL 14 and later) for a
// holder that froze or went silent, and TCP keepalives for a host that vanished, on servers
// without it.
var lockSessionSQL = []string{
	fmt.Sprintf(`SET idle_session_timeout = %d`, lockIdleTimeout.Milliseconds()),
	`SET tcp_keepalives_idle = 5`,
	`SET tcp_keepalives_interval = 1`,
	`SET tcp_keepalives_count = 5`,
}

// TryLead takes the lock if it is free. term names this holding of the lock, for the fence of
// InsertFire (store.FireInsertParams.Term); lost is closed once the lock may be held no longer.
func (l *SchedulerLock) TryLead(ctx context.Context) (term string, lost <-chan struct{}, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		return "", nil, false, errors.New("scheduler lock: already held; resign first")
	}
	cfg := l.s.pool.Config().ConnConfig.Copy()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return "", nil, false, fmt.Errorf("scheduler lock: connect to %s: %w", l.s.dsn, err)
	}
	for _, q := range lockSessionSQL {
		if _, err := conn.Exec(cctx, q); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42704" { // undefined_object: an older server
				conn.Close(context.Background())
				return "", nil, false, fmt.Errorf("scheduler lock: %s: %w", q, err)
			}
			l.s.log.Debug("the server does not know a setting of the scheduler lock's session", "sql", q)
		}
	}
	var (
		pid   int32
		start time.Time
	)
	err = conn.QueryRow(cctx, tryLeadSQL, schedulerLockKey).Scan(&ok, &pid, &start)
	if err != nil || !ok {
		conn.Close(context.Background()) // ends the session, and the lock with it if it was taken
		if err != nil {
			return "", nil, false, fmt.Errorf("scheduler lock: %w", err)
		}
		return "", nil, false, nil
	}
	l.conn, l.stop, l.done = conn, make(chan struct{}), make(chan struct{})
	lostCh := make(chan struct{})
	go l.watch(conn, l.stop, l.done, lostCh)
	return formatTerm(pid, start), lostCh, true, nil
}

// tryLeadSQL takes the lock, and names the session that holds it: its backend's pid and start.
const tryLeadSQL = `SELECT pg_try_advisory_lock($1), pg_backend_pid(),
	(SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())`

// formatTerm names a term, the session that holds the scheduler lock, as "pid@backend_start":
// the pid alone could name a later session that reused it. The lock is held by that session
// from TryLead until the session ends, never released and taken again by it, so "the term still
// holds the lock" is true from TryLead on and, once false, never true again.
func formatTerm(pid int32, start time.Time) string {
	return strconv.FormatInt(int64(pid), 10) + "@" + start.UTC().Format(time.RFC3339Nano)
}

func parseTerm(term string) (pid int32, start time.Time, err error) {
	p, s, ok := strings.Cut(term, "@")
	n, perr := strconv.ParseInt(p, 10, 32)
	start, serr := time.Parse(time.RFC3339Nano, s)
	if !ok || perr != nil || serr != nil || n <= 0 {
		return 0, time.Time{}, arbiter.Invalidf("term", "%q is not a term of the scheduler lock (pid@backend_start)", term)
	}
	return int32(n), start, nil
}

// termHoldsLockSQL is true while the session of a term, whose pid and start are the parameters
// numbered pidParam and startParam, holds the scheduler lock. pg_locks shows an advisory lock
// taken on a bigint key with the key's high 32 bits in classid, its low ones in objid, and
// objsubid 1. pg_locks is read as it is now; pg_stat_activity as the transaction first read it.
// The pool and the lock's connection log in as the same role, which sees its own sessions'
// backend_start (NULL for other roles' sessions, without pg_read_all_stats).
func termHoldsLockSQL(pidParam, startParam int) string {
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = '%d'::oid AND l.objid = '%d'::oid AND l.objsubid = 1
			AND l.granted AND l.pid = $%d::integer AND a.backend_start = $%d::timestamptz)`,
		uint32(uint64(schedulerLockKey)>>32), uint32(schedulerLockKey&0xffffffff), pidParam, startParam)
}

// watch pings the lock's connection until it fails or Resign stops it.
func (l *SchedulerLock) watch(conn *pgx.Conn, stop, done, lost chan struct{}) {
	defer close(done)
	defer close(lost)
	t := time.NewTicker(lockPing)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockPing)
		err := conn.Ping(ctx)
		cancel()
		if err != nil {
			l.s.log.Warn("the scheduler lock's connection failed; the lock is lost", "err", err)
			return
		}
	}
}

// Resign releases the lock, when held, by closing its connection.
func (l *SchedulerLock) Resign() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.conn.Close(ctx) // ends the session, which releases the lock
	l.conn = nil
}
