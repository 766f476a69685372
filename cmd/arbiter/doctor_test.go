package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type doctorReport struct {
	Checks []check `json:"checks"`
	OK     bool    `json:"ok"`
}

func parseDoctor(t *testing.T, stdout string) map[string]check {
	t.Helper()
	var r doctorReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, stdout)
	}
	byName := map[string]check{}
	for _, c := range r.Checks {
		byName[c.Name] = c
	}
	return byName
}

func TestDoctorHealthy(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	r := d.arbiter("doctor")
	if r.code != 0 {
		t.Fatalf("doctor on a healthy daemon: %s", r)
	}
	// systemd is no part of the test machine: that check may only be skipped.
	for _, name := range []string{"socket", "access", "version", "data dir", "key file", "database", "time zones"} {
		if !strings.Contains(r.stdout, "✓ "+name) {
			t.Errorf("no ✓ for %s:\n%s", name, r.stdout)
		}
	}
	if strings.ContainsAny(r.stdout, "✗!") {
		t.Errorf("a warning or a failure on a healthy daemon:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, filepath.Join(d.dataDir, "arbiter.db")+" is intact") {
		t.Errorf("the database check does not name the daemon's database:\n%s", r.stdout)
	}
}

func TestDoctorKeyFileMode(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	key := filepath.Join(d.dataDir, "secret.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.arbiter("doctor", "-o", "json")
	if r.code != 1 {
		t.Fatalf("doctor with a readable key: %s", r)
	}
	c := parseDoctor(t, r.stdout)["key file"]
	if c.Status != checkFail || !strings.Contains(c.Detail, "mode 0644") || c.Fix != "chmod 600 "+key {
		t.Errorf("key file check = %+v, want a failure naming mode 0644 with the fix chmod 600 %s", c, key)
	}
	if text := d.arbiter("doctor").stdout; !strings.Contains(text, "✗ key file") || !strings.Contains(text, "→ chmod 600 "+key) {
		t.Errorf("text output:\n%s", text)
	}
}

func TestDoctorNoDaemon(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // the file of a daemon that died
	ln.Close()

	tests := []struct {
		name, socket, check, detail string
	}{
		{"no socket", filepath.Join(dir, "none.sock"), "socket", "no socket at " + filepath.Join(dir, "none.sock")},
		{"stale socket", stale, "access", "nothing answers on " + stale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, "doctor", "-o", "json", "--socket", tt.socket)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
			}
			c := parseDoctor(t, stdout)[tt.check]
			if c.Status != checkFail || c.Detail != tt.detail || !strings.Contains(c.Fix, "start the daemon") {
				t.Errorf("%s check = %+v, want a failure %q with how to start the daemon", tt.check, c, tt.detail)
			}
		})
	}
}
