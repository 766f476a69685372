package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(stopPGAfter{m}) }

// pg is the package's PostgreSQL server, started on first use and stopped after the tests
// (before goleak looks for goroutines left behind).
var pg struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

func pgServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = pgtest.Start(context.Background()) })
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	return pg.srv
}

type stopPGAfter struct{ m *testing.M }

func (s stopPGAfter) Run() int {
	code := s.m.Run()
	if pg.srv != nil {
		if err := pg.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

// startInProcess runs a daemon in this process on a fresh data dir and returns an HTTP client
// on its socket.
func startInProcess(t *testing.T, cfg Config) (*http.Client, func() error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "arbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return startAt(t, dir, cfg)
}

// startAt runs a daemon in this process on dir/data, with its socket at dir/s.sock, until the
// returned stop is called.
func startAt(tb testing.TB, dir string, cfg Config) (*http.Client, func() error) {
	tb.Helper()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Socket = filepath.Join(dir, "s.sock")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Signals = make(chan os.Signal) // stopped through ctx instead
	ready := make(chan struct{})
	cfg.Ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("daemon stopped before it was ready: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", cfg.Socket)
	}}}
	stop := func() error {
		hc.CloseIdleConnections()
		cancel()
		return <-done
	}
	return hc, stop
}

func TestRunStopsCleanlyWithoutLeaks(t *testing.T) {
	hc, stop := startInProcess(t, Config{ShutdownGrace: time.Second})
	body := `{"name":"quick","schedule":"0 0 1 1 *","command":["echo","hi"]}`
	resp, err := hc.Post("http://arbiter/v1/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create job: %s", resp.Status)
	}
	resp, err = hc.Post("http://arbiter/v1/jobs/quick/trigger", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run api.Run
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %s %v", resp.Status, err)
	}
	// Following the output returns once the run has ended.
	resp, err = hc.Get("http://arbiter/v1/runs/" + strconv.FormatInt(run.ID, 10) + "/output?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("output = %q, %v", out, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after a clean stop", err)
	}
}

func TestRunRefusesASecondDaemonOnTheDataDir(t *testing.T) {
	dir, err := os.MkdirTemp("", "arbd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	err = Run(context.Background(), Config{
		DataDir: dir, Socket: filepath.Join(dir, "s.sock"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "already using data dir") || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("Run = %v, want a refusal naming the holder", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "arbiter.db")); !os.IsNotExist(err) {
		t.Errorf("the refused daemon touched the database: %v", err)
	}
}

// GET /v1/jobs is written as `arbiter ls -o json` prints it (indented, no HTML escapes), a page at
// a time: every job once, in name order, across page boundaries.
func TestListJobsFormat(t *testing.T) {
	hc, stop := startInProcess(t, Config{})
	defer stop()
	list := func() (string, api.JobList) {
		t.Helper()
		resp, err := hc.Get("http://arbiter/v1/jobs")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/jobs: %s %v", resp.Status, err)
		}
		var l api.JobList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("decode: %v\n%s", err, body)
		}
		// The CLI's way of printing JSON.
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
		if string(body) != want.String() {
			t.Fatalf("GET /v1/jobs is not in the CLI's format:\n%s\nwant:\n%s", body, want.String())
		}
		return string(body), l
	}
	if body, _ := list(); body != "{\n  \"jobs\": []\n}\n" {
		t.Errorf("empty list = %q", body)
	}

	n := jobsPage + 1
	req := api.ApplyRequest{Jobs: make([]api.JobSpec, n)}
	for i := range req.Jobs {
		req.Jobs[i] = api.JobSpec{Name: fmt.Sprintf("job-%05d", n-i), Schedule: "@daily", Shell: "backup 2>&1 && echo <done>"}
	}
	b, _ := json.Marshal(req)
	resp, err := hc.Post("http://arbiter/v1/apply", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply: %s", resp.Status)
	}
	_, l := list()
	if len(l.Jobs) != n {
		t.Fatalf("%d jobs listed, want %d", len(l.Jobs), n)
	}
	for i, j := range l.Jobs {
		if want := fmt.Sprintf("job-%05d", i+1); j.Name != want {
			t.Fatalf("job %d is %q, want %q: every job once, in name order", i, j.Name, want)
		}
	}
}
