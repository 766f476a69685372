package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// Messages from the feed.
type (
	// snapshotMsg is a fresh read of the daemon after (re)connecting.
	snapshotMsg struct {
		status api.Status
		jobs   []api.Job
		active []api.Run // queued and running
		failed []api.Run // failed, timed out and lost, newest first
	}
	// lostMsg says the connection broke; the feed is reconnecting.
	lostMsg  struct{ err error }
	eventMsg api.Event
)

// feed keeps the dashboard live: it reads a snapshot, then follows the daemon's event stream,
// and when the stream breaks (the daemon restarted) it reconnects with backoff and reads a new
// snapshot. It never re-lists on a timer: between reconnects, only events cause reads.
type feed struct {
	src        Source
	send       func(tea.Msg)
	minBackoff time.Duration
	maxBackoff time.Duration
}

func newFeed(src Source, send func(tea.Msg)) feed {
	return feed{src: src, send: send, minBackoff: 250 * time.Millisecond, maxBackoff: 5 * time.Second}
}

// run feeds until ctx ends.
func (f feed) run(ctx context.Context) {
	// The first stream starts after the newest event when the snapshot's status was read, and
	// later ones after the last event seen: nothing between a snapshot and its stream is missed.
	// Replays are harmless, because events only cause re-reads.
	after := int64(-1)
	backoff := f.minBackoff
	for {
		snap, err := f.snapshot(ctx)
		if err == nil {
			if after < 0 {
				after = snap.status.LastEventID
			}
			f.send(snap)
			connected := time.Now()
			err = f.src.WatchEvents(ctx, after, func(e api.Event) error {
				after = e.ID
				f.send(eventMsg(e))
				return nil
			})
			// A stream that held for a while earns a quick reconnect; one that breaks at once
			// (a daemon without the endpoint) must not make us re-list every job in a loop.
			if time.Since(connected) > f.maxBackoff {
				backoff = f.minBackoff
			}
		}
		if ctx.Err() != nil {
			return
		}
		f.send(lostMsg{err})
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, f.maxBackoff)
	}
}

// failedStates are the outcomes the header counts as failures.
var failedStates = []arbiter.RunState{arbiter.StateFailed, arbiter.StateTimedOut, arbiter.StateLost}

func (f feed) snapshot(ctx context.Context) (snapshotMsg, error) {
	var m snapshotMsg
	var err error
	if m.status, err = f.src.Status(ctx); err != nil {
		return m, err
	}
	if m.jobs, err = f.src.ListJobs(ctx); err != nil {
		return m, err
	}
	active := []arbiter.RunState{arbiter.StateQueued, arbiter.StateRunning}
	if m.active, err = f.src.ListRuns(ctx, api.RunsQuery{States: active, Limit: 1000}); err != nil {
		return m, err
	}
	// The newest thousand failures; the header counts those of the last 24 h.
	if m.failed, err = f.src.ListRuns(ctx, api.RunsQuery{States: failedStates, Limit: 1000}); err != nil {
		return m, err
	}
	return m, nil
}
