package tui

import (
	"fmt"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// BenchmarkView10k renders the jobs view at 120x40 with 10,000 jobs, beside a baseline of 100:
// only the rows on screen are built, so the two should cost about the same.
func BenchmarkView10k(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			s := newState(Options{}, t0, time.UTC)
			jobs := make([]api.Job, n)
			for i := range jobs {
				next := t0.Add(time.Duration(i) * time.Second)
				jobs[i] = api.Job{Name: fmt.Sprintf("job-%05d", i), Schedule: "*/5 * * * *", NextRun: &next,
					LastRun: &api.RunRef{ID: int64(i), State: "succeeded", StartedAt: at(-time.Minute), FinishedAt: at(-30 * time.Second)}}
			}
			s.snapshot(api.Status{Version: "v1", StartedAt: t0.Add(-time.Hour)}, jobs, nil, nil)
			s.resize(120, 40)
			for _, name := range s.visibleJobs() {
				runs := make([]api.Run, historyLen)
				for i := range runs {
					runs[i] = api.Run{ID: int64(historyLen - i), State: []string{"succeeded", "failed", "running"}[i%3], StartedAt: at(-time.Minute), FinishedAt: at(time.Duration(-i) * time.Second)}
				}
				s.history[name] = runs
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = renderView(&s)
			}
		})
	}
}

// BenchmarkPutJob folds one re-read job into the state, as each job event and each fire does,
// beside a baseline of 100 jobs.
func BenchmarkPutJob(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			s := newState(Options{}, t0, time.UTC)
			jobs := make([]api.Job, n)
			for i := range jobs {
				next := t0.Add(time.Duration(i) * time.Second)
				jobs[i] = api.Job{Name: fmt.Sprintf("job-%05d", i), Schedule: "*/5 * * * *", NextRun: &next}
			}
			s.snapshot(api.Status{Version: "v1", StartedAt: t0.Add(-time.Hour)}, jobs, nil, nil)
			s.resize(120, 40)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := jobs[i%n]
				next := j.NextRun.Add(time.Duration(n) * time.Second)
				j.NextRun = &next
				jobs[i%n] = j
				s.putJob(j)
				i++
			}
		})
	}
}
