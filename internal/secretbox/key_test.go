package secretbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey makes a key file in a temporary directory and returns its path and key.
func testKey(t *testing.T) (string, *Key) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret.key")
	k, err := CreateKey(path)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return path, k
}

func mustNewKey(t *testing.T) *Key {
	t.Helper()
	k, _, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustNewKey(t)
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"text", []byte("hunter2")},
		{"empty", []byte{}},
		{"binary", []byte{0, 0xff, 0x80, '\n', 0}},
		{"unicode", []byte("pässwörd ✓ 🚀")},
		{"large", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}, // 1 MiB
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nonce, ct, err := k.Seal("api-token", tt.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if len(nonce) != 12 || len(ct) != len(tt.plaintext)+16 {
				t.Errorf("nonce %d bytes, ciphertext %d bytes; want 12 and %d", len(nonce), len(ct), len(tt.plaintext)+16)
			}
			got, err := k.Open("api-token", nonce, ct)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealFreshNonce(t *testing.T) {
	t.Parallel()
	k := mustNewKey(t)
	seen := map[string]bool{}
	var cts [][]byte
	for range 100 {
		nonce, ct, err := k.Seal("same", []byte("same value"))
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(nonce)] {
			t.Fatalf("nonce %x reused", nonce)
		}
		seen[string(nonce)] = true
		cts = append(cts, ct)
		if got, err := k.Open("same", nonce, ct); err != nil || string(got) != "same value" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	if bytes.Equal(cts[0], cts[1]) {
		t.Error("two seals of the same value gave the same ciphertext")
	}
}

// TestOpenTampered: every alteration of a stored row, and every wrong key, fails with
// ErrTampered and yields no plaintext.
func TestOpenTampered(t *testing.T) {
	t.Parallel()
	k, other := mustNewKey(t), mustNewKey(t)
	nonceA, ctA, err := k.Seal("a", []byte("value of a"))
	if err != nil {
		t.Fatal(err)
	}
	nonceB, ctB, err := k.Seal("b", []byte("value of b"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[(i+len(c))%len(c)] ^= 0x01
		return c
	}
	tests := []struct {
		name  string
		key   *Key
		as    string
		nonce []byte
		ct    []byte
	}{
		{"first ciphertext byte flipped", k, "a", nonceA, flip(ctA, 0)},
		{"last tag byte flipped", k, "a", nonceA, flip(ctA, -1)},
		{"nonce byte flipped", k, "a", flip(nonceA, 3), ctA},
		{"truncated", k, "a", nonceA, ctA[:len(ctA)-1]},
		{"tag only", k, "a", nonceA, ctA[len(ctA)-16:]},
		{"empty ciphertext", k, "a", nonceA, nil},
		{"short nonce", k, "a", nonceA[:8], ctA},
		{"no nonce", k, "a", nil, ctA},
		{"b's row under a's name", k, "a", nonceB, ctB},
		{"a's row under b's name", k, "b", nonceA, ctA},
		{"a's ciphertext with b's nonce", k, "a", nonceB, ctA},
		{"other key", other, "a", nonceA, ctA},
		{"name with a suffix", k, "a\x00", nonceA, ctA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.key.Open(tt.as, tt.nonce, tt.ct)
			if !errors.Is(err, ErrTampered) || got != nil {
				t.Fatalf("Open = %q, %v; want no plaintext and ErrTampered", got, err)
			}
			want := fmt.Sprintf("secret %q does not decrypt with key %s: the key is wrong or the stored value was altered", tt.as, tt.key.ID())
			if err.Error() != want {
				t.Errorf("error = %q\nwant    %q", err, want)
			}
		})
	}
	// The untouched rows still open.
	for name, row := range map[string][2][]byte{"a": {nonceA, ctA}, "b": {nonceB, ctB}} {
		if got, err := k.Open(name, row[0], row[1]); err != nil || string(got) != "value of "+name {
			t.Errorf("Open(%s) = %q, %v", name, got, err)
		}
	}
}

// TestKeyID: the id is the documented SHA-256 prefix, stable across loads (the same bytes open
// each other's seals), distinct between keys, and no printing of a Key reveals the key.
func TestKeyID(t *testing.T) {
	t.Parallel()
	path, k := testKey(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if want := hex.EncodeToString(sum[:8]); k.ID() != want {
		t.Errorf("ID = %s, want %s (the SHA-256 prefix of the key)", k.ID(), want)
	}
	again, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != k.ID() {
		t.Errorf("ID changed across loads: %s, %s", k.ID(), again.ID())
	}
	nonce, ct, err := k.Seal("x", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open("x", nonce, ct); err != nil || string(got) != "v" {
		t.Errorf("the reloaded key does not open = %q, %v", got, err)
	}
	if other := mustNewKey(t); other.ID() == k.ID() {
		t.Errorf("two random keys share the id %s", k.ID())
	}
	for _, s := range []string{k.ID(), k.String(), fmt.Sprintf("%v %+v %#v", k, k, k)} {
		if strings.Contains(s, hex.EncodeToString(raw)) || strings.Contains(s, string(raw)) {
			t.Errorf("%q reveals the key", s)
		}
	}
}

// writeFile writes a key file with a given content and mode (chmod, so the umask does not
// interfere).
func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0x5a, 0x0a}, 16) // '\n' bytes and a '\n' at the end: raw is raw
	ref, err := newKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	hexKey := hex.EncodeToString(raw)
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		err  string // substring of the error; "" for success
	}{
		{"raw 0600", raw, 0o600, ""},
		{"raw 0400", raw, 0o400, ""},
		{"hex", []byte(hexKey), 0o600, ""},
		{"hex and newline", []byte(hexKey + "\n"), 0o600, ""},
		{"upper-case hex", []byte(strings.ToUpper(hexKey) + "\n"), 0o600, ""},
		{"0644", raw, 0o644, "has mode 0644; it must be 0600 (chmod 600 "},
		{"0640", raw, 0o640, "has mode 0640; it must be 0600"},
		{"0604", raw, 0o604, "has mode 0604"},
		{"0620", raw, 0o620, "has mode 0620"},
		{"0602", raw, 0o602, "has mode 0602"},
		{"0740", raw, 0o740, "has mode 0740"},
		{"empty", nil, 0o600, "holds 0 bytes"},
		{"31 bytes", raw[:31], 0o600, "holds 31 bytes"},
		{"33 bytes", append(bytes.Clone(raw), 'x'), 0o600, "holds 33 bytes"},
		{"raw and newline", append(bytes.Clone(raw), '\n'), 0o600, "holds 33 bytes"},
		{"hex and two newlines", []byte(hexKey + "\n\n"), 0o600, "too long"},
		{"hex and CRLF", []byte(hexKey + "\r\n"), 0o600, "too long"},
		{"hex and a space", []byte(hexKey + " "), 0o600, "holds 65 bytes"},
		{"63 hex digits", []byte(hexKey[:63]), 0o600, "holds 63 bytes"},
		{"not hex", []byte(strings.Repeat("zz", 32)), 0o600, "not hex digits"},
		{"far too long", bytes.Repeat(raw, 10), 0o600, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret.key")
			writeFile(t, path, tt.data, tt.mode)
			k, err := LoadKey(path)
			if tt.err == "" {
				if err != nil || k.ID() != ref.ID() {
					t.Fatalf("LoadKey = %v, %v; want key %s", k, err, ref.ID())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || k != nil {
				t.Fatalf("LoadKey = %v, %v; want an error with %q", k, err, tt.err)
			}
			if strings.Contains(err.Error(), hexKey) || strings.Contains(err.Error(), hexKey[:16]) || strings.Contains(err.Error(), string(raw[:8])) {
				t.Errorf("the error quotes the key: %v", err)
			}
			if strings.HasPrefix(tt.err, "has mode") && !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := LoadKey(filepath.Join(t.TempDir(), "secret.key"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadKey of a missing file = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "secret.key")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadKey of a directory = %v", err)
		}
	})
}

func TestCreateKey(t *testing.T) {
	t.Parallel()
	path, k := testKey(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Errorf("key file: mode %04o, %d bytes; want 0600, %d", fi.Mode().Perm(), fi.Size(), KeySize)
	}
	loaded, err := LoadKey(path)
	if err != nil || loaded.ID() != k.ID() {
		t.Fatalf("LoadKey = %v, %v; want key %s", loaded, err, k.ID())
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateKey(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKey over an existing key = %v, want fs.ErrExist", err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
		t.Errorf("CreateKey changed an existing key file (%v)", err)
	}
	if _, other := testKey(t); other.ID() == k.ID() {
		t.Error("two created keys are the same")
	}
	if _, err := CreateKey(filepath.Join(t.TempDir(), "no", "such", "dir", "secret.key")); err == nil {
		t.Error("CreateKey in a missing directory succeeded")
	}
}

// The tests below set CREDENTIALS_DIRECTORY, so they cannot run in parallel.

func TestKeyPath(t *testing.T) {
	data := t.TempDir()
	creds := t.TempDir()
	want := filepath.Join(data, "secret.key")

	t.Setenv(envCredentials, "")
	if p, ro := KeyPath(data); p != want || ro {
		t.Errorf("without credentials: KeyPath = %s, %v; want %s, false", p, ro, want)
	}
	t.Setenv(envCredentials, creds)
	if p, ro := KeyPath(data); p != want || ro {
		t.Errorf("credentials directory without arbiter.key: KeyPath = %s, %v; want %s, false", p, ro, want)
	}
	cred := filepath.Join(creds, "arbiter.key")
	writeFile(t, cred, bytes.Repeat([]byte{7}, KeySize), 0o444) // as systemd may leave it
	if p, ro := KeyPath(data); p != cred || !ro {
		t.Errorf("with the credential: KeyPath = %s, %v; want %s, true", p, ro, cred)
	}
}

func TestCredentialsKey(t *testing.T) {
	creds := t.TempDir()
	t.Setenv(envCredentials, creds)
	cred := filepath.Join(creds, "arbiter.key")
	writeFile(t, cred, bytes.Repeat([]byte{7}, KeySize), 0o644)

	// systemd manages the credential's mode: no check there ...
	k, err := LoadKey(cred)
	if err != nil {
		t.Fatalf("LoadKey of a credential with mode 0644: %v", err)
	}
	// ... but the same mode elsewhere is refused, credentials or not.
	other := filepath.Join(t.TempDir(), "secret.key")
	writeFile(t, other, bytes.Repeat([]byte{7}, KeySize), 0o644)
	if _, err := LoadKey(other); err == nil || !strings.Contains(err.Error(), "has mode 0644") {
		t.Errorf("LoadKey of a 0644 file outside the credentials directory = %v", err)
	}
	// A file in a subdirectory is not a credential.
	sub := filepath.Join(creds, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sub, "arbiter.key"), bytes.Repeat([]byte{7}, KeySize), 0o644)
	if _, err := LoadKey(filepath.Join(sub, "arbiter.key")); err == nil {
		t.Error("LoadKey of a 0644 file below the credentials directory succeeded")
	}

	called := false
	_, err = Rotate(cred, func(*Key) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "systemd credential") || called {
		t.Errorf("Rotate of a credential = %v (reencrypt called: %v); want a refusal", err, called)
	}
	if entries, _ := os.ReadDir(creds); len(entries) != 2 { // arbiter.key and sub
		t.Errorf("Rotate of a credential wrote files: %v", entries)
	}
	// Resume reads it like any key.
	if got, err := Resume(cred, []string{k.ID()}); err != nil || got.ID() != k.ID() {
		t.Errorf("Resume of a credential = %v, %v", got, err)
	}
}
