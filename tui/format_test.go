package tui

import (
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{"* * * * *", "every minute"},
		{"*/5 * * * *", "every 5 min"},
		{"7 * * * *", "hourly at :07"},
		{"0 */2 * * *", "every 2 h"},
		{"15 */6 * * *", "every 6 h at :15"},
		{"0 3 * * *", "daily at 03:00"},
		{"30 7 * * MON-FRI", "weekdays at 07:30"},
		{"30 7 * * 1-5", "weekdays at 07:30"},
		{"0 9 * * sun", "Sundays at 09:00"},
		{"0 0 1 * *", "monthly on day 1 at 00:00"},
		{"* * * * * *", "every second"},
		{"*/10 * * * * *", "every 10 s"},
		{"0 30 7 * * *", "daily at 07:30"},
		{"@every 5m", "every 5 min"},
		{"@every 90s", "every 1m30s"},
		{"@every 2h", "every 2 h"},
		{"@daily", "daily at 00:00"},
		{"@hourly", "hourly"},
		{"@at 2026-12-01 09:00", "once at 2026-12-01 09:00"},
		// Shapes without a faithful short phrase stay as written.
		{"0 9 * 1 *", "0 9 * 1 *"},
		{"0 9 1 * 1", "0 9 1 * 1"},
		{"0 9-17 * * *", "0 9-17 * * *"},
		{"5,35 * * * *", "5,35 * * * *"},
		{"15 * * * * *", "15 * * * * *"},
	}
	for _, tt := range tests {
		if got := describe(tt.expr); got != tt.want {
			t.Errorf("describe(%q) = %q; want %q", tt.expr, got, tt.want)
		}
	}
}

func TestCountdownAndDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "now", 42 * time.Second: "42s", 4*time.Minute + 5*time.Second: "4m05s",
		2*time.Hour + 5*time.Minute: "2h05m", 75 * time.Hour: "3d03h",
	} {
		if got := countdown(d); got != want {
			t.Errorf("countdown(%s) = %q; want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		350 * time.Millisecond: "350ms", 1234 * time.Millisecond: "1.2s", 42 * time.Second: "42s",
		4*time.Minute + 10*time.Second: "4m10s", 2*time.Hour + 5*time.Minute: "2h05m",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q; want %q", d, got, want)
		}
	}
}
