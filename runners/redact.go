package runners

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// redacted replaces each run of secret bytes.
const redacted = "***"

// Redactor copies run output to another writer with secret values replaced by "***". It goes
// in front of the OutputWriter, so that secrets reach neither storage nor live followers.
//
// What is redacted: every occurrence of each non-empty secret value and of its base64 forms
// (standard and URL-safe alphabets, each with and without padding), as standalone strings.
// Base64 of a larger value that merely contains a secret is not caught: the secret's encoding
// inside it depends on its offset modulo 3. Empty values are ignored; every other value is
// redacted however short, so a one- or two-byte secret (and its two- to four-byte encodings)
// also masks that text wherever it happens to occur: over-redaction is the price of never
// leaking it.
//
// Occurrences that overlap (one secret a prefix or part of another, or a value overlapping
// itself) become one "***", so the longest match wins and no tail of a secret survives;
// occurrences merely adjacent each get their own "***". The result does not depend on how the
// output was split into writes.
//
// Write holds back only the longest suffix of its pending data that is a proper prefix of some
// pattern, since only those bytes could turn out to start a secret, and writes everything before
// it at once, with one Write call. Output that does not end in a possible secret prefix passes
// through immediately, and at most the longest pattern's length minus one byte waits for Close.
//
// Cost: a Write scans its data once, looking each position's two bytes up in a bitmap of the
// patterns' first two bytes (up to five patterns per secret) and comparing only the candidate
// positions with the patterns: O(n + c·k·m) for n bytes, c candidates, k patterns of length m.
// For ordinary text c is a small fraction of n, so the cost barely grows with k; output that is
// nearly all candidates (a secret "aa" in a line of a's) costs O(n·k·m). Finding the held-back suffix costs O(k·m), O(k·m²) at worst. Buffers are
// reused, so a Write does not allocate once they have grown to the largest write.
type Redactor struct {
	w    io.Writer
	pats [][]byte // distinct, non-empty

	mu     sync.Mutex
	closed bool
	err    error   // first error of w: the output is broken from there on
	held   []byte  // the held-back suffix: a proper prefix of some pattern
	masked int     // leading bytes of held already covered by the last "***" written
	buf    []byte  // held followed by the new data
	out    []byte  // redacted output of one Write
	spans  []span  // occurrences found in one Write
	starts bigrams // the first two bytes of every pattern
}

// bigrams is a set of byte pairs, a bit each: 8 KiB, small enough to stay in cache.
type bigrams [1 << 16 / 64]uint64

func (s *bigrams) add(a, b byte) {
	h := uint(a)<<8 | uint(b)
	s[h/64] |= 1 << (h % 64)
}

func (s *bigrams) has(a, b byte) bool {
	h := uint(a)<<8 | uint(b)
	return s[h/64]&(1<<(h%64)) != 0
}

// span is an occurrence [start, end) of a pattern in the pending data.
type span struct{ start, end int }

// NewRedactor returns a writer that copies to w with every occurrence of each secret value, and
// of its base64 forms, replaced by "***". Empty secrets are ignored; with none left, writes pass
// straight through. Close it to flush what it held back.
func NewRedactor(w io.Writer, secrets [][]byte) *Redactor {
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	}
	r := &Redactor{w: w}
	longest := 0
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		forms := [][]byte{bytes.Clone(s)} // the caller may reuse s
		for _, enc := range encodings {
			forms = append(forms, []byte(enc.EncodeToString(s)))
		}
		for _, f := range forms {
			if !slices.ContainsFunc(r.pats, func(p []byte) bool { return bytes.Equal(p, f) }) {
				r.pats = append(r.pats, f)
				if len(f) > 1 {
					r.starts.add(f[0], f[1])
				} else {
					for c := range 256 { // any byte may follow a one-byte pattern
						r.starts.add(f[0], byte(c))
					}
				}
				longest = max(longest, len(f))
			}
		}
	}
	if longest > 0 {
		r.held = make([]byte, 0, longest-1)
	}
	return r
}

// Write redacts p and writes it to the underlying writer, but for a suffix that might start a
// secret. It is safe for concurrent use, each p staying contiguous in the output. After an
// error from the underlying writer, every Write returns that error.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("write redacted output: %w", os.ErrClosed)
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(r.pats) == 0 {
		n, err := r.w.Write(p)
		if err != nil {
			r.err = fmt.Errorf("write redacted output: %w", err)
			return n, r.err
		}
		return n, nil
	}
	data := p
	if len(r.held) > 0 {
		r.buf = append(append(r.buf[:0], r.held...), p...)
		data = r.buf
	}
	cut := len(data) - r.heldBack(data)
	if err := r.emit(data, cut); err != nil {
		return 0, err
	}
	// Copy: p is the caller's and data may be r.buf, rebuilt from held on the next Write.
	r.held = append(r.held[:0], data[cut:]...)
	return len(p), nil
}

// Close writes what is held back. It does not close the underlying writer, which the caller
// owns. It returns the underlying writer's error, if any; calling it again does nothing.
func (r *Redactor) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.err != nil {
		return r.err
	}
	err := r.emit(r.held, len(r.held))
	r.held = r.held[:0]
	return err
}

// heldBack returns the length of the longest suffix of data that is a proper prefix of a
// pattern. Only such a suffix can be the start of an occurrence that later bytes complete.
func (r *Redactor) heldBack(data []byte) int {
	start := len(data)
	for _, q := range r.pats {
		// Candidates start at a byte equal to q[0]; the first that fits is the longest for q,
		// and only candidates longer than the best so far matter.
		for i := max(len(data)-len(q)+1, 0); i < start; i++ {
			j := bytes.IndexByte(data[i:start], q[0])
			if j < 0 {
				break
			}
			i += j
			if bytes.HasPrefix(q, data[i:]) {
				start = i
				break
			}
		}
	}
	return len(data) - start
}

// find sets r.spans to the occurrences of the patterns in data in order of start, overlapping
// ones included: a value can overlap itself, and the overlap must be masked too. A bitmap of
// the patterns' first two bytes rules out almost every position at the cost of one lookup,
// however many patterns there are; only the rest are compared with each pattern.
func (r *Redactor) find(data []byte) {
	r.spans = r.spans[:0]
	for i := range data {
		// The last byte has no bigram; only a one-byte pattern can start there.
		if i+1 < len(data) && !r.starts.has(data[i], data[i+1]) {
			continue
		}
		for _, q := range r.pats {
			if bytes.HasPrefix(data[i:], q) {
				r.spans = append(r.spans, span{i, i + len(q)})
			}
		}
	}
}

// emit writes data[:cut] redacted. data begins with the previously held-back bytes, of which
// r.masked are covered by the "***" last written; it leaves r.masked set for data[cut:].
//
// Every occurrence that could involve bytes still to come starts at cut or later (see
// heldBack), and every one inside data is found here, so what is written before cut is final.
// An occurrence that starts before cut and ends after it is written as "***" now; r.masked
// remembers how far it reaches, so that occurrences found there next time extend it instead
// of writing a second "***".
func (r *Redactor) emit(data []byte, cut int) error {
	r.find(data)
	var write []byte
	if len(r.spans) == 0 && r.masked == 0 {
		write = data[:cut] // the common case: no copy
	} else {
		out := r.out[:0]
		end := r.masked // data[:end] is written; the last "***", if any, reaches end
		for _, s := range r.spans {
			if s.start < end {
				end = max(end, s.end) // overlaps the last "***": no new one
				continue
			}
			if s.start >= cut {
				break // starts in the held-back suffix: decided on a later call
			}
			out = append(out, data[end:s.start]...)
			out = append(out, redacted...)
			end = s.end
		}
		if end < cut {
			out = append(out, data[end:cut]...)
		}
		r.masked = max(end-cut, 0)
		r.out, write = out, out
	}
	if len(write) == 0 {
		return nil
	}
	if _, err := r.w.Write(write); err != nil {
		r.err = fmt.Errorf("write redacted output: %w", err)
		return r.err
	}
	return nil
}
