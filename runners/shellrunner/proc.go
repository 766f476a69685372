package shellrunner

import (
	"time"
)

// proc is one entry of the process table.
type proc struct {
	pid, ppid, pgrp int
	start           uint64 // start time (clock ticks since boot on Linux, µs since 1970 on macOS): with pid, names one process for good
	zombie          bool   // exited but not reaped (state Z or X): dead, for every purpose here
	kernel          bool   // a kernel thread: no environment, never a job's
}

type procKey struct {
	pid   int
	start uint64
}

func (p proc) key() procKey { return procKey{p.pid, p.start} }

// descends reports whether process pid descends from ancestor, by the parent links in parent.
func descends(parent map[int]int, pid, ancestor int) bool {
	// The table is read while processes come and go; the bound guards against a loop in it.
	for range 1 << 12 {
		pp, ok := parent[pid]
		if !ok || pp <= 0 {
			return false
		}
		if pp == ancestor {
			return true
		}
		pid = pp
	}
	return false
}

// pollUntil calls done with a growing pause between calls until it returns true or deadline
// passes; it reports done's last answer. No kernel offers an event for "these processes are
// gone" that covers processes we have not found yet, hence the polling; it only happens while
// processes are being stopped.
func pollUntil(deadline time.Time, done func() bool) bool {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if done() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
	}
}
