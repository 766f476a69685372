package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
	"github.com/arbiterd/arbiter/store/sqlitestore"
)

// The daemon's cost at size: start-up (load and plan every job) and the full job list, with
// 10,000 and 100,000 jobs that fire rarely. bench/ measures the same through the real binary;
// these profile it:
//
//	go test -run '^$' -bench Scale -benchtime 3x -cpuprofile cpu.out -memprofile mem.out ./daemon/

func scaleJobs(n int) []arbiter.Job {
	zones := []string{"UTC", "Europe/Berlin", "America/New_York"}
	jobs := make([]arbiter.Job, n)
	for i := range jobs {
		j := arbiter.Job{
			Name:     fmt.Sprintf("scale-%06d", i),
			Schedule: fmt.Sprintf("%d %d %d 1 *", i%60, (i/60)%24, i%28+1),
			Timezone: zones[i%3],
			Command:  []string{"/usr/local/bin/report", "--quiet"},
		}
		j.Normalize()
		jobs[i] = j
	}
	return jobs
}

// seedScale writes a data dir holding n jobs and returns it.
func seedScale(b *testing.B, n int) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "arbscale")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := sqlitestore.Open(b.Context(), filepath.Join(data, "arbiter.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ApplyJobs(b.Context(), store.JobApplyParams{Create: scaleJobs(n), Now: time.Now()}); err != nil {
		b.Fatal(err)
	}
	return dir
}

// startAt runs a daemon on dir until the returned stop is called.
func startAt(b *testing.B, dir string) (*http.Client, func()) {
	b.Helper()
	cfg := Config{
		DataDir: filepath.Join(dir, "data"),
		Socket:  filepath.Join(dir, "s.sock"),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Signals: make(chan os.Signal),
	}
	ready := make(chan struct{})
	cfg.Ready = ready
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		b.Fatalf("daemon stopped before it was ready: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", cfg.Socket)
	}}}
	return hc, func() {
		hc.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		dir := seedScale(b, n)
		b.Run(fmt.Sprintf("start/jobs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, stop := startAt(b, dir)
				stop()
			}
		})
		b.Run(fmt.Sprintf("list/jobs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			hc, stop := startAt(b, dir)
			defer stop()
			for b.Loop() {
				resp, err := hc.Get("http://arbiter/v1/jobs")
				if err != nil {
					b.Fatal(err)
				}
				size, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("list: %s %v", resp.Status, err)
				}
				b.SetBytes(size)
			}
		})
	}
}
