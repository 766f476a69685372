package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"go.uber.org/goleak"

	"github.com/arbiterd/arbiter/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest waits for a SIGINT for as long as the process lives.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest/v2.NewTestModel.func2"),
		// A tick sent before quitting fires within a second into the finished program.
		goleak.IgnoreTopFunction("charm.land/bubbletea/v2.Tick.func1"))
}

// screen records the frames the program draws. The output stream cannot be searched for text:
// the renderer writes only the cells that changed, so "● connected" after "◌ connecting…"
// never appears whole.
type screen struct {
	*model
	mu    *sync.Mutex
	frame *string
}

func (s screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := s.model.Update(msg)
	return s, cmd
}

func (s screen) View() tea.View {
	v := s.model.View()
	s.mu.Lock()
	*s.frame = v.Content
	s.mu.Unlock()
	return v
}

func (s screen) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.frame
}

// TestFlow drives the whole program the way a person would: start, filter, open a job's runs,
// open a run's log, go back, quit; with the feed connected to a fake daemon.
func TestFlow(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFakeSource()
	m := newModel(ctx, f, Options{NoColor: true, Now: func() time.Time { return t0 }, Socket: "/tmp/a.sock"}, time.UTC)
	sc := screen{model: m, mu: new(sync.Mutex), frame: new(string)}
	tm := teatest.NewTestModel(t, sc, teatest.WithInitialTermSize(100, 30))
	var wg sync.WaitGroup
	wg.Go(func() { newFeed(f, tm.Send).run(ctx) })
	defer wg.Wait()
	defer cancel()

	waitFor := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(sc.current(), what); {
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q; last frame:\n%s", what, sc.current())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("● connected")
	waitFor("morning-report")

	tm.Type("/fla")
	waitFor("filter: fla")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitFor("jobs › flaky")
	waitFor("timed out after 2s")

	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitFor("run 7 of flaky")
	waitFor("retrying with backoff")

	// A live event reaches the screen while the log is open.
	f.mu.Lock()
	f.runs[12] = api.Run{ID: 12, Job: "flaky", State: "running", StartedAt: at(0)}
	f.mu.Unlock()
	f.events <- api.Event{ID: 1, Kind: "run.running", Job: "flaky", RunID: 12}
	waitFor("running 2")

	tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	waitFor("TRIGGER")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	waitFor("sort: next fire")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

	final := tm.FinalModel(t).(screen)
	if final.s.view != viewJobs || final.s.filter != "fla" {
		t.Errorf("ended in view %d with filter %q; want the jobs view, still filtered", final.s.view, final.s.filter)
	}
}

// TestFeedReconnects: when the event stream breaks, the feed says so, reads a new snapshot and
// resumes after the last event it saw.
func TestFeedReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := newFakeSource()
	f.status.LastEventID = 41
	f.watchErr = []error{errRestarted}
	msgs := make(chan tea.Msg, 16)
	fd := newFeed(f, func(m tea.Msg) { msgs <- m })
	fd.minBackoff = time.Millisecond
	var wg sync.WaitGroup
	wg.Go(func() { fd.run(ctx) })
	defer wg.Wait()
	defer cancel()

	next := func() tea.Msg {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("the feed sent nothing")
			return nil
		}
	}
	if _, ok := next().(snapshotMsg); !ok {
		t.Fatal("first message is not a snapshot")
	}
	if m, ok := next().(lostMsg); !ok || m.err != errRestarted {
		t.Fatalf("got %#v; want the broken stream reported", m)
	}
	if _, ok := next().(snapshotMsg); !ok {
		t.Fatal("no new snapshot after reconnecting")
	}
	f.events <- api.Event{ID: 42, Kind: "job.updated", Job: "backup"}
	if e, ok := next().(eventMsg); !ok || e.ID != 42 {
		t.Fatalf("got %#v; want the event", e)
	}
	// Both streams start after the event that was newest when the first status was read, so
	// nothing between a snapshot and its stream is missed.
	var watches []string
	for _, c := range f.called() {
		if strings.HasPrefix(c, "watch") {
			watches = append(watches, c)
		}
	}
	if want := []string{"watch after=41", "watch after=41"}; !slices.Equal(watches, want) {
		t.Errorf("streams %q, want %q", watches, want)
	}

	// The model shows the state of the connection.
	m, _ := testModel(t, Options{})
	drive(m, lostMsg{errRestarted})
	if m.s.conn != connReconnecting {
		t.Error("not reconnecting after lostMsg")
	}
	snap, _ := newFeed(f, nil).snapshot(ctx)
	drive(m, snap)
	if m.s.conn != connConnected {
		t.Error("not connected after a snapshot")
	}
}
