package datadir

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Not parallel: a fork by another test (TestTryLockHeldByFlock) shares the lock's open file
// with the child until it execs, holding the lock for a moment after Release.
func TestTryLock(t *testing.T) {
	dir := t.TempDir()
	l, err := TryLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q (%v), want this pid", b, err)
	}
	// flock locks belong to the open file: a second open in the same process is refused too.
	_, err = TryLock(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() || held.Dir != dir {
		t.Fatalf("second TryLock = %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l, err = TryLock(dir)
	if err != nil {
		t.Fatalf("TryLock after Release: %v", err)
	}
	l.Release()
}

// TestTryLockHeldByFlock proves the lock is the plain flock(2) the daemon takes: a lock held by
// another process (flock(1) here) is seen.
func TestTryLockHeldByFlock(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("no flock(1)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	cmd := exec.Command(flock, "-x", path, "sh", "-c", "echo locked; read _")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	buf := make([]byte, len("locked\n"))
	if _, err := io.ReadFull(out, buf); err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(dir)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("TryLock while flock(1) holds the file = %v, want a HeldError", err)
	}
	if !strings.Contains(err.Error(), "in use by") {
		t.Errorf("message %q", err)
	}
}
