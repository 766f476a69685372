package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/dsn"
	"github.com/arbiterd/arbiter/store/pgstore"
	"github.com/arbiterd/arbiter/store/sqlitestore"
)

// openStore opens the configured store, and for Postgres returns the scheduler's lock of the
// cluster too.
func (d *Daemon) openStore(ctx context.Context) (leaderLock, error) {
	committed := func() { d.commits.Notify(struct{}{}) }
	switch {
	case d.cfg.Store == "":
		s, err := sqlitestore.Open(ctx, d.dbPath, sqlitestore.Options{Logger: d.log, Committed: committed})
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		d.store = s
		return nil, nil
	case dsn.IsPostgres(d.cfg.Store):
		s, err := pgstore.Open(ctx, d.cfg.Store, pgstore.Options{Logger: d.log, Committed: committed})
		if err != nil {
			return nil, fmt.Errorf("open the postgres store %s: %w", dsn.Redact(d.cfg.Store), err)
		}
		d.store = s
		return s.SchedulerLock(), nil
	}
	return nil, arbiter.Invalidf("store", "%q is not a store: leave it empty for the SQLite file in the data dir, or give a postgres://user@host/db URL", dsn.Redact(d.cfg.Store))
}

// storeName says which store the daemon uses, without a password.
func (d *Daemon) storeName() string {
	if d.cfg.Store == "" {
		return "sqlite:" + d.dbPath
	}
	return dsn.Redact(d.cfg.Store)
}

// joinCluster makes this daemon a node of the cluster on its Postgres store. Its first
// heartbeat claims its name: a live node of the same name (another data dir) refuses it.
func (d *Daemon) joinCluster(ctx context.Context, lock leaderLock) error {
	cfg := d.cfg
	name := cfg.NodeName
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("name this node: %w; give it one with --node-name", err)
		}
		name = arbiter.NodeNameFrom(host)
	}
	if err := arbiter.ValidateNodeName(name); err != nil {
		return err
	}
	labels := slices.Clone(cfg.Labels)
	slices.Sort(labels)
	labels = slices.Compact(labels)
	c := &cluster{
		d: d,
		node: arbiter.Node{
			Name: name, ID: d.nodeID, Roles: cfg.Roles, Labels: labels,
			Version: cfg.Version, KeyID: d.key.ID(), StartedAt: d.startedAt,
		},
		beat:  cfg.Heartbeat,
		lease: cfg.NodeLease,
		poke:  make(chan struct{}, 1),
	}
	if c.has(arbiter.RoleScheduler) {
		c.lock = lock
	}
	d.worker = name
	d.cluster = c
	if err := c.heartbeat(ctx, false); err != nil {
		if errors.Is(err, arbiter.ErrConflict) {
			return fmt.Errorf("join the cluster as %s: %w", name, err)
		}
		return fmt.Errorf("join the cluster: %w", err)
	}
	d.log.Info("joined the cluster", "node", name, "roles", arbiter.RolesString(cfg.Roles), "labels", strings.Join(labels, ","), "store", d.storeName())
	return nil
}

// leaveCluster tells the others that this node is gone, once its runs have ended, so that no
// run waits for its lease to run out.
func (d *Daemon) leaveCluster() {
	if d.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*d.cluster.beat)
	defer cancel()
	if err := d.cluster.heartbeat(ctx, true); err != nil {
		d.log.Warn("tell the cluster this node stops", "err", err)
	}
}

// serves reports whether this daemon serves the control socket.
func (d *Daemon) serves() bool { return d.cluster == nil || d.cluster.has(arbiter.RoleAPI) }

// localNode is this daemon as `arbiter nodes` shows it when it is the only one (SQLite).
func (d *Daemon) localNode() arbiter.Node {
	running, _ := d.runs.running()
	now := d.clock.Now()
	n := arbiter.Node{
		Name: d.worker, ID: d.nodeID, Roles: arbiter.Roles, Leader: true, Running: running,
		Version: d.cfg.Version, StartedAt: d.startedAt, SeenAt: now, LeaseUntil: now.Add(defaultNodeLease),
	}
	if d.key != nil {
		n.KeyID = d.key.ID()
	}
	return n
}
