package main

import (
	"strings"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0ms"},
		{0, "0ms"},
		{350 * time.Millisecond, "350ms"},
		{time.Second, "1s"},
		{1249 * time.Millisecond, "1.2s"},
		{9999 * time.Millisecond, "9.9s"},
		{42 * time.Second, "42s"},
		{4*time.Minute + 10*time.Second, "4m10s"},
		{5 * time.Minute, "5m"},
		{2*time.Hour + 5*time.Minute + 59*time.Second, "2h5m"},
		{3 * time.Hour, "3h"},
		{76 * time.Hour, "3d4h"},
	}
	for _, tt := range tests {
		if got := duration(tt.d); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRelativeAndClock(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC) // 18:00 in loc
	tests := []struct {
		t         time.Time
		rel, when string
	}{
		{now.Add(4*time.Minute + 50*time.Second), "in 4m", "18:04:50 (in 4m)"},
		{now.Add(-3 * time.Minute), "3m ago", "17:57:00 (3m ago)"},
		{now.Add(300 * time.Millisecond), "now", "18:00:00 (now)"},
		{now.Add(7 * time.Hour), "in 7h", "2026-11-23 01:00:00 (in 7h)"},
		{now.Add(48 * time.Hour), "in 2d", "2026-11-24 18:00:00"},
		{now.Add(-30 * 24 * time.Hour), "30d ago", "2026-10-23 18:00:00"},
	}
	for _, tt := range tests {
		if got := relative(tt.t, now); got != tt.rel {
			t.Errorf("relative(%v) = %q, want %q", tt.t, got, tt.rel)
		}
		if got := when(tt.t, now, loc); got != tt.when {
			t.Errorf("when(%v) = %q, want %q", tt.t, got, tt.when)
		}
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	got := shellQuote([]string{"/usr/bin/backup.sh", "--full", "a b", "it's", "", "x=1,y"})
	if want := `/usr/bin/backup.sh --full 'a b' 'it'\''s' '' x=1,y`; got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestTableTrimsAndFlattens(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	tb := newTable(&b, "A", "LONGER", "C")
	tb.row("x", "y", "")
	tb.row("multi\nline", "tab\there", "\x1b[31mred")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	want := "A           LONGER    C\n" +
		"x           y\n" +
		"multi line  tab here   [31mred\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant:\n%q", b.String(), want)
	}
}
