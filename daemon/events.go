package daemon

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/store"
)

// eventsPage is how many events are read from the store at a time.
const eventsPage = 1000

// handleEvents writes the event log as JSON lines (api.Event), oldest first: the events after
// ?after=ID (of one ?job= if given), a page of ?limit= at most, the newest such page with
// latest=1. With follow=1 the stream stays open and each event is written as soon as its change
// commits; without ?after it then starts from now, so a dashboard that has just listed
// everything misses nothing and re-reads nothing.
func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	follow, err := boolParam(r, "follow")
	if err != nil {
		return err
	}
	latest, err := boolParam(r, "latest")
	if err != nil {
		return err
	}
	if latest && follow {
		return badRequest("latest=1 and follow=1 do not go together: follow starts after the newest event already")
	}
	limit, err := intParam(q.Get("limit"), "limit", 0, eventsPage)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = eventsPage
	}
	after, err := intParam(q.Get("after"), "after", 0, -1)
	if err != nil {
		return err
	}
	ctx := r.Context()
	last := int64(after)
	if follow && !q.Has("after") {
		latest, err := d.store.ListEvents(ctx, store.EventListParams{Latest: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(latest) > 0 {
			last = latest[0].ID
		}
	}
	job := q.Get("job")

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	poll := time.NewTimer(fallbackPoll)
	defer poll.Stop()
	for started := false; ; started = true {
		wake := d.commits.Wait(struct{}{}) // subscribe before reading, so no commit slips between
		n := limit
		if follow {
			n = eventsPage
		}
		events, err := d.store.ListEvents(ctx, store.EventListParams{AfterID: last, Job: job, Limit: n, Latest: latest})
		if err != nil {
			if !started {
				return err // nothing written yet: an error answer
			}
			return nil // the client went away, or the store is closing; the stream just ends
		}
		for _, e := range events {
			if err := enc.Encode(api.FromEvent(e)); err != nil {
				return nil
			}
			last = e.ID
		}
		if !follow {
			return nil
		}
		if len(events) == n {
			continue // more are waiting
		}
		// Also sends the headers of a stream with no event yet, so the client knows it is on.
		_ = rc.Flush()
		if !d.awaitMore(ctx, wake, poll) {
			return nil
		}
	}
}
