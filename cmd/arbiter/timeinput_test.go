package main

import (
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"2026-12-01T09:00:00Z", time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{"2026-12-01T09:00:00+01:00", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"2026-12-01T09:00:00.5Z", time.Date(2026, 12, 1, 9, 0, 0, 5e8, time.UTC)},
		{"2026-12-01T09:00", time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo)},
		{" 2026-12-01 09:00 ", time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo)},
		{"2026-12-01 09:00:30", time.Date(2026, 12, 1, 9, 0, 30, 0, tokyo)},
		{"2026-12-01T09:00:30", time.Date(2026, 12, 1, 9, 0, 30, 0, tokyo)},
		{"2026-12-01 09:00:00+01:00", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{"2026-12-01 09h00", time.Time{}},
		{"2026-12-01", time.Time{}},
		{"09:00", time.Time{}},
		{"2026-13-01 09:00", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, tokyo)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("parseTime(%q) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestOneOff(t *testing.T) {
	t.Parallel()
	done := &api.RunRef{ID: 3, State: "succeeded"}
	retrying := &api.RunRef{ID: 4, State: "queued"}
	tests := []struct {
		name     string
		job      api.Job
		text     string // "" when not a one-off
		wantDone bool
	}{
		{"cron", api.Job{Schedule: "0 3 * * *", LastRun: done}, "", false},
		{"every", api.Job{Schedule: "@every 90s"}, "", false},
		{"instant, to come", api.Job{Schedule: "@at 2026-11-22T20:00:00Z", NextRun: at(time.Hour)}, "once at 21:00:00", false},
		{"local in its zone", api.Job{Schedule: "@at 2026-11-23 09:00", Timezone: "Asia/Tokyo"}, "once at 2026-11-23 01:00:00", false},
		{"local in the daemon's zone", api.Job{Schedule: "@AT 2026-11-23 09:00"}, "once at 2026-11-23 09:00:00", false},
		{"unknown form shown as is", api.Job{Schedule: "@at next tuesday"}, "once at next tuesday", false},
		{"done", api.Job{Schedule: "@at 2026-11-22T15:30:00Z", LastRun: done}, "once at 16:30:00", true},
		{"a retry still to run", api.Job{Schedule: "@at 2026-11-22T15:30:00Z", LastRun: retrying}, "once at 16:30:00", false},
		{"never ran", api.Job{Schedule: "@at 2026-11-22T15:30:00Z"}, "once at 16:30:00", false},
	}
	for _, tt := range tests {
		text, ok := oneOffText(tt.job, goldenNow, berlin)
		if ok != (tt.text != "") || text != tt.text {
			t.Errorf("%s: oneOffText = %q, %v; want %q", tt.name, text, ok, tt.text)
		}
		if got := oneOffDone(tt.job); got != tt.wantDone {
			t.Errorf("%s: oneOffDone = %v, want %v", tt.name, got, tt.wantDone)
		}
	}
}
