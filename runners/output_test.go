package runners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSink is an OutputSink in memory that checks the writer's promises as calls arrive.
type memSink struct {
	t     *testing.T
	limit int64 // most bytes stored at any time

	mu        sync.Mutex
	chunks    map[int64][]byte
	drops     [][3]int64 // from, through, bytes
	dropped   int64
	stored    int64
	maxStored int64
	lastSeq   int64 // highest seq appended or dropped as a gap

	failAppend func(seq int64) error
	failed     map[int64]bool
	failDrop   error
	block      chan struct{} // when set, AppendOutput waits for it to close
}

func newMemSink(t *testing.T, limit int64) *memSink {
	return &memSink{t: t, limit: limit, chunks: map[int64][]byte{}, failed: map[int64]bool{}}
}

func (s *memSink) AppendOutput(ctx context.Context, runID, seq int64, data []byte) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.lastSeq {
		s.t.Errorf("AppendOutput seq %d after seq %d", seq, s.lastSeq)
	}
	s.lastSeq = seq
	if s.failAppend != nil {
		if err := s.failAppend(seq); err != nil {
			s.failed[seq] = true
			return err
		}
	}
	s.chunks[seq] = bytes.Clone(data)
	s.stored += int64(len(data))
	s.maxStored = max(s.maxStored, s.stored)
	if s.stored > s.limit {
		s.t.Errorf("%d bytes stored, more than the cap plus one chunk (%d)", s.stored, s.limit)
	}
	return nil
}

func (s *memSink) DropOutput(ctx context.Context, runID, from, through, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from > through || n <= 0 {
		s.t.Errorf("DropOutput(%d, %d, %d)", from, through, n)
	}
	var bytes int64
	for seq := from; seq <= through; seq++ {
		bytes += int64(len(s.chunks[seq]))
		delete(s.chunks, seq)
	}
	switch {
	case s.failed[from]: // the writer counts a chunk it failed to store as dropped
	case bytes == 0: // a gap: a seq number never stored
		if from != through || from <= s.lastSeq {
			s.t.Errorf("gap DropOutput(%d, %d) after seq %d", from, through, s.lastSeq)
		}
		s.lastSeq = through
	case bytes != n:
		s.t.Errorf("DropOutput(%d, %d, %d) removed %d stored bytes", from, through, n, bytes)
	}
	s.stored -= bytes
	s.dropped += n
	s.drops = append(s.drops, [3]int64{from, through, n})
	return s.failDrop
}

// seqs returns the stored seq numbers in order.
func (s *memSink) seqs() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var seqs []int64
	for seq := range s.chunks {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs
}

func (s *memSink) output() []byte {
	var out []byte
	for _, seq := range s.seqs() {
		out = append(out, s.chunks[seq]...)
	}
	return out
}

func (s *memSink) sizes() []int {
	var sizes []int
	for _, seq := range s.seqs() {
		sizes = append(sizes, len(s.chunks[seq]))
	}
	return sizes
}

func TestOutputCap(t *testing.T) {
	t.Parallel()
	const total = 10_000
	data := make([]byte, total)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// Each pattern is a list of write sizes, repeated until total bytes are written.
	patterns := map[string][]int{
		"OneWrite":       {total},
		"Bytes":          {1},
		"Sevens":         {7},
		"Odd333":         {333},
		"AroundHead":     {499, 1, 500, 501, 2, 1},
		"LargerThanTail": {2000, 3},
		"UpToHead":       {500},
	}
	lengths := []int{total, 500, 999, 1000, 1001, 1499, 1500}
	for name, pattern := range patterns {
		for _, n := range lengths {
			for _, chunk := range []int{64, 300, DefaultChunkSize} {
				for _, interval := range []time.Duration{time.Hour, time.Microsecond} {
					t.Run(fmt.Sprintf("%s/%d/chunk%d/%v", name, n, chunk, interval), func(t *testing.T) {
						t.Parallel()
						checkCap(t, data[:n], pattern, OutputOptions{Cap: 1000, ChunkSize: chunk, FlushInterval: interval})
					})
				}
			}
		}
	}
}

func checkCap(t *testing.T, data []byte, pattern []int, opts OutputOptions) {
	sink := newMemSink(t, opts.Cap+int64(opts.ChunkSize))
	w := NewOutputWriter(sink, 1, opts)
	for i, rest := 0, data; len(rest) > 0; i++ {
		k := min(pattern[i%len(pattern)], len(rest))
		if n, err := w.Write(rest[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		rest = rest[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	head := min(len(data), int(opts.Cap/2))
	got := sink.output()
	if int64(len(got)) > opts.Cap {
		t.Errorf("%d bytes stored, cap %d", len(got), opts.Cap)
	}
	if !bytes.Equal(got[:head], data[:head]) {
		t.Errorf("head is not the first %d bytes written", head)
	}
	tail := got[head:]
	if len(tail) > int(opts.Cap-opts.Cap/2) {
		t.Errorf("tail of %d bytes, more than %d", len(tail), opts.Cap-opts.Cap/2)
	}
	if !bytes.HasSuffix(data, tail) {
		t.Errorf("tail (%d bytes) is not the end of the output", len(tail))
	}
	written, dropped := w.Stats()
	if written != int64(len(data)) || dropped != sink.dropped || dropped+int64(len(got)) != written {
		t.Errorf("written %d, dropped %d (sink %d), stored %d: dropped+stored != written",
			written, dropped, sink.dropped, len(got))
	}

	// The head ends at a chunk boundary, and dropped output leaves a seq gap right after it.
	seqs, sizes := sink.seqs(), sink.sizes()
	if len(seqs) > 0 && seqs[0] != 1 {
		t.Errorf("first seq %d, want 1", seqs[0])
	}
	sum, i := 0, 0
	for ; sum < head; i++ {
		sum += sizes[i]
	}
	if sum != head {
		t.Fatalf("no chunk boundary at the end of the head (%d bytes): sizes %v", head, sizes)
	}
	for j := 1; j < len(seqs); j++ {
		gap := seqs[j] != seqs[j-1]+1
		if want := j == i && dropped > 0; gap != want {
			t.Errorf("seqs %v: gap before index %d is %v, want %v (head ends at index %d, %d dropped)",
				seqs, j, gap, want, i, dropped)
		}
	}
	if dropped > 0 && i == len(seqs) {
		t.Errorf("seqs %v: %d bytes dropped but no tail after the gap", seqs, dropped)
	}
}

func TestOutputChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   OutputOptions
		writes []int
		sizes  []int
		drops  [][3]int64
	}{
		{"FullChunksThenRest", OutputOptions{ChunkSize: 100}, []int{250}, []int{100, 100, 50}, nil},
		{"SmallWritesJoin", OutputOptions{ChunkSize: 100}, []int{30, 30, 30, 30}, []int{100, 20}, nil},
		{"HeadSplitsChunk", OutputOptions{Cap: 1000, ChunkSize: 300}, []int{1000}, []int{300, 200, 300, 200}, nil},
		{"BigWriteAfterHead", OutputOptions{Cap: 1000}, []int{500, 2000}, []int{500, 500}, [][3]int64{{2, 2, 1500}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.FlushInterval = time.Hour
			sink := newMemSink(t, 1<<30)
			w := NewOutputWriter(sink, 1, tc.opts)
			for _, n := range tc.writes {
				w.Write(bytes.Repeat([]byte("x"), n))
			}
			w.Close()
			if got := sink.sizes(); !slices.Equal(got, tc.sizes) {
				t.Errorf("chunk sizes %v, want %v", got, tc.sizes)
			}
			if !slices.Equal(sink.drops, tc.drops) {
				t.Errorf("drops %v, want %v", sink.drops, tc.drops)
			}
		})
	}
}

// Once stored tail chunks exceed Cap/2, the oldest whole ones go.
func TestOutputOldTailDropped(t *testing.T) {
	t.Parallel()
	notified := make(chan int64, 10)
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{Cap: 1000, ChunkSize: 200, FlushInterval: time.Hour, Notify: func(seq int64) { notified <- seq }})
	// Each write waits for its chunks to be stored, so none is trimmed before it is stored.
	for _, write := range []struct{ n, chunks int }{{500, 3}, {200, 1}, {200, 1}, {200, 1}, {100, 0}} {
		w.Write(make([]byte, write.n))
		for range write.chunks {
			receive(t, notified)
		}
	}
	w.Close()
	if got, want := sink.sizes(), []int{200, 200, 100, 200, 200, 100}; !slices.Equal(got, want) {
		t.Errorf("chunk sizes %v, want %v", got, want)
	}
	if got, want := sink.drops, [][3]int64{{4, 4, 200}}; !slices.Equal(got, want) {
		t.Errorf("drops %v, want %v", got, want)
	}
	if got, want := sink.seqs(), []int64{1, 2, 3, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("seqs %v, want %v", got, want)
	}
}

// A full chunk is stored at once, without waiting for the interval or Close.
func TestOutputFullChunkStoredAtOnce(t *testing.T) {
	t.Parallel()
	notified := make(chan int64, 10)
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{ChunkSize: 100, FlushInterval: time.Hour, Notify: func(seq int64) { notified <- seq }})
	defer w.Close()
	w.Write(make([]byte, 250))
	for want := int64(1); want <= 2; want++ {
		if seq := receive(t, notified); seq != want {
			t.Fatalf("notified seq %d, want %d", seq, want)
		}
	}
	if got := sink.sizes(); !slices.Equal(got, []int{100, 100}) {
		t.Errorf("chunk sizes %v before Close, want [100 100]", got)
	}
}

func TestOutputFlushInterval(t *testing.T) {
	t.Parallel()
	notified := make(chan int64, 10)
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{FlushInterval: 10 * time.Millisecond, Notify: func(seq int64) { notified <- seq }})
	defer w.Close()
	for i, s := range []string{"partial", " line\n"} {
		w.Write([]byte(s))
		if seq := receive(t, notified); seq != int64(i+1) {
			t.Fatalf("notified seq %d, want %d", seq, i+1)
		}
	}
	if got := string(sink.output()); got != "partial line\n" {
		t.Errorf("stored %q before Close", got)
	}
}

func TestOutputClose(t *testing.T) {
	t.Parallel()
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{FlushInterval: time.Hour})
	w.Write([]byte("buffered"))
	for range 2 {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(sink.output()); got != "buffered" {
		t.Errorf("stored %q, want the buffered output", got)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
}

func TestOutputConcurrentWrites(t *testing.T) {
	t.Parallel()
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{ChunkSize: 64, FlushInterval: time.Millisecond})
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "%d %d\n", g, i)
			}
		})
	}
	wg.Wait()
	w.Close()
	next := make([]int, writers)
	for _, line := range strings.Split(strings.TrimSuffix(string(sink.output()), "\n"), "\n") {
		var g, i int
		if _, err := fmt.Sscanf(line, "%d %d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("line %q out of order or torn (want line %d of writer %d)", line, next[g], g)
		}
		next[g]++
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines stored, want %d", g, n, lines)
		}
	}
}

// A blocked sink must not block writers, and what they wrote meanwhile stays within the cap.
func TestOutputSlowSink(t *testing.T) {
	t.Parallel()
	sink := newMemSink(t, 1<<30)
	sink.block = make(chan struct{})
	w := NewOutputWriter(sink, 1, OutputOptions{Cap: 1000, ChunkSize: 100, FlushInterval: time.Millisecond})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for range 1000 {
			w.Write(make([]byte, 100))
		}
	}()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked on the sink")
	}
	close(sink.block)
	w.Close()
	written, dropped := w.Stats()
	if stored := int64(len(sink.output())); stored > 1000 || stored+dropped != written {
		t.Errorf("stored %d, dropped %d, written %d", stored, dropped, written)
	}
}

func TestOutputSinkErrors(t *testing.T) {
	t.Parallel()
	appendErr, dropErr := errors.New("disk full"), errors.New("database locked")
	sink := newMemSink(t, 1<<30)
	sink.failAppend = func(seq int64) error {
		if seq == 2 {
			return appendErr
		}
		return nil
	}
	sink.failDrop = dropErr
	var mu sync.Mutex
	var reported []error
	w := NewOutputWriter(sink, 1, OutputOptions{Cap: 1000, ChunkSize: 100, FlushInterval: time.Hour, OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}})
	w.Write(make([]byte, 2000))
	if err := w.Close(); !errors.Is(err, appendErr) {
		t.Errorf("Close = %v, want the first sink error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) < 2 || !errors.Is(reported[0], appendErr) || !errors.Is(reported[1], dropErr) {
		t.Errorf("reported %v, want the append error, then drop errors", reported)
	}
	written, dropped := w.Stats()
	if stored := int64(len(sink.output())); stored+dropped != written {
		t.Errorf("stored %d + dropped %d != written %d: a failed chunk must count as dropped", stored, dropped, written)
	}
}

func receive(t *testing.T, c <-chan int64) int64 {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("not notified")
		return 0
	}
}

// Past the head, full chunks wait for the flush interval, trimmed to the tail's size meanwhile:
// a flood is not written to the sink only to be dropped from it.
func TestOutputTailWaitsForInterval(t *testing.T) {
	t.Parallel()
	notified := make(chan int64, 100)
	sink := newMemSink(t, 1<<30)
	w := NewOutputWriter(sink, 1, OutputOptions{Cap: 200, ChunkSize: 50, FlushInterval: time.Hour, Notify: func(seq int64) { notified <- seq }})
	w.Write(make([]byte, 100)) // the head: two full chunks, stored at once
	for want := int64(1); want <= 2; want++ {
		if seq := receive(t, notified); seq != want {
			t.Fatalf("notified seq %d, want %d", seq, want)
		}
	}
	for range 100 {
		w.Write(make([]byte, 50)) // 5,000 bytes of tail, full chunks all
	}
	if got := sink.sizes(); !slices.Equal(got, []int{50, 50}) {
		t.Errorf("chunks stored before the interval: %v, want the head's [50 50] only", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sink.sizes(); !slices.Equal(got, []int{50, 50, 50, 50}) {
		t.Errorf("chunks stored = %v, want the head and the last 100 bytes", got)
	}
	if written, dropped := w.Stats(); written != 5100 || dropped != 4900 {
		t.Errorf("written %d, dropped %d; want 5100 and 4900", written, dropped)
	}
}
