package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// The event log streams each change as it commits: a follower that starts now sees the job
// created after it, its run queued, running and ended, in order, and nothing from before.
func TestEventsFollow(t *testing.T) {
	hc, stop := startInProcess(t, Config{})
	defer stop()
	post := func(path, body string) {
		t.Helper()
		resp, err := hc.Post("http://arbiter/v1"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	post("/jobs", `{"name": "before", "schedule": "@daily", "shell": "true"}`)

	resp, err := hc.Get("http://arbiter/v1/events?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET /v1/events?follow=1: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := make(chan api.Event)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e api.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("a line that is not an event: %q: %v", sc.Text(), err)
				return
			}
			lines <- e
		}
	}()
	post("/jobs", `{"name": "after", "schedule": "@daily", "shell": "echo hi"}`)
	post("/jobs/after/trigger", ``)

	var kinds []string
	var last int64
	timeout := time.After(30 * time.Second)
	for !slices.Contains(kinds, "run.succeeded") {
		select {
		case e, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %v", kinds)
			}
			if e.ID <= last {
				t.Errorf("event %d after event %d: ids must rise", e.ID, last)
			}
			last = e.ID
			if e.Job != "after" {
				t.Errorf("event %+v: only the job created after the stream began", e)
			}
			kinds = append(kinds, e.Kind)
		case <-timeout:
			t.Fatalf("after 30s the stream has %v; want the run to succeed", kinds)
		}
	}
	if want := []string{"job.created", "run.queued", "run.running", "run.succeeded"}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

func TestEventsPage(t *testing.T) {
	hc, stop := startInProcess(t, Config{})
	defer stop()
	for i := range 3 {
		body := fmt.Sprintf(`{"name": "j%d", "schedule": "@daily", "shell": "true", "paused": true}`, i)
		resp, err := hc.Post("http://arbiter/v1/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get := func(query string) ([]api.Event, int) {
		t.Helper()
		resp, err := hc.Get("http://arbiter/v1/events" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var events []api.Event
		for dec := json.NewDecoder(resp.Body); dec.More(); {
			var e api.Event
			if err := dec.Decode(&e); err != nil {
				break // an error answer
			}
			events = append(events, e)
		}
		return events, resp.StatusCode
	}
	all, status := get("")
	// Each paused creation is two events: job.created, then job.paused.
	if status != http.StatusOK || len(all) != 6 || all[0].Kind != "job.created" || all[1].Kind != "job.paused" {
		t.Fatalf("GET /v1/events = %d, %+v; want 6 events, created then paused", status, all)
	}
	resp, err := hc.Get("http://arbiter/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st api.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.LastEventID != all[5].ID {
		t.Errorf("status last_event_id = %d, %v; want %d, the newest event", st.LastEventID, err, all[5].ID)
	}
	if got, _ := get("?latest=1&limit=2"); !slices.Equal(got, all[4:]) {
		t.Errorf("latest=1&limit=2: %+v, want the newest two, oldest first", got)
	}
	if got, _ := get("?limit=2"); !slices.Equal(got, all[:2]) {
		t.Errorf("limit=2: %+v, want the first two", got)
	}
	if got, _ := get(fmt.Sprintf("?after=%d", all[3].ID)); !slices.Equal(got, all[4:]) {
		t.Errorf("after the fourth: %+v, want the last two", got)
	}
	if got, _ := get("?job=j1"); len(got) != 2 || got[0].Job != "j1" || got[1].Job != "j1" {
		t.Errorf("job=j1: %+v, want its two events", got)
	}
	for _, q := range []string{"?follow=maybe", "?after=-3", "?after=x", "?limit=5000", "?limit=-1", "?latest=2", "?latest=1&follow=1"} {
		if _, status := get(q); status != http.StatusBadRequest {
			t.Errorf("GET /v1/events%s = %d, want 400", q, status)
		}
	}
}

// A daemon shutting down ends its followers' streams cleanly, rather than holding the shutdown
// up until it cuts them off: a dashboard left open must not slow every restart.
func TestEventsFollowEndsAtShutdown(t *testing.T) {
	hc, stop := startInProcess(t, Config{})
	resp, err := hc.Get("http://arbiter/v1/events?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A stream cut off by closing the connection ends in io.ErrUnexpectedEOF: its last chunk
	// never came.
	if err := <-done; err != nil {
		t.Errorf("the event stream ended with %v, want a clean end", err)
	}
}
