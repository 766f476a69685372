// Package datadir holds what every process that works on a data dir must agree on: its lock.
//
// The daemon holds the lock for its whole life, and offline tools such as `arbiter store
// migrate` take it so that they never read or write a database a daemon is changing under them.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file in the data dir.
const LockFile = "arbiter.lock"

// Lock is an exclusive flock on a data dir's lock file. The kernel releases it when the process
// dies, so a crash never leaves a stale lock behind.
type Lock struct{ f *os.File }

// HeldError is what TryLock returns when another process holds the lock.
type HeldError struct {
	Dir string
	PID int // the holder's pid as it wrote it in the file; 0 when unknown
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("data dir %s is in use by %s", e.Dir, e.Holder())
}

// Holder names the process holding the lock, for messages: "pid 123" or "another process".
func (e *HeldError) Holder() string {
	if e.PID > 0 {
		return fmt.Sprintf("pid %d", e.PID)
	}
	return "another process"
}

// TryLock takes the lock of data dir dir without waiting, creating the lock file when missing,
// and writes this process's pid into it. A *HeldError when another process holds it.
func TryLock(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			held := &HeldError{Dir: dir}
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					held.PID = pid
				}
			}
			return nil, held
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is only for the message of whoever finds the lock taken.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error { return l.f.Close() }
