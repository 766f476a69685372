package runners

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// Defaults of OutputOptions.
const (
	DefaultOutputCap     = 1 << 20
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultChunkSize     = 32 << 10
)

// sinkTimeout bounds one sink call, so a hung store cannot keep Close from returning.
const sinkTimeout = 10 * time.Second

// OutputSink stores a run's output chunks; the store implements it.
type OutputSink interface {
	// AppendOutput stores chunk seq of the run.
	AppendOutput(ctx context.Context, runID, seq int64, data []byte) error
	// DropOutput deletes the run's chunks fromSeq through throughSeq (some of those seq numbers
	// may never have been stored) and adds bytes to the run's count of dropped output.
	DropOutput(ctx context.Context, runID, fromSeq, throughSeq, bytes int64) error
}

// OutputOptions configure an OutputWriter. Zero values mean the defaults.
type OutputOptions struct {
	Cap           int64         // bytes kept per run: the first Cap/2 and about the last Cap/2
	FlushInterval time.Duration // longest time a written byte waits before it is stored
	ChunkSize     int           // largest chunk stored
	OnError       func(error)   // sink errors; the run goes on, output is best effort
	// Notify is called after chunk seq is stored, so live followers can be woken. It runs on
	// the writer's goroutine: a slow Notify delays storage, never the process.
	Notify func(seq int64)
}

// OutputWriter is the bounded writer between a runner and storage. It buffers writes and
// stores them as chunks numbered 1, 2, 3, ...: FlushInterval after the first byte not yet
// stored, or, in the head, as soon as ChunkSize bytes are buffered. So live output appears
// within FlushInterval, a burst becomes a few large chunks, and a flood stores at most about
// Cap/2 per FlushInterval.
//
// The output is capped: the first Cap/2 bytes (the head) are kept; of the rest (the tail) only
// the newest Cap/2 bytes or so are, older tail chunks being dropped whole. Dropped output
// leaves a gap in the seq numbers, which readers show as a marker, and is counted with
// DropOutput. Bytes dropped before they were ever stored (a burst larger than the tail while the
// sink was busy) get a seq number of their own that is never stored, so they leave a gap too.
//
// Write never calls the sink: a goroutine does, so a slow sink delays storage, not the process
// writing output, and memory stays bounded by about Cap.
type OutputWriter struct {
	sink    OutputSink
	runID   int64
	opts    OutputOptions
	tailCap int64

	wake    chan struct{} // buffered: the flusher has something to do
	closing chan struct{}
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	closed   bool
	headLeft int64      // head bytes still to come
	queue    []outChunk // written, not yet handed to the sink; head chunks first
	free     [][]byte   // chunk buffers trimmed before they reached the sink, for reuse
	queued   int64      // tail bytes in queue
	skipped  int64      // tail bytes trimmed from queue unstored, just before queue's tail
	firstAt  time.Time  // when the oldest byte in queue was written
	written  int64
	dropped  int64
	firstErr error

	// Owned by the flusher goroutine.
	seq       int64       // last seq used
	tail      []outStored // stored tail chunks, oldest first
	tailBytes int64
}

type outChunk struct {
	data []byte
	head bool
}

type outStored struct{ seq, n int64 }

// NewOutputWriter returns a writer storing the output of run runID in sink. Close it.
func NewOutputWriter(sink OutputSink, runID int64, opts OutputOptions) *OutputWriter {
	if opts.Cap <= 0 {
		opts.Cap = DefaultOutputCap
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	w := &OutputWriter{
		sink:     sink,
		runID:    runID,
		opts:     opts,
		tailCap:  opts.Cap - opts.Cap/2,
		headLeft: opts.Cap / 2,
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	go w.flusher()
	return w
}

// Write buffers p; it is safe for concurrent use, and each p stays contiguous in the output.
func (w *OutputWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("write output: %w", os.ErrClosed)
	}
	n := len(p)
	w.written += int64(n)
	wasEmpty := len(w.queue) == 0
	if wasEmpty {
		w.firstAt = time.Now()
	}
	size := w.opts.ChunkSize
	for len(p) > 0 {
		head := w.headLeft > 0
		if l := len(w.queue); l == 0 || w.queue[l-1].head != head || len(w.queue[l-1].data) >= size {
			w.queue = append(w.queue, outChunk{head: head, data: w.newChunk()})
		}
		c := &w.queue[len(w.queue)-1]
		k := min(size-len(c.data), len(p))
		if head {
			// The head ends at exactly Cap/2 bytes, mid-chunk if need be.
			k = int(min(int64(k), w.headLeft))
			w.headLeft -= int64(k)
		} else {
			w.queued += int64(k)
		}
		c.data = append(c.data, p[:k]...)
		p = p[k:]
	}
	w.trim()
	// Wake the flusher to start the interval for the first byte, or to store a full chunk of
	// the head. Full tail chunks wait for the interval: most of a flood's tail would be dropped
	// right after being stored, so storing it as it comes wrote the whole flood to the database
	// (1 GiB in 2.6 s, against 0.4 s to read it); trimmed in memory, at most the tail's size is
	// stored per interval.
	if wasEmpty || w.queue[0].head && (len(w.queue) > 1 || len(w.queue[0].data) >= size) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return n, nil
}

// newChunk returns an empty buffer of ChunkSize bytes, reusing one a flood's trimming freed:
// growing each chunk by appending, then dropping it, made a flood mostly allocation and copying.
func (w *OutputWriter) newChunk() []byte {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b
	}
	return make([]byte, 0, w.opts.ChunkSize)
}

// trim drops the oldest queued tail bytes beyond the tail's capacity: they would be dropped
// right after being stored anyway, and dropping them now bounds memory when the sink is slow.
func (w *OutputWriter) trim() {
	for w.queued > w.tailCap {
		i := 0
		for w.queue[i].head {
			i++
		}
		c := &w.queue[i]
		k := min(int64(len(c.data)), w.queued-w.tailCap)
		if k < int64(len(c.data)) {
			c.data = c.data[k:]
		} else {
			if cap(c.data) == w.opts.ChunkSize { // its front never trimmed: the whole buffer
				w.free = append(w.free, c.data[:0])
			}
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
		}
		w.queued -= k
		w.skipped += k
	}
}

// Close stores what is buffered and stops the flusher. It returns the first sink error of the
// writer's life (OnError has seen it already). Calling it again does nothing more.
func (w *OutputWriter) Close() error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.closing)
	})
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstErr
}

// Stats returns the bytes written so far and the bytes dropped to respect the cap or lost to
// sink errors; exact once Close returned.
func (w *OutputWriter) Stats() (written, dropped int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.dropped
}

func (w *OutputWriter) flusher() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		all := false
		select {
		case <-w.wake:
		case <-timer.C:
			all = true
		case <-w.closing:
			w.flush(true)
			return
		}
		w.flush(all)
		// Re-arm for whatever is still queued, counting from its oldest byte.
		w.mu.Lock()
		pending, firstAt := len(w.queue) > 0, w.firstAt
		w.mu.Unlock()
		if pending {
			timer.Reset(time.Until(firstAt.Add(w.opts.FlushInterval)))
		} else {
			timer.Stop()
		}
	}
}

// flush stores the queued chunks that are complete, or all of them.
func (w *OutputWriter) flush(all bool) {
	w.mu.Lock()
	n := len(w.queue)
	if !all && n > 0 {
		last := w.queue[n-1]
		if !(len(last.data) >= w.opts.ChunkSize || last.head && w.headLeft == 0) {
			n-- // still filling
		}
	}
	take := w.queue[:n:n]
	w.queue = w.queue[n:]
	for _, c := range take {
		if !c.head {
			w.queued -= int64(len(c.data))
		}
	}
	// The skipped bytes come right before the queue's first tail chunk: account for them when
	// that chunk goes, or at the end.
	var skipped int64
	if all || n > 0 && !take[n-1].head {
		skipped, w.skipped = w.skipped, 0
	}
	w.mu.Unlock()

	for _, c := range take {
		if !c.head && skipped > 0 {
			w.gap(skipped)
			skipped = 0
		}
		w.store(c)
	}
	if skipped > 0 {
		w.gap(skipped)
	}
}

// gap spends a seq number on bytes that were never stored, so readers see where they were.
func (w *OutputWriter) gap(n int64) {
	w.seq++
	w.drop(w.seq, w.seq, n)
}

func (w *OutputWriter) store(c outChunk) {
	w.seq++
	seq, n := w.seq, int64(len(c.data))
	ctx, cancel := context.WithTimeout(context.Background(), sinkTimeout)
	err := w.sink.AppendOutput(ctx, w.runID, seq, c.data)
	cancel()
	if err != nil {
		w.report(fmt.Errorf("store output chunk %d of run %d: %w", seq, w.runID, err))
		// Count the chunk as dropped, so the run's numbers stay true and its gap explained.
		w.drop(seq, seq, n)
		return
	}
	if !c.head {
		w.tail = append(w.tail, outStored{seq, n})
		w.tailBytes += n
		var from, through, bytes int64
		for w.tailBytes > w.tailCap {
			old := w.tail[0]
			w.tail = w.tail[1:]
			w.tailBytes -= old.n
			from = cmp.Or(from, old.seq)
			through, bytes = old.seq, bytes+old.n
		}
		if bytes > 0 {
			w.drop(from, through, bytes)
		}
	}
	if w.opts.Notify != nil {
		w.opts.Notify(seq)
	}
}

func (w *OutputWriter) drop(from, through, n int64) {
	w.mu.Lock()
	w.dropped += n
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sinkTimeout)
	defer cancel()
	if err := w.sink.DropOutput(ctx, w.runID, from, through, n); err != nil {
		w.report(fmt.Errorf("drop output chunks %d-%d of run %d: %w", from, through, w.runID, err))
	}
}

func (w *OutputWriter) report(err error) {
	w.mu.Lock()
	if w.firstErr == nil {
		w.firstErr = err
	}
	w.mu.Unlock()
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}
