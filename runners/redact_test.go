package runners

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// redactWrites runs the writes through a Redactor and returns everything written after Close.
func redactWrites(t testing.TB, secrets [][]byte, writes ...[]byte) string {
	t.Helper()
	var out bytes.Buffer
	r := NewRedactor(&out, secrets)
	for _, p := range writes {
		if n, err := r.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.String()
}

func byteByByte(s string) [][]byte {
	var writes [][]byte
	for i := range len(s) {
		writes = append(writes, []byte{s[i]})
	}
	return writes
}

func secretList(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func TestRedactorSplits(t *testing.T) {
	t.Parallel()
	// Chosen so that its standard and URL-safe encodings differ and need padding.
	bin := "k\xfb\xff\xbf?"
	std, rawStd := base64.StdEncoding.EncodeToString([]byte(bin)), base64.RawStdEncoding.EncodeToString([]byte(bin))
	url, rawURL := base64.URLEncoding.EncodeToString([]byte(bin)), base64.RawURLEncoding.EncodeToString([]byte(bin))
	if std == url || std == rawStd {
		t.Fatalf("bad test secret: encodings %q %q %q", std, url, rawStd)
	}
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"one secret", []string{"SECRET"}, "prefix SECRET suffix", "prefix *** suffix"},
		{"secret at both ends", []string{"SECRET"}, "SECRETxSECRET", "***x***"},
		{"adjacent occurrences", []string{"SECRET"}, "SECRETSECRET", "******"},
		{"value overlapping itself", []string{"abab"}, "xabababx", "x***x"},
		{"two overlapping secrets", []string{"abc", "cde"}, "xabcdex", "x***x"},
		{"longest match wins", []string{"pass", "password"}, "password1 pass", "***1 ***"},
		{"partial secret kept", []string{"password"}, "passwor d", "passwor d"},
		{"several secrets", []string{"alpha", "beta", "gamma"}, "a=alpha b=beta g=gamma", "a=*** b=*** g=***"},
		{"secret with newline", []string{"two\nlines"}, "x two\nlines y", "x *** y"},
		{"no secrets", nil, "nothing to hide", "nothing to hide"},
		{"empty secret ignored", []string{""}, "abc", "abc"},
		{"short secret over-redacts", []string{"x"}, "xox", "***o***"},
		{"base64 standard", []string{bin}, "t=" + std + ";", "t=***;"},
		{"base64 standard raw", []string{bin}, "t=" + rawStd + ";", "t=***;"},
		{"base64 url", []string{bin}, "t=" + url + ";", "t=***;"},
		{"base64 url raw", []string{bin}, "t=" + rawURL + ";", "t=***;"},
		{"base64 in json", []string{bin}, `{"token":"` + rawURL + `"}`, `{"token":"***"}`},
		{"raw and encoded", []string{bin}, bin + " " + std, "*** ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secrets := secretList(tt.secrets...)
			check := func(how string, writes ...[]byte) {
				t.Helper()
				if got := redactWrites(t, secrets, writes...); got != tt.want {
					t.Errorf("%s: got %q, want %q", how, got, tt.want)
				}
			}
			check("one write", []byte(tt.in))
			for i := range len(tt.in) + 1 {
				check(fmt.Sprintf("split at %d", i), []byte(tt.in[:i]), []byte(tt.in[i:]))
			}
			check("byte by byte", byteByByte(tt.in)...)
		})
	}
}

// writeLog records each Write, so tests see what reached the writer and when.
type writeLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	calls  int
	closed bool
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	return w.buf.Write(p)
}

// Close is here to catch a Redactor closing a writer it does not own.
func (w *writeLog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

func (w *writeLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestRedactorHoldsBackOnlyPossibleSecrets(t *testing.T) {
	t.Parallel()
	type step struct{ write, visible string }
	tests := []struct {
		name    string
		secrets []string
		steps   []step
		final   string // after Close
	}{
		{
			name:  "no secrets passes through",
			steps: []step{{"hello ", "hello "}, {"SEC", "hello SEC"}, {"RET", "hello SECRET"}},
			final: "hello SECRET",
		},
		{
			name:    "no secret prefix at the end passes through",
			secrets: []string{"SECRET"},
			steps:   []step{{"hello world\n", "hello world\n"}, {"S is for Sam\n", "hello world\nS is for Sam\n"}},
			final:   "hello world\nS is for Sam\n",
		},
		{
			name:    "prefix held until completed",
			secrets: []string{"SECRET"},
			steps:   []step{{"hello SEC", "hello "}, {"RE", "hello "}, {"T!", "hello ***!"}},
			final:   "hello ***!",
		},
		{
			name:    "prefix released when it diverges",
			secrets: []string{"SECRET"},
			steps:   []step{{"a SE", "a "}, {"X", "a SEX"}},
			final:   "a SEX",
		},
		{
			name:    "Close flushes a prefix that was no secret",
			secrets: []string{"SECRET"},
			steps:   []step{{"abc SECR", "abc "}},
			final:   "abc SECR",
		},
		{
			name:    "secret that may grow into a longer one is held",
			secrets: []string{"pass", "password"},
			steps:   []step{{"a pass", "a "}, {"word b", "a *** b"}},
			final:   "a *** b",
		},
		{
			name:    "match crossing the held suffix is written at once",
			secrets: []string{"abab"},
			steps:   []step{{"x abab", "x ***"}, {"ab", "x ***"}, {"y", "x ***y"}},
			final:   "x ***y",
		},
		{
			name:    "held suffix of a written match is not written twice",
			secrets: []string{"abab"},
			steps:   []step{{"abab", "***"}},
			final:   "***",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w writeLog
			r := NewRedactor(&w, secretList(tt.secrets...))
			for _, s := range tt.steps {
				if _, err := r.Write([]byte(s.write)); err != nil {
					t.Fatal(err)
				}
				if got := w.String(); got != s.visible {
					t.Errorf("after Write(%q): written %q, want %q", s.write, got, s.visible)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if got := w.String(); got != tt.final {
				t.Errorf("after Close: written %q, want %q", got, tt.final)
			}
			if w.closed {
				t.Error("Close closed the underlying writer")
			}
		})
	}
}

func TestRedactorConcurrentWrites(t *testing.T) {
	t.Parallel()
	const writers, lines = 8, 200
	var w writeLog
	r := NewRedactor(&w, secretList("SECRET", "token-123"))
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				// Each write ends in a secret's prefix, which is held back until the next
				// write, from whichever writer, shows it was none.
				rec := fmt.Sprintf("\ng%d line %d SECRET token-123 SEC", g, i)
				if _, err := r.Write([]byte(rec)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(w.String(), "\n")
	if recs[0] != "" {
		t.Fatalf("output starts with %q", recs[0])
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		seen[rec] = true
	}
	for g := range writers {
		for i := range lines {
			want := fmt.Sprintf("g%d line %d *** *** SEC", g, i)
			if !seen[want] {
				t.Fatalf("output lacks %q", want)
			}
		}
	}
	if len(recs) != writers*lines+1 {
		t.Fatalf("%d records, want %d", len(recs)-1, writers*lines)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestRedactorErrors(t *testing.T) {
	t.Parallel()
	t.Run("write after close", func(t *testing.T) {
		t.Parallel()
		r := NewRedactor(io.Discard, secretList("SECRET"))
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := r.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Write after Close: %v, want os.ErrClosed", err)
		}
	})
	for _, secrets := range [][][]byte{nil, secretList("SECRET")} {
		t.Run(fmt.Sprintf("writer fails with %d secrets", len(secrets)), func(t *testing.T) {
			t.Parallel()
			boom := errors.New("boom")
			r := NewRedactor(failWriter{boom}, secrets)
			for range 2 { // the error sticks
				if _, err := r.Write([]byte("out\n")); !errors.Is(err, boom) {
					t.Fatalf("Write: %v, want %v", err, boom)
				}
			}
			if err := r.Close(); !errors.Is(err, boom) {
				t.Fatalf("Close: %v, want %v", err, boom)
			}
		})
	}
}

func TestRedactorDoesNotAllocate(t *testing.T) {
	in := []byte(strings.Repeat("log line with SECRET and SEC and c2VjcmV0 in it\n", 64))
	r := NewRedactor(io.Discard, secretList("SECRET", "secret", "other"))
	writeAll := func(size int) {
		for p := in; len(p) > 0; p = p[min(size, len(p)):] {
			if _, err := r.Write(p[:min(size, len(p))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, size := range []int{1, 7, len(in)} {
		writeAll(size) // grow the buffers
		if n := testing.AllocsPerRun(10, func() { writeAll(size) }); n != 0 {
			t.Errorf("writes of %d bytes: %v allocations per %d bytes", size, n, len(in))
		}
	}
}

// naiveRedact is the definition the Redactor must meet, computed the slow way: a byte is masked
// when some occurrence of a pattern covers it, and a run of masked bytes becomes one "***" unless
// no single occurrence covers both sides of a boundary inside it.
func naiveRedact(secrets [][]byte, in []byte) string {
	var pats [][]byte
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		pats = append(pats, s)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			pats = append(pats, []byte(enc.EncodeToString(s)))
		}
	}
	covered := make([]bool, len(in))
	joined := make([]bool, len(in)) // joined[i]: one occurrence covers both in[i-1] and in[i]
	for _, p := range pats {
		for i := range in {
			if bytes.HasPrefix(in[i:], p) {
				for j := i; j < i+len(p); j++ {
					covered[j] = true
					joined[j] = joined[j] || j > i
				}
			}
		}
	}
	var out strings.Builder
	for i, c := range in {
		switch {
		case !covered[i]:
			out.WriteByte(c)
		case i == 0 || !covered[i-1] || !joined[i]:
			out.WriteString("***")
		}
	}
	return out.String()
}

func FuzzRedactor(f *testing.F) {
	f.Add([]byte("prefix SECRET suffix"), []byte("SECRET"), []byte("SEC"), []byte{3, 1, 4})
	f.Add([]byte("xabababx password"), []byte("abab"), []byte("pass"), []byte{})
	f.Add([]byte("t=a/sSEjY=, t=a_sSEjY"), []byte("k\xfb\x12\x23"), []byte(""), []byte{1})
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaa"), []byte("aaa"), []byte("aa"), []byte{2, 0, 5})
	f.Fuzz(func(t *testing.T, in, s1, s2, splits []byte) {
		// "***" is the replacement: a secret containing '*' could be spelt by it.
		secrets := [][]byte{bytes.ReplaceAll(s1, []byte("*"), nil), bytes.ReplaceAll(s2, []byte("*"), nil)}
		// Make sure the secrets occur, raw and encoded, amid whatever the fuzzer made of in.
		half := len(in) / 2
		in = slices.Concat(in[:half], secrets[0], in[half:], []byte(base64.RawURLEncoding.EncodeToString(secrets[1])), in[:half])

		want := naiveRedact(secrets, in)
		if got := redactWrites(t, secrets, in); got != want {
			t.Fatalf("one write: got %q, want %q", got, want)
		}

		// Split in as splits says (sizes 1 to 7, a 0 meaning an empty write and then 1,
		// repeating); byte by byte when splits is empty.
		var out bytes.Buffer
		r := NewRedactor(&out, secrets)
		longest := 0
		for _, p := range r.pats {
			longest = max(longest, len(p))
		}
		for i, p := 0, in; len(p) > 0; i++ {
			k := 1
			if len(splits) > 0 {
				k = int(splits[i%len(splits)] % 8)
			}
			if k == 0 {
				if _, err := r.Write(nil); err != nil {
					t.Fatal(err)
				}
				k = 1
			}
			k = min(k, len(p))
			if _, err := r.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
			if len(r.held) >= max(longest, 1) {
				t.Fatalf("holding back %d bytes, longest pattern %d", len(r.held), longest)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != want {
			t.Fatalf("split writes: got %q, want %q", got, want)
		}
		for _, p := range r.pats {
			if bytes.Contains(out.Bytes(), p) {
				t.Fatalf("output %q contains %q", out.Bytes(), p)
			}
		}
	})
}

// BenchmarkRedactor measures a 1 MiB write of log-like text through a Redactor, against io.Copy
// of the same bytes into the same kind of writer; x-copy is the time relative to io.Copy.
func BenchmarkRedactor(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	word := func(n int) []byte {
		w := make([]byte, n)
		for i := range w {
			w[i] = alnum[rng.IntN(len(alnum))]
		}
		return w
	}
	var in []byte
	for len(in) < 1<<20 {
		in = append(in, word(1+rng.IntN(12))...)
		in = append(in, " \n"[min(rng.IntN(10), 1)^1])
	}
	in = in[:1<<20]
	secrets := make([][]byte, 10)
	for i := range secrets {
		secrets[i] = word(24)
	}

	var baseline time.Duration // per op, from the io.Copy run
	var out bytes.Buffer
	out.Grow(2 << 20)
	b.Run("io.Copy", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			out.Reset()
			if _, err := io.Copy(&out, bytes.NewReader(in)); err != nil {
				b.Fatal(err)
			}
		}
		baseline = b.Elapsed() / time.Duration(b.N)
	})
	for _, n := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			r := NewRedactor(&out, secrets[:n])
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				out.Reset()
				if _, err := io.Copy(r, bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
			}
			if baseline > 0 {
				b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(baseline), "x-copy")
			}
		})
	}
}
