package tui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"

	"github.com/arbiterd/arbiter/api"
)

// keyMsg makes the key press that bubbletea reports for a key's name.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// testModel is a model over the fake's snapshot, at 80x24, with every history loaded.
func testModel(t *testing.T, opts Options) (*model, *fakeSource) {
	f := newFakeSource()
	opts.NoColor = true
	opts.Now = func() time.Time { return t0 }
	m := newModel(t.Context(), f, opts, time.UTC)
	m.s = loadedState(f, opts, 80, 24)
	return m, f
}

// drive sends msg and then, synchronously, the messages its commands produce, the way the
// program would; it reports whether the model asked to quit.
func drive(m *model, msg tea.Msg) (quit bool) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg, queue = queue[0], queue[1:]
		switch msg := msg.(type) {
		case tea.QuitMsg:
			quit = true
			continue
		case tea.BatchMsg:
			for _, c := range msg {
				if c != nil {
					queue = append(queue, c())
				}
			}
			continue
		case nil:
			continue
		}
		if _, cmd := m.Update(msg); cmd != nil {
			queue = append(queue, cmd())
		}
	}
	return quit
}

func press(m *model, keys ...string) (quit bool) {
	for _, k := range keys {
		quit = drive(m, keyMsg(k)) || quit
	}
	return quit
}

func TestKeys(t *testing.T) {
	t.Parallel()
	selected := func(want string) func(*testing.T, *model, *fakeSource) {
		return func(t *testing.T, m *model, _ *fakeSource) {
			if got := m.s.selectedName(); got != want {
				t.Errorf("selected %q; want %q", got, want)
			}
		}
	}
	calls := func(want ...string) func(*testing.T, *model, *fakeSource) {
		return func(t *testing.T, m *model, f *fakeSource) {
			var got []string
			for _, c := range f.called() {
				if !strings.HasPrefix(c, "watch") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("calls %q; want %q", got, want)
			}
		}
	}
	flash := func(want string) func(*testing.T, *model, *fakeSource) {
		return func(t *testing.T, m *model, _ *fakeSource) {
			if !strings.Contains(m.s.flash, want) {
				t.Errorf("status line %q; want it to contain %q", m.s.flash, want)
			}
		}
	}
	inView := func(v view) func(*testing.T, *model, *fakeSource) {
		return func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.view != v {
				t.Errorf("view %d; want %d", m.s.view, v)
			}
		}
	}
	all := func(checks ...func(*testing.T, *model, *fakeSource)) func(*testing.T, *model, *fakeSource) {
		return func(t *testing.T, m *model, f *fakeSource) {
			for _, c := range checks {
				c(t, m, f)
			}
		}
	}
	// The fake's jobs by next fire: heartbeat, sync, disk-usage, flaky, backup, morning-report.
	tests := []struct {
		name     string
		readOnly bool
		keys     []string
		quit     bool
		check    func(*testing.T, *model, *fakeSource)
	}{
		{name: "j moves down", keys: []string{"j"}, check: selected("sync")},
		{name: "down moves down", keys: []string{"down", "down"}, check: selected("disk-usage")},
		{name: "k moves up", keys: []string{"j", "j", "k"}, check: selected("sync")},
		{name: "up stops at the top", keys: []string{"up"}, check: selected("heartbeat")},
		{name: "G goes to the bottom", keys: []string{"G"}, check: selected("morning-report")},
		{name: "end goes to the bottom", keys: []string{"end"}, check: selected("morning-report")},
		{name: "g goes to the top", keys: []string{"G", "g"}, check: selected("heartbeat")},
		{name: "home goes to the top", keys: []string{"G", "home"}, check: selected("heartbeat")},
		{name: "pgdown pages", keys: []string{"pgdown"}, check: selected("morning-report")},
		{name: "pgup pages", keys: []string{"pgdown", "pgup"}, check: selected("heartbeat")},
		{name: "s sorts by name", keys: []string{"s"}, check: all(selected("heartbeat"), func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.order[0] != "backup" || m.s.sort != sortName {
				t.Errorf("order %v, sort %v; want backup first by name", m.s.order, m.s.sort)
			}
		})},
		{name: "s cycles back to next fire", keys: []string{"s", "s", "s", "s"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.sort != sortNext || m.s.order[0] != "heartbeat" {
				t.Errorf("sort %v order %v", m.s.sort, m.s.order)
			}
		}},
		{name: "/ filters as typed", keys: []string{"/", "s", "y"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.input != inputFilter || !slices.Equal(m.s.order, []string{"sync"}) {
				t.Errorf("input %d order %v", m.s.input, m.s.order)
			}
		}},
		{name: "/ matches labels too", keys: []string{"/", "G", "p"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if !slices.Equal(m.s.order, []string{"sync"}) { // its labels are eu and gpu
				t.Errorf("order %v", m.s.order)
			}
		}},
		{name: "enter keeps the filter", keys: []string{"/", "s", "y", "backspace", "enter"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.input != inputNone || m.s.filter != "s" || len(m.s.order) != 2 {
				t.Errorf("input %d filter %q order %v", m.s.input, m.s.filter, m.s.order)
			}
		}},
		{name: "esc drops the filter", keys: []string{"/", "s", "y", "esc"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.filter != "" || len(m.s.order) != 6 {
				t.Errorf("filter %q order %v", m.s.filter, m.s.order)
			}
		}},
		{name: "q typed into the filter does not quit", keys: []string{"/", "q"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.filter != "q" {
				t.Errorf("filter %q", m.s.filter)
			}
		}},
		{name: "enter opens the runs", keys: []string{"enter"}, check: all(inView(viewRuns), func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.runsJob != "heartbeat" || len(m.s.runs) != 3 || m.s.runs[0].ID != 10 {
				t.Errorf("runs of %q: %d", m.s.runsJob, len(m.s.runs))
			}
		})},
		{name: "esc leaves the runs", keys: []string{"enter", "esc"}, check: inView(viewJobs)},
		{name: "enter on a run opens its log", keys: []string{"j", "j", "j", "enter", "j", "enter"}, check: all(inView(viewLog), calls("output 6 follow=false"))},
		{name: "l opens the last run's log, following", keys: []string{"l"}, check: all(inView(viewLog), calls("output 10 follow=true"), func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.log.lines[0] != "heartbeat 1" || m.s.log.streaming {
				t.Errorf("log %q streaming %v; want the output read to its end", m.s.log.lines, m.s.log.streaming)
			}
		})},
		{name: "l without a run says so", keys: []string{"G", "l"}, check: all(inView(viewJobs), flash("no run"))},
		{name: "esc leaves the log for the runs", keys: []string{"enter", "enter", "esc"}, check: inView(viewRuns)},
		{name: "esc leaves the log for the jobs", keys: []string{"l", "esc"}, check: inView(viewJobs)},
		{name: "/ searches the log, n and N move", keys: []string{"j", "j", "j", "enter", "enter", "/", "c", "h", "e", "c", "k", "enter", "n"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if !slices.Equal(m.s.log.matches, []int{0, 2}) || m.s.log.match != 1 {
				t.Errorf("matches %v current %d", m.s.log.matches, m.s.log.match)
			}
			press(m, "N", "N")
			if m.s.log.match != 1 {
				t.Errorf("after N N: current %d", m.s.log.match)
			}
		}},
		{name: "? shows the help, any key closes it", keys: []string{"?"}, check: func(t *testing.T, m *model, _ *fakeSource) {
			if !m.s.showHelp {
				t.Fatal("no help")
			}
			press(m, "j")
			if m.s.showHelp || m.s.selectedName() != "heartbeat" {
				t.Errorf("help %v selected %s: the closing key must do nothing else", m.s.showHelp, m.s.selectedName())
			}
		}},
		{name: "q quits", keys: []string{"q"}, quit: true},
		{name: "ctrl+c quits", keys: []string{"ctrl+c"}, quit: true},
		{name: "ctrl+c quits while filtering", keys: []string{"/", "ctrl+c"}, quit: true},
		{name: "r runs the job", keys: []string{"r"}, check: all(calls("trigger heartbeat"), flash("run 100 of heartbeat triggered"), func(t *testing.T, m *model, _ *fakeSource) {
			if _, ok := m.s.active[100]; !ok {
				t.Error("the new run is not counted as queued")
			}
		})},
		{name: "p pauses", keys: []string{"p"}, check: all(calls("pause heartbeat"), flash("paused heartbeat"), func(t *testing.T, m *model, _ *fakeSource) {
			if !m.s.jobs["heartbeat"].Paused {
				t.Error("not paused")
			}
		})},
		{name: "p resumes a paused job", keys: []string{"G", "p"}, check: all(calls("resume morning-report"), flash("resumed"))},
		{name: "c cancels the job's running run", keys: []string{"c"}, check: all(calls("cancel 10"), flash("cancelling run 10"))},
		{name: "c without a running run says so", keys: []string{"j", "j", "c"}, check: all(calls(), flash("no active run"))},
		{name: "c in the runs view cancels the selected run", keys: []string{"enter", "c"}, check: calls("cancel 10")},
		{name: "c on a finished run refuses", keys: []string{"enter", "j", "j", "c"}, check: all(calls(), flash("not active"))},
		{name: "d asks first", keys: []string{"d"}, check: all(calls(), func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.input != inputConfirm || m.s.confirm != "heartbeat" {
				t.Errorf("input %d confirm %q", m.s.input, m.s.confirm)
			}
		})},
		{name: "d y deletes", keys: []string{"d", "y"}, check: all(calls("delete heartbeat"), flash("deleted heartbeat"), selected("sync"))},
		{name: "d n keeps", keys: []string{"d", "n"}, check: all(calls(), flash("kept heartbeat"), selected("heartbeat"))},
		{name: "read-only refuses r", readOnly: true, keys: []string{"r"}, check: all(calls(), flash("read-only"))},
		{name: "read-only refuses p c d", readOnly: true, keys: []string{"p", "c", "d"}, check: all(calls(), flash("read-only"), func(t *testing.T, m *model, _ *fakeSource) {
			if m.s.input != inputNone {
				t.Error("d asked for confirmation in read-only mode")
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, f := testModel(t, Options{ReadOnly: tt.readOnly})
			if quit := press(m, tt.keys...); quit != tt.quit {
				t.Errorf("quit = %v; want %v", quit, tt.quit)
			}
			if tt.check != nil {
				tt.check(t, m, f)
			}
		})
	}
}

func TestMouseWheel(t *testing.T) {
	t.Parallel()
	m, _ := testModel(t, Options{})
	drive(m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if got := m.s.selectedName(); got != "flaky" {
		t.Errorf("after a wheel notch down: %s; want flaky, 3 rows on", got)
	}
	drive(m, tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if got := m.s.selectedName(); got != "heartbeat" {
		t.Errorf("after a wheel notch up: %s", got)
	}
}

// TestEvents: events re-read only what they name, and fold the answer into the screen.
func TestEvents(t *testing.T) {
	t.Parallel()
	m, f := testModel(t, Options{})
	// heartbeat's running run 10 succeeds.
	f.mu.Lock()
	r := f.runs[10]
	r.State, r.FinishedAt, r.ExitCode = "succeeded", at(0), code(0)
	f.runs[10] = r
	f.runs[12] = api.Run{ID: 12, Job: "flaky", State: "failed", FinishedAt: at(0), StartedAt: at(-time.Second)}
	f.mu.Unlock()
	drive(m, eventMsg(api.Event{ID: 1, Kind: "run.succeeded", Job: "heartbeat", RunID: 10}))
	drive(m, eventMsg(api.Event{ID: 2, Kind: "run.failed", Job: "flaky", RunID: 12}))
	if got := m.s.jobs["heartbeat"].LastRun.State; got != "succeeded" {
		t.Errorf("heartbeat's last state %s", got)
	}
	if running, _ := m.s.counts(); running != 0 {
		t.Errorf("running %d; want 0", running)
	}
	if got := m.s.failures24h(); got != 3 {
		t.Errorf("failures in 24h: %d; want 3", got)
	}
	if h := m.s.history["flaky"]; h[0].ID != 12 {
		t.Errorf("flaky's history starts with %d", h[0].ID)
	}
	// A job event re-reads the job; a deleted job leaves.
	f.mu.Lock()
	j := f.jobs["sync"]
	j.Paused = true
	f.jobs["sync"] = j
	f.mu.Unlock()
	drive(m, eventMsg(api.Event{ID: 3, Kind: "job.paused", Job: "sync"}))
	if !m.s.jobs["sync"].Paused {
		t.Error("sync not paused after job.paused")
	}
	drive(m, eventMsg(api.Event{ID: 4, Kind: "job.deleted", Job: "sync"}))
	if _, ok := m.s.jobs["sync"]; ok || slices.Contains(m.s.order, "sync") {
		t.Error("sync still shown after job.deleted")
	}
}

// TestHistoryLazy: only the rows on screen get their history read.
func TestHistoryLazy(t *testing.T) {
	t.Parallel()
	f := newFakeSource()
	for i := range 100 {
		name := fmt.Sprintf("job-%03d", i)
		f.jobs[name] = api.Job{Name: name, Schedule: "@hourly"}
	}
	m := newModel(context.Background(), f, Options{NoColor: true, Now: func() time.Time { return t0 }}, time.UTC)
	snap, _ := newFeed(f, nil).snapshot(context.Background())
	drive(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	drive(m, snap)
	if n, rows := len(m.s.asked), m.s.bodyRows(); n != rows {
		t.Errorf("%d histories read; want the %d rows on screen", n, rows)
	}
}

// Jobs re-read one at a time are placed among the others without sorting them all again; the
// order and the paused count must come out as a full reorder would make them, whatever the sort
// and the filter.
func TestPlaceMatchesReorder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sort := range []sortKey{sortNext, sortName, sortState} {
		for _, filter := range []string{"", "1"} {
			s := newState(Options{}, t0, time.UTC)
			s.resize(120, 40)
			s.sort, s.filter = sort, filter
			for step := range 2000 {
				name := fmt.Sprintf("job-%02d", rng.IntN(40))
				if rng.IntN(5) == 0 {
					s.deleteJob(name)
					continue
				}
				j := api.Job{Name: name, Paused: rng.IntN(4) == 0}
				if !j.Paused {
					j.NextRun = at(time.Duration(rng.IntN(100)) * time.Minute)
				}
				if rng.IntN(3) > 0 {
					j.LastRun = &api.RunRef{ID: int64(step), State: []string{"succeeded", "failed", "running"}[rng.IntN(3)]}
				}
				s.putJob(j)

				got, paused := slices.Clone(s.order), s.paused
				s.reorder()
				if !slices.Equal(got, s.order) || paused != s.paused {
					t.Fatalf("sort %s, filter %q, step %d: placed %v (%d paused), reordered %v (%d paused)",
						sort, filter, step, got, paused, s.order, s.paused)
				}
			}
		}
	}
}

// A run that floods its output must not grow the log view without bound: lines are cut at
// maxLogLine bytes (never inside a character) and only the newest lines are kept.
func TestLogBounded(t *testing.T) {
	s := newState(Options{}, t0, time.UTC)
	s.resize(80, 24)
	s.openLog(api.Run{ID: 1, Job: "flood", State: "running"}, true)
	chunk := strings.Repeat("é", 1000) // 2,000 bytes, no newline
	for range 10 {
		s.appendLog(chunk)
	}
	if got := len(s.log.lines[0]); got > maxLogLine || got < maxLogLine-1 {
		t.Errorf("a 20,000-byte line kept as %d bytes, want %d at most and no less than one character short", got, maxLogLine)
	}
	if !utf8.ValidString(s.log.lines[0]) {
		t.Error("the cut line is not valid UTF-8")
	}
	for i := range 3 * maxLogLines {
		s.appendLog(fmt.Sprintf("\nline %d", i))
	}
	if n := len(s.log.lines); n < maxLogLines || n > maxLogLines+maxLogLines/4 {
		t.Errorf("%d lines kept, want %d to %d", n, maxLogLines, maxLogLines+maxLogLines/4)
	}
	if last := s.log.lines[len(s.log.lines)-1]; last != fmt.Sprintf("line %d", 3*maxLogLines-1) {
		t.Errorf("last line %q, want the newest", last)
	}
	if want := max(s.logLines()-s.logRows(), 0); s.log.top != want {
		t.Errorf("following, the view's top is %d, want %d (the newest lines on screen)", s.log.top, want)
	}
}
