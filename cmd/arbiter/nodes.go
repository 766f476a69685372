package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/api"
)

func (a *app) nodesCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the daemons of the cluster: roles, labels, the scheduler, heartbeats, running runs",
		Long: `List the daemons that share this daemon's store. With the SQLite store there is one; with a
Postgres store, every node that ever joined, live or gone.

LEADER marks the node that fires the schedules. A node whose last heartbeat is older than its
lease is gone: its running runs were marked lost and retried elsewhere.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			nodes, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, api.NodeList{Nodes: nodes})
			}
			return renderNodes(a.out, nodes, time.Now(), time.Local)
		},
	}
	out = outputFlag(cmd)
	return cmd
}

func renderNodes(w io.Writer, nodes []api.Node, now time.Time, loc *time.Location) error {
	t := newTable(w, "NAME", "ROLES", "LABELS", "LEADER", "STATE", "HEARTBEAT", "RUNNING", "VERSION")
	for _, n := range nodes {
		leader, state := "", "gone"
		if n.Leader {
			leader = "*"
		}
		if n.Live {
			state = "live"
		}
		labels := strings.Join(n.Labels, ",")
		if labels == "" {
			labels = "-"
		}
		t.row(n.Name, strings.Join(n.Roles, ","), labels, leader, state, when(n.SeenAt, now, loc),
			strconv.Itoa(n.Running), n.Version)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if keys := keyIDs(nodes); len(keys) > 1 {
		_, err := fmt.Fprintf(w, "\nwarning: the live nodes hold %d different secrets keys (%s); every node needs the same key file, or secrets fail to open on some\n",
			len(keys), strings.Join(keys, ", "))
		return err
	}
	return nil
}

// keyIDs lists the distinct secrets key ids of the live nodes, in order of first appearance.
func keyIDs(nodes []api.Node) []string {
	var ids []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if n.Live && n.KeyID != "" && !seen[n.KeyID] {
			seen[n.KeyID] = true
			ids = append(ids, n.KeyID)
		}
	}
	return ids
}
