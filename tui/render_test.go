package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// screens are the states the golden files show, each built from the fake's snapshot.
var screens = []struct {
	name  string
	opts  Options
	setup func(s *state)
}{
	{"jobs", Options{Socket: "/run/arbiter/arbiter.sock"}, func(s *state) {}},
	{"jobs-sorted-by-state", Options{}, func(s *state) { s.sort = sortState; s.reorder(); s.moveJobs(2) }},
	{"filter", Options{}, func(s *state) { s.input, s.editing, s.filter = inputFilter, "a", "a"; s.reorder() }},
	{"filter-nothing", Options{}, func(s *state) { s.filter = "zzz"; s.reorder() }},
	{"runs", Options{}, func(s *state) {
		s.openRuns("heartbeat")
		s.setRuns("heartbeat", s.history["heartbeat"])
	}},
	{"log", Options{}, func(s *state) {
		s.openRuns("flaky")
		s.setRuns("flaky", s.history["flaky"])
		s.openLog(s.runs[0], false)
		s.appendLog("checking\nretrying with backoff\n\x1b[31mchecking again\x1b[0m\tdone\nTimeout after 2s\n")
		s.setSearch("check")
		s.nextMatch(1)
	}},
	{"help", Options{}, func(s *state) { s.showHelp = true }},
	{"confirm-delete", Options{}, func(s *state) { s.input, s.confirm = inputConfirm, "backup" }},
	{"readonly-reconnecting", Options{ReadOnly: true}, func(s *state) { s.conn, s.connErr = connReconnecting, "connection refused" }},
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, sc := range screens {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, w, h), func(t *testing.T) {
				t.Parallel()
				opts := sc.opts
				opts.NoColor = true
				s := loadedState(newFakeSource(), opts, w, h)
				sc.setup(&s)
				out := renderView(&s)
				assertScreen(t, out, w, h)
				golden.RequireEqual(t, out)
			})
		}
	}
}

// assertScreen checks that a screen fills exactly h lines of at most w cells.
func assertScreen(t *testing.T, out string, w, h int) {
	t.Helper()
	lines := strings.Split(out, "\n")
	if len(lines) != h {
		t.Errorf("%d lines; want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide; want at most %d: %q", i+1, n, w, l)
		}
	}
}

// TestMonochrome: with NoColor no screen carries an escape code, and with colour they do (so
// the test would notice styles going missing altogether).
func TestMonochrome(t *testing.T) {
	t.Parallel()
	for _, sc := range screens {
		for _, noColor := range []bool{true, false} {
			opts := sc.opts
			opts.NoColor = noColor
			s := loadedState(newFakeSource(), opts, 120, 40)
			sc.setup(&s)
			out := renderView(&s)
			if got := strings.Contains(out, "\x1b["); got == noColor {
				t.Errorf("%s with NoColor=%v: escape codes present = %v", sc.name, noColor, got)
			}
			assertScreen(t, out, 120, 40)
		}
	}
}

// TestResize: every screen fits every size down to 80x24, and odd ones too.
func TestResize(t *testing.T) {
	t.Parallel()
	for _, sc := range screens {
		for _, size := range [][2]int{{80, 24}, {81, 25}, {100, 30}, {200, 60}, {80, 10}} {
			s := loadedState(newFakeSource(), Options{NoColor: false}, 120, 40)
			sc.setup(&s)
			s.resize(size[0], size[1])
			assertScreen(t, renderView(&s), size[0], size[1])
		}
	}
}
