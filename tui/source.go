// Package tui is `arbiter top`, the live terminal dashboard. It reaches the daemon only through
// Source, which *client.Client satisfies, so the views can be driven by a fake in tests and
// never depend on the client's transport.
package tui

import (
	"context"

	"github.com/arbiterd/arbiter/api"
)

// Source is what the dashboard reads from the daemon.
type Source interface {
	Status(ctx context.Context) (api.Status, error)
	ListJobs(ctx context.Context) ([]api.Job, error)
}
