package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// socketPath returns a fresh socket path short enough for the 108-byte limit, which
// t.TempDir's test-named directories can exceed.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "arb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// serve runs h on a Unix socket and returns a client for it.
func serve(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return client.New(path)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func TestCalls(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	job := api.Job{Name: "backup", Schedule: "0 3 * * *", Timezone: "UTC", Command: []string{"backup.sh"}, CreatedAt: at, UpdatedAt: at}
	run := api.Run{ID: 7, Job: "backup", State: "queued", Trigger: "manual", ScheduledAt: at}
	spec := api.JobSpec{Name: "backup", Schedule: "0 3 * * *", Command: []string{"backup.sh"}}
	fire := at.Add(15 * time.Hour)
	why := api.Why{Job: "backup", At: at, Fire: &fire, Explanation: "The fire at 03:00 will run.", Runs: []api.Run{run}}
	tokyo := time.FixedZone("JST", 9*3600)

	type request struct{ method, uri, body string }
	var got request
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = request{r.Method, r.URL.RequestURI(), strings.TrimSpace(string(b))}
		if len(b) > 0 && r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: Content-Type %q", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		switch {
		case r.URL.Path == "/v1/status":
			writeJSON(w, 200, api.Status{Version: "1.0", PID: 42, Runs: map[string]int{"failed": 1}})
		case r.URL.Path == "/v1/version":
			writeJSON(w, 200, api.Version{Version: "1.0", Go: "go1.26"})
		case r.URL.Path == "/v1/jobs" && r.Method == http.MethodGet:
			writeJSON(w, 200, api.JobList{Jobs: []api.Job{job}})
		case r.URL.Path == "/v1/jobs" && r.Method == http.MethodPost:
			writeJSON(w, 201, job)
		case r.Method == http.MethodDelete:
			w.WriteHeader(204)
		case strings.HasSuffix(r.URL.Path, "/trigger"):
			writeJSON(w, 202, run)
		case strings.HasSuffix(r.URL.Path, "/why"):
			writeJSON(w, 200, why)
		case strings.HasPrefix(r.URL.Path, "/v1/jobs/"):
			writeJSON(w, 200, job)
		case r.URL.Path == "/v1/runs":
			writeJSON(w, 200, api.RunList{Runs: []api.Run{run}})
		default:
			writeJSON(w, 200, run)
		}
	}))
	ctx := context.Background()
	specJSON := `{"name":"backup","schedule":"0 3 * * *","command":["backup.sh"]}`

	tests := []struct {
		name string
		call func() (any, error)
		want any
		req  request
	}{
		{"Status", func() (any, error) { return c.Status(ctx) },
			api.Status{Version: "1.0", PID: 42, Runs: map[string]int{"failed": 1}}, request{"GET", "/v1/status", ""}},
		{"Version", func() (any, error) { return c.Version(ctx) },
			api.Version{Version: "1.0", Go: "go1.26"}, request{"GET", "/v1/version", ""}},
		{"ListJobs", func() (any, error) { return c.ListJobs(ctx) }, []api.Job{job}, request{"GET", "/v1/jobs", ""}},
		{"GetJob", func() (any, error) { return c.GetJob(ctx, "backup") }, job, request{"GET", "/v1/jobs/backup", ""}},
		{"CreateJob", func() (any, error) { return c.CreateJob(ctx, spec) }, job, request{"POST", "/v1/jobs", specJSON}},
		{"UpdateJob", func() (any, error) { return c.UpdateJob(ctx, "backup", spec) }, job, request{"PUT", "/v1/jobs/backup", specJSON}},
		{"DeleteJob", func() (any, error) { return nil, c.DeleteJob(ctx, "backup", false) }, nil, request{"DELETE", "/v1/jobs/backup", ""}},
		{"DeleteJob forced", func() (any, error) { return nil, c.DeleteJob(ctx, "backup", true) }, nil, request{"DELETE", "/v1/jobs/backup?force=1", ""}},
		{"PauseJob", func() (any, error) { return c.PauseJob(ctx, "backup", false) }, job, request{"POST", "/v1/jobs/backup/pause", ""}},
		{"ResumeJob", func() (any, error) { return c.ResumeJob(ctx, "backup", true) }, job, request{"POST", "/v1/jobs/backup/resume?force=1", ""}},
		{"TriggerJob", func() (any, error) { return c.TriggerJob(ctx, "backup") }, run, request{"POST", "/v1/jobs/backup/trigger", ""}},
		{"Why at a time", func() (any, error) { return c.Why(ctx, "backup", at.In(tokyo).Add(400*time.Millisecond)) },
			why, request{"GET", "/v1/jobs/backup/why?at=2026-03-01T12%3A00%3A00.4Z", ""}},
		{"Why now", func() (any, error) { return c.Why(ctx, "backup", time.Time{}) }, why, request{"GET", "/v1/jobs/backup/why", ""}},
		{"ListRuns all", func() (any, error) { return c.ListRuns(ctx, api.RunsQuery{}) }, []api.Run{run}, request{"GET", "/v1/runs", ""}},
		{"ListRuns filtered", func() (any, error) {
			return c.ListRuns(ctx, api.RunsQuery{Job: "backup", States: []arbiter.RunState{arbiter.StateFailed, arbiter.StateTimedOut}, Limit: 5, Before: 90})
		}, []api.Run{run}, request{"GET", "/v1/runs?before=90&job=backup&limit=5&state=failed%2Ctimed_out", ""}},
		{"GetRun", func() (any, error) { return c.GetRun(ctx, 7) }, run, request{"GET", "/v1/runs/7", ""}},
		{"CancelRun", func() (any, error) { return c.CancelRun(ctx, 7) }, run, request{"POST", "/v1/runs/7/cancel", ""}},
	}
	for _, tt := range tests {
		// Sequential: the handler records into one variable.
		got = request{}
		v, err := tt.call()
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.want != nil && !reflect.DeepEqual(v, tt.want) {
			t.Errorf("%s = %+v, want %+v", tt.name, v, tt.want)
		}
		if got != tt.req {
			t.Errorf("%s sent %+v, want %+v", tt.name, got, tt.req)
		}
	}
}

func TestOutputStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RequestURI() != "/v1/runs/3/output?after=2&follow=1" {
			t.Errorf("request %s", r.URL.RequestURI())
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	body, err := c.Output(context.Background(), 3, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	// The first line arrives while the server still holds the response open: it streams.
	buf := make([]byte, 6)
	if _, err := io.ReadFull(body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first read = %q, %v", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(body)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest = %q, %v", rest, err)
	}
}

func TestOutputCancel(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "x")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream ends when the client goes away
		close(done)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	body, err := c.Output(ctx, 1, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	cancel()
	if _, err := io.ReadAll(body); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	<-done
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		want     client.APIError
		sentinel error
	}{
		{"json not found", 404, `{"error":{"code":"not_found","message":"job \"x\" not found"}}`,
			client.APIError{Status: 404, Code: "not_found", Message: `job "x" not found`}, arbiter.ErrNotFound},
		{"json conflict", 409, `{"error":{"code":"conflict","message":"job \"x\" exists"}}`,
			client.APIError{Status: 409, Code: "conflict", Message: `job "x" exists`}, arbiter.ErrConflict},
		{"json invalid", 400, `{"error":{"code":"invalid_argument","message":"schedule: bad"}}`,
			client.APIError{Status: 400, Code: "invalid_argument", Message: "schedule: bad"}, arbiter.ErrInvalid},
		{"plain text", 404, "404 page not found\n",
			client.APIError{Status: 404, Code: "not_found", Message: "404 page not found"}, arbiter.ErrNotFound},
		{"empty 500", 500, "",
			client.APIError{Status: 500, Code: "internal"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			_, err := c.GetJob(context.Background(), "x")
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if *ae != tt.want {
				t.Errorf("err = %+v, want %+v", *ae, tt.want)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if ae.Error() == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestNotRunning(t *testing.T) {
	t.Parallel()
	refused := socketPath(t)
	ln, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	// A socket file whose daemon died: keep the file, lose the listener.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()

	tests := []struct {
		name   string
		socket string
		errno  error
	}{
		{"no socket file", filepath.Join(filepath.Dir(refused), "missing.sock"), syscall.ENOENT},
		{"stale socket file", refused, syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.socket).Status(context.Background())
			var nr *client.NotRunningError
			if !errors.As(err, &nr) {
				t.Fatalf("err = %v (%T), want *NotRunningError", err, err)
			}
			if nr.Socket != tt.socket || !errors.Is(err, tt.errno) {
				t.Errorf("err = %+v, want socket %s and %v", nr, tt.socket, tt.errno)
			}
			want := "cannot reach the arbiter daemon at " + tt.socket + ": is `arbiter daemon` running? (set --socket or ARBITER_SOCKET to use another socket)"
			if err.Error() != want {
				t.Errorf("message:\n%s\nwant\n%s", err, want)
			}
		})
	}
}

// A user outside the socket's group is told which group to join, or, when no group may use
// the socket, whom to run as.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	group, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, nil, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	grouped := file("grouped.sock", 0o660)
	if os.Getgid() == 0 {
		// Tests run as root, whose group root is no group to join: give the file a real one.
		if err := os.Chown(grouped, -1, 65534); err != nil {
			t.Skipf("cannot give the file group 65534: %v", err)
		}
		if group, err = user.LookupGroupId("65534"); err != nil {
			t.Skipf("no group 65534: %v", err)
		}
	}
	ownerOnly := file("owner.sock", 0o600)
	missing := filepath.Join(dir, "missing.sock")

	tests := []struct {
		name, socket, want string
	}{
		{"group may use it", grouped, "permission denied on " + grouped + ": it belongs to group \"" + group.Name +
			"\"; ask an administrator to add you (sudo usermod -aG " + group.Name + " $USER), then log in again"},
		{"owner only", ownerOnly, "permission denied on " + ownerOnly + ": only its owner \"" + me.Username +
			"\" may use it; run the command as " + me.Username + " or with sudo, or ask an administrator to set socket_group in the daemon's config"},
		{"cannot stat", missing, "permission denied on " + missing +
			": this user may not use the arbiter daemon's socket (or the directory holding it); run the command with sudo or ask an administrator for access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialErr := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
			err := client.AccessDenied(tt.socket, dialErr)
			if got := err.Error(); got != tt.want {
				t.Errorf("message:\n%s\nwant\n%s", got, tt.want)
			}
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("errors.Is(%v, EACCES) = false", err)
			}
		})
	}
}

func TestBrokenConnection(t *testing.T) {
	t.Parallel()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the daemon died mid-request
		}
	}))
	_, err := c.Status(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "GET /v1/status: ") || strings.Contains(err.Error(), "http://arbiter") {
		t.Errorf("err = %v, want it to name the route and not the placeholder host", err)
	}
}

func TestJobsJSON(t *testing.T) {
	t.Parallel()
	body := "{\n  \"jobs\": []\n}\n"
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/jobs" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	var out strings.Builder
	if err := c.JobsJSON(t.Context(), &out); err != nil || out.String() != body {
		t.Errorf("JobsJSON = %q, %v; want the answer as sent", out.String(), err)
	}

	// A list cut short mid-way fails.
	cut := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\n  \"jobs\": [\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	if err := cut.JobsJSON(t.Context(), io.Discard); err == nil {
		t.Error("JobsJSON of a list cut short = nil error")
	}
}

func TestWatchEvents(t *testing.T) {
	t.Parallel()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "/v1/events?after=7&follow=1"
		if r.URL.Query().Get("after") == "" {
			want = "/v1/events?follow=1"
		}
		if r.URL.RequestURI() != want {
			t.Errorf("request %s, want %s", r.URL.RequestURI(), want)
		}
		io.WriteString(w, `{"id":8,"at":"2026-11-22T10:00:00Z","kind":"job.created","job":"a","actor":"uid:0"}`+"\n")
		io.WriteString(w, `{"id":9,"at":"2026-11-22T10:00:01Z","kind":"run.queued","job":"a","run_id":3,"actor":"uid:0"}`+"\n")
	}))
	var got []string
	err := c.WatchEvents(context.Background(), 7, func(e api.Event) error {
		got = append(got, fmt.Sprintf("%d %s %s %d", e.ID, e.Kind, e.Job, e.RunID))
		return nil
	})
	// The daemon ending the stream is an error: a watcher must know to reconnect.
	if err == nil || !strings.Contains(err.Error(), "event stream ended") {
		t.Errorf("WatchEvents after the stream ended = %v", err)
	}
	if want := []string{"8 job.created a 0", "9 run.queued a 3"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}

	// fn's error stops the watch and is returned as it is.
	stopped := errors.New("enough")
	n := 0
	err = c.WatchEvents(context.Background(), -1, func(api.Event) error { n++; return stopped })
	if err != stopped || n != 1 {
		t.Errorf("WatchEvents with a failing fn = %v after %d events; want %v after 1", err, n, stopped)
	}
}

func TestWatchEventsCancel(t *testing.T) {
	t.Parallel()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := c.WatchEvents(ctx, -1, func(api.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchEvents after cancel = %v, want context.Canceled", err)
	}
}

func TestEventsPage(t *testing.T) {
	t.Parallel()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RequestURI() != "/v1/events?after=0&job=a&latest=1&limit=2" {
			t.Errorf("request %s", r.URL.RequestURI())
		}
		io.WriteString(w, `{"id":1,"at":"2026-11-22T10:00:00Z","kind":"job.created","job":"a","actor":"uid:0"}`+"\n")
		io.WriteString(w, `{"id":2,"at":"2026-11-22T10:00:00Z","kind":"job.paused","job":"a","actor":"uid:0"}`+"\n")
	}))
	events, err := c.Events(context.Background(), client.EventsQuery{Job: "a", Limit: 2, Latest: true})
	if err != nil || len(events) != 2 || events[1].Kind != "job.paused" {
		t.Errorf("Events = %+v, %v", events, err)
	}
}
