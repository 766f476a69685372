package shellrunner

import "sync"

// procTable shares reads of the process table between the runs that need one at the same time.
//
// When a run's main process exits, the runner reads the whole table to find what the run left
// behind. That read costs a file per process (about 2 ms with a hundred processes), and with
// many runs ending each second, reading it once per run took half the daemon's CPU. Runs that
// ask while a read is under way wait for the next one and share it: each caller still gets a
// table read entirely after it asked, which is what a check for leftovers needs, but a busy
// daemon reads the table far fewer times than it ends runs.
type procTable struct {
	scan func() ([]proc, error) // readProcs; tests count the reads

	mu      sync.Mutex
	changed sync.Cond // a read finished
	reads   uint64    // reads finished
	reading bool
	procs   []proc // the last read's result; shared, so callers must not modify it
	err     error
}

func newProcTable() *procTable {
	t := &procTable{scan: readProcs}
	t.changed.L = &t.mu
	return t
}

// read returns a process table read after read was called.
func (t *procTable) read() ([]proc, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.reads + 1
	if t.reading {
		want++ // the read under way may have started before we were asked
	}
	for t.reads < want {
		if t.reading {
			t.changed.Wait()
			continue
		}
		t.reading = true
		t.mu.Unlock()
		procs, err := t.scan()
		t.mu.Lock()
		t.procs, t.err = procs, err
		t.reading = false
		t.reads++
		t.changed.Broadcast()
	}
	return t.procs, t.err
}
