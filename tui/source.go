// Package tui is `arbiter top`, the live terminal dashboard. It reaches the daemon only through
// Source, which *client.Client satisfies, so the views can be driven by a fake in tests and
// never depend on the client's transport.
//
// The package is split the way k9s splits its views: state.go holds what the screen shows and
// the pure functions that change it, render.go turns that state into strings (golden-tested at
// fixed sizes), model.go is the bubbletea glue that maps keys and daemon answers onto state, and
// feed.go keeps the dashboard live from the daemon's event stream.
package tui

import (
	"context"
	"io"

	"github.com/arbiterd/arbiter/api"
)

// Source is what the dashboard reads from and does to the daemon.
type Source interface {
	Status(ctx context.Context) (api.Status, error)
	ListJobs(ctx context.Context) ([]api.Job, error)
	GetJob(ctx context.Context, name string) (api.Job, error)
	ListRuns(ctx context.Context, q api.RunsQuery) ([]api.Run, error)
	GetRun(ctx context.Context, id int64) (api.Run, error)
	// Output is the run's output as text; with follow it streams until the run ends.
	Output(ctx context.Context, id, after int64, follow bool) (io.ReadCloser, error)
	TriggerJob(ctx context.Context, name string) (api.Run, error)
	PauseJob(ctx context.Context, name string, force bool) (api.Job, error)
	ResumeJob(ctx context.Context, name string, force bool) (api.Job, error)
	DeleteJob(ctx context.Context, name string, force bool) error
	CancelRun(ctx context.Context, id int64) (api.Run, error)
	// WatchEvents streams the daemon's events with id > after, oldest first, then live ones as
	// they happen, calling fn for each until ctx ends, fn returns an error, or the connection
	// breaks (then it returns that error; the caller reconnects). after = -1 means "only
	// events from now on".
	WatchEvents(ctx context.Context, after int64, fn func(api.Event) error) error
}
