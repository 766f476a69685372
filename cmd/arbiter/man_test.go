package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMan(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	write := func() string {
		dir := t.TempDir()
		if _, stderr, code := cli(t, "man", "--dir", dir); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return dir
	}
	dir := write()
	for _, page := range []string{"arbiter.1", "arbiter-add.1", "arbiter-daemon.1", "arbiter-doctor.1", "arbiter-secret-set.1"} {
		if _, err := os.Stat(filepath.Join(dir, page)); err != nil {
			t.Errorf("no page %s: %v", page, err)
		}
	}
	add, err := os.ReadFile(filepath.Join(dir, "arbiter-add.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(add), `.TH "ARBITER-ADD" "1" "Jan 2026" "arbiter dev" "arbiter manual"`) {
		t.Errorf("arbiter-add.1 has no .TH header with the fixed date and version:\n%.300s", add)
	}
	if !strings.Contains(string(add), `\fB--cron\fP`) {
		t.Errorf("arbiter-add.1 does not document --cron")
	}
	// Reproducible: the same build writes the same bytes.
	again, err := os.ReadFile(filepath.Join(write(), "arbiter-add.1"))
	if err != nil || string(again) != string(add) {
		t.Errorf("a second run wrote different bytes (%v)", err)
	}

	if _, stderr, code := cli(t, "man"); code != 2 || !strings.Contains(stderr, "missing --dir DIR") {
		t.Errorf("without --dir: exit %d, %q", code, stderr)
	}
}
