package main

import (
	"strings"
	"testing"
)

func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantErr  string // in stderr; "" means stderr is empty
		wantCode int
	}{
		{
			name:    "cron in a zone",
			args:    []string{"*/15 9 * * 1", "--from", "2026-03-01T00:00:00Z", "--tz", "Europe/Berlin", "-n", "3"},
			wantOut: "2026-03-02T09:00:00+01:00\n2026-03-02T09:15:00+01:00\n2026-03-02T09:30:00+01:00\n",
		},
		{
			name:    "strictly after from",
			args:    []string{"0 * * * *", "--from", "2026-03-01T10:00:00Z", "--tz", "UTC", "-n", "1"},
			wantOut: "2026-03-01T11:00:00Z\n",
		},
		{
			name:    "default count is 5",
			args:    []string{"@daily", "--from", "2026-03-01T10:00:00Z", "--tz", "UTC"},
			wantOut: "2026-03-02T00:00:00Z\n2026-03-03T00:00:00Z\n2026-03-04T00:00:00Z\n2026-03-05T00:00:00Z\n2026-03-06T00:00:00Z\n",
		},
		{
			name:    "every",
			args:    []string{"@every 90s", "--from", "2026-03-01T10:00:00Z", "--tz", "UTC", "-n", "2"},
			wantOut: "2026-03-01T10:01:30Z\n2026-03-01T10:03:00Z\n",
		},
		{
			name:    "json",
			args:    []string{"0 12 * * *", "--from", "2026-03-01T00:00:00+09:00", "--tz", "Asia/Tokyo", "-n", "2", "-o", "json"},
			wantOut: "[\n  \"2026-03-01T12:00:00+09:00\",\n  \"2026-03-02T12:00:00+09:00\"\n]\n",
		},
		{
			name:     "never fires",
			args:     []string{"0 0 30 2 *", "--from", "2026-03-01T00:00:00Z", "--tz", "UTC"},
			wantErr:  `arbiter: schedule "0 0 30 2 *" never fires after 2026-03-01T00:00:00Z`,
			wantCode: 1,
		},
		{
			name:     "never fires json",
			args:     []string{"0 0 30 2 *", "--from", "2026-03-01T00:00:00Z", "--tz", "UTC", "-o", "json"},
			wantOut:  "[]\n",
			wantErr:  "never fires",
			wantCode: 1,
		},
		{name: "bad expression", args: []string{"* * *"}, wantErr: "arbiter: schedule: ", wantCode: 2},
		{name: "bad field", args: []string{"61 * * * *"}, wantErr: "minute", wantCode: 2},
		{name: "bad zone", args: []string{"* * * * *", "--tz", "Mars/Olympus"}, wantErr: "unknown time zone", wantCode: 2},
		{name: "bad from", args: []string{"* * * * *", "--from", "2026-03-01 10:00"}, wantErr: "--from: ", wantCode: 2},
		{name: "zero count", args: []string{"* * * * *", "-n", "0"}, wantErr: "-n must be between", wantCode: 2},
		{name: "negative count", args: []string{"* * * * *", "-n", "-3"}, wantErr: "-n must be between", wantCode: 2},
		{name: "count not a number", args: []string{"* * * * *", "-n", "five"}, wantErr: "invalid argument", wantCode: 2},
		{name: "unquoted expression", args: []string{"*/5", "*", "*", "*", "*"}, wantErr: "one quoted argument", wantCode: 2},
		{name: "no expression", args: nil, wantErr: "missing EXPR", wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := cli(t, append([]string{"next"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.wantOut)
			}
			if tt.wantErr == "" && stderr != "" || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantErr)
			}
		})
	}
}
