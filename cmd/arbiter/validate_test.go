package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[jobs.a]\nschedule = \"@daily\"\nshell = \"true\"\n\n[jobs.b]\nschedule = \"*/5 * * * *\"\ncommand = [\"true\"]\n"), 0o644)
	os.WriteFile(bad, []byte("[jobs.c]\nscheduel = \"@daily\"\ncommand = [\"true\"]\n\n[jobs.d]\nschedule = \"61 * * * *\"\nshell = \"true\"\ntimeout = \"soon\"\n"), 0o644)

	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{"clean", []string{good}, "2 jobs OK\n", "", 0},
		{"examples", []string{"../../examples"}, "5 jobs OK\n", "", 0},
		{"every error", []string{good, bad}, "", bad + `:2:1: unknown key "scheduel" (did you mean "schedule"?)
` + bad + `:6:12: schedule: minute: 61 is out of range 0-59
` + bad + `:8:11: timeout: "soon" is not a duration; use a form such as 30s, 5m or 1h30m
`, 2},
		{"duplicate across files", []string{good, dir}, "", bad + `:2:1: unknown key "scheduel" (did you mean "schedule"?)
` + bad + `:6:12: schedule: minute: 61 is out of range 0-59
` + bad + `:8:11: timeout: "soon" is not a duration; use a form such as 30s, 5m or 1h30m
` + good + `:1:7: job "a" is also defined at ` + good + `:1:7
` + good + `:5:7: job "b" is also defined at ` + good + `:5:7
`, 2},
		{"missing file", []string{filepath.Join(dir, "none.toml")}, "", filepath.Join(dir, "none.toml") + ": no such file or directory\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A dead socket: validate must not need the daemon.
			stdout, stderr, code := cli(t, append([]string{"validate", "--socket", deadSocket(t)}, tt.args...)...)
			if code != tt.wantCode || stdout != tt.wantOut || stderr != tt.wantErr {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stdout %q, stderr:\n%s", code, stdout, stderr, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestValidateNeedsAPath(t *testing.T) {
	t.Parallel()
	_, stderr, code := cli(t, "validate")
	if code != 2 || !strings.Contains(stderr, "missing PATH") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
