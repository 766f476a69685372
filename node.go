package arbiter

import (
	"slices"
	"strings"
	"time"
)

// Role is a part a node plays in a cluster of daemons sharing a Postgres store.
type Role string

const (
	// RoleScheduler: the node stands for election; the elected one fires the schedules.
	RoleScheduler Role = "scheduler"
	// RoleWorker: the node claims queued runs and executes them.
	RoleWorker Role = "worker"
	// RoleAPI: the node serves the control socket.
	RoleAPI Role = "api"
)

// Roles lists every role, in the order they are printed.
var Roles = []Role{RoleScheduler, RoleWorker, RoleAPI}

// ParseRoles reads a comma-separated list of roles ("scheduler,worker"); each at most once,
// at least one. The result is in the order of Roles.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for f := range strings.SplitSeq(s, ",") {
		r := Role(strings.TrimSpace(strings.ToLower(f)))
		if !slices.Contains(Roles, r) {
			return nil, Invalidf("roles", "%q is not a role: use a comma-separated list of scheduler, worker and api", strings.TrimSpace(f))
		}
		if slices.Contains(out, r) {
			return nil, Invalidf("roles", "%q is listed twice", r)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Role) int { return slices.Index(Roles, a) - slices.Index(Roles, b) })
	return out, nil
}

// RolesString joins roles with commas, the way ParseRoles reads them.
func RolesString(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// Node is one daemon of a cluster as it last reported itself. A node reports on every
// heartbeat; one whose lease has run out is gone, and its running runs are lost.
type Node struct {
	Name      string // unique in the cluster; the Worker of the runs it executes
	ID        string // the persistent identity of its data dir
	Roles     []Role
	Labels    []string // what jobs with labels require of the node that runs them
	Leader    bool     // it holds the scheduler's lock
	Running   int      // runs executing on it
	Version   string
	KeyID     string // the id of its secrets master key: every node needs the same key
	StartedAt time.Time
	SeenAt    time.Time // its last heartbeat
	// LeaseUntil is when the node counts as gone without another heartbeat. A node that stops
	// cleanly sets it to its last heartbeat.
	LeaseUntil time.Time
}

// Live reports whether the node's lease runs at now.
func (n Node) Live(now time.Time) bool { return now.Before(n.LeaseUntil) }

// ValidateNodeName checks a node name: the rule of job names, so that it can be printed and
// typed anywhere.
func ValidateNodeName(name string) error {
	if !nameRE.MatchString(name) {
		return Invalidf("node name", "%q is not a valid node name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// NodeNameFrom turns a host name into a valid node name: lower case, the first label only
// when the full name is too long, other characters replaced by '-'.
func NodeNameFrom(host string) string {
	host = strings.ToLower(host)
	if len(host) > 63 {
		host, _, _ = strings.Cut(host, ".")
	}
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "._-")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" {
		return "node"
	}
	return name
}
