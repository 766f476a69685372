package shellrunner

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Every caller gets a table read after it asked, and callers at the same time share reads.
func TestProcTableSharesFreshReads(t *testing.T) {
	t.Parallel()
	var (
		clock atomic.Int64 // orders questions and reads
		reads atomic.Int64
	)
	pt := newProcTable()
	pt.scan = func() ([]proc, error) {
		reads.Add(1)
		// The table records when its read began, in the pid of its one entry.
		return []proc{{pid: int(clock.Add(1))}}, nil
	}
	const callers = 200
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			asked := clock.Add(1)
			procs, err := pt.read()
			if err != nil {
				t.Error(err)
				return
			}
			if began := int64(procs[0].pid); began <= asked {
				t.Errorf("asked at %d, got a table read from %d", asked, began)
			}
		})
	}
	wg.Wait()
	t.Logf("%d callers shared %d reads", callers, reads.Load())
}
