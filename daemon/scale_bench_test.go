package daemon

import (
	"fmt"
	"io"
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

func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		dir := seedScale(b, n)
		b.Run(fmt.Sprintf("start/jobs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, stop := startAt(b, dir, Config{})
				if err := stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("list/jobs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			hc, stop := startAt(b, dir, Config{})
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
