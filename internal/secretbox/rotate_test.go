package secretbox

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// row is a stored secret as the database holds it.
type row struct {
	keyID     string
	nonce, ct []byte
}

// db stands in for the secrets table: the tests need only what the store keeps.
type db map[string]row

var plaintexts = map[string]string{"api-token": "tok-123", "db.password": "hunter2", "empty": ""}

func sealAll(t *testing.T, k *Key) db {
	t.Helper()
	d := db{}
	for name, v := range plaintexts {
		nonce, ct, err := k.Seal(name, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		d[name] = row{k.ID(), nonce, ct}
	}
	return d
}

// reencrypt is what the daemon does in step 2: open every row with the old key, seal it with the
// new one, and commit all rows at once (here: return the new table, or nothing).
func reencrypt(t *testing.T, d db, old, next *Key) db {
	t.Helper()
	out := db{}
	for name, r := range d {
		v, err := old.Open(name, r.nonce, r.ct)
		if err != nil {
			t.Fatalf("open %s with the old key: %v", name, err)
		}
		nonce, ct, err := next.Seal(name, v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = row{next.ID(), nonce, ct}
	}
	return out
}

func (d db) keyIDs() []string {
	var ids []string
	for _, r := range d {
		ids = append(ids, r.keyID)
	}
	return ids
}

// wantOpens checks that k opens every row to its value.
func wantOpens(t *testing.T, d db, k *Key) {
	t.Helper()
	if len(d) != len(plaintexts) {
		t.Fatalf("%d secrets, want %d", len(d), len(plaintexts))
	}
	for name, r := range d {
		if r.keyID != k.ID() {
			t.Errorf("%s: sealed with key %s, the key is %s", name, r.keyID, k.ID())
		}
		v, err := k.Open(name, r.nonce, r.ct)
		if err != nil || string(v) != plaintexts[name] {
			t.Errorf("Open(%s) = %q, %v; want %q", name, v, err, plaintexts[name])
		}
	}
}

// files lists the names in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func wantFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("files in the key directory = %v, want %v", got, want)
	}
}

func loadKey(t *testing.T, path string) *Key {
	t.Helper()
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotate(t *testing.T) {
	t.Parallel()
	path, old := testKey(t)
	dir := filepath.Dir(path)
	d := sealAll(t, old)

	var seen *Key
	backup, err := Rotate(path, func(next *Key) error {
		seen = next
		// The new key is on disk before anything is sealed with it.
		if onDisk := loadKey(t, path+".new"); onDisk.ID() != next.ID() {
			t.Errorf("key.new holds %s, reencrypt got %s", onDisk.ID(), next.ID())
		}
		d = reencrypt(t, d, old, next)
		return nil
	})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if seen == nil || seen.ID() == old.ID() {
		t.Fatalf("reencrypt saw key %v, old key %s", seen, old.ID())
	}
	if want := path + ".old-" + old.ID(); backup != want {
		t.Errorf("backup = %s, want %s", backup, want)
	}
	if k := loadKey(t, backup); k.ID() != old.ID() {
		t.Errorf("the backup holds key %s, want the old %s", k.ID(), old.ID())
	}
	current := loadKey(t, path)
	if current.ID() != seen.ID() {
		t.Errorf("%s holds key %s, want the new %s", path, current.ID(), seen.ID())
	}
	wantFiles(t, dir, "secret.key", "secret.key.old-"+old.ID())
	wantOpens(t, d, current)
	for _, p := range []string{path, backup} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi.Mode(), err)
		}
	}

	// The next start finds everything in order.
	k, err := Resume(path, d.keyIDs())
	if err != nil || k.ID() != current.ID() {
		t.Errorf("Resume after a rotation = %v, %v; want key %s", k, err, current.ID())
	}

	// A second rotation keeps both backups.
	if _, err := Rotate(path, func(next *Key) error { d = reencrypt(t, d, current, next); return nil }); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, dir, "secret.key", "secret.key.old-"+old.ID(), "secret.key.old-"+current.ID())
	wantOpens(t, d, loadKey(t, path))
}

func TestRotateReencryptFails(t *testing.T) {
	t.Parallel()
	path, old := testKey(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := sealAll(t, old)
	boom := errors.New("database is locked")
	_, err = Rotate(path, func(next *Key) error {
		_ = reencrypt(t, d, old, next) // sealed, but never committed
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Rotate = %v, want the reencrypt error", err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(after, before) {
		t.Errorf("the key file changed (%v)", err)
	}
	wantFiles(t, filepath.Dir(path), "secret.key")
	wantOpens(t, d, loadKey(t, path))
	if k, err := Resume(path, d.keyIDs()); err != nil || k.ID() != old.ID() {
		t.Errorf("Resume = %v, %v; want the old key", k, err)
	}
}

func TestRotateRefusals(t *testing.T) {
	t.Parallel()
	t.Run("rotation under way", func(t *testing.T) {
		t.Parallel()
		path, _ := testKey(t)
		writeFile(t, path+".new", bytes.Repeat([]byte{1}, KeySize), 0o600)
		_, err := Rotate(path, func(*Key) error { t.Error("reencrypt called"); return nil })
		if err == nil || !strings.Contains(err.Error(), "secret.key.new exists") {
			t.Errorf("Rotate with a key.new present = %v", err)
		}
		if got, _ := os.ReadFile(path + ".new"); !bytes.Equal(got, bytes.Repeat([]byte{1}, KeySize)) {
			t.Error("Rotate changed the other rotation's key.new")
		}
	})
	t.Run("no key", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "secret.key")
		_, err := Rotate(path, func(*Key) error { t.Error("reencrypt called"); return nil })
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Rotate without a key = %v, want fs.ErrNotExist", err)
		}
		wantFiles(t, filepath.Dir(path))
	})
	t.Run("unsafe mode", func(t *testing.T) {
		t.Parallel()
		path, _ := testKey(t)
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Rotate(path, func(*Key) error { t.Error("reencrypt called"); return nil })
		if err == nil || !strings.Contains(err.Error(), "has mode 0644") {
			t.Errorf("Rotate of a 0644 key = %v", err)
		}
	})
}

// TestResumeAfterCrash stops a rotation at each point a process can die, then starts again the
// way the daemon does: Resume with the key ids the database holds. The steps are the unexported
// prepare (1), the caller's transaction (2) and finish (3), which Rotate runs in this order.
func TestResumeAfterCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// crash runs the rotation up to the crash and returns the database as committed.
		crash   func(t *testing.T, path string, old *Key, d db) db
		wantNew bool // the rotation counts (the database committed to the new key)
	}{
		{"after step 1: new key written, database untouched", func(t *testing.T, path string, old *Key, d db) db {
			if _, err := prepare(path); err != nil {
				t.Fatal(err)
			}
			return d
		}, false},
		{"in step 2: sealed under the new key, not committed", func(t *testing.T, path string, old *Key, d db) db {
			next, err := prepare(path)
			if err != nil {
				t.Fatal(err)
			}
			_ = reencrypt(t, d, old, next) // lost with the transaction
			return d
		}, false},
		{"after step 2: committed, files not swapped", func(t *testing.T, path string, old *Key, d db) db {
			next, err := prepare(path)
			if err != nil {
				t.Fatal(err)
			}
			return reencrypt(t, d, old, next)
		}, true},
		{"in step 3: old key linked to its backup", func(t *testing.T, path string, old *Key, d db) db {
			next, err := prepare(path)
			if err != nil {
				t.Fatal(err)
			}
			d = reencrypt(t, d, old, next)
			if err := os.Link(path, backupPath(path, old.ID())); err != nil {
				t.Fatal(err)
			}
			return d
		}, true},
		{"in step 3: old key moved to its backup, new key not yet in place", func(t *testing.T, path string, old *Key, d db) db {
			next, err := prepare(path)
			if err != nil {
				t.Fatal(err)
			}
			d = reencrypt(t, d, old, next)
			if err := os.Rename(path, backupPath(path, old.ID())); err != nil {
				t.Fatal(err)
			}
			return d
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, old := testKey(t)
			d := tt.crash(t, path, old, sealAll(t, old))

			k, err := Resume(path, d.keyIDs())
			if err != nil {
				t.Fatalf("Resume: %v", err)
			}
			wantOpens(t, d, k)
			if onDisk := loadKey(t, path); onDisk.ID() != k.ID() {
				t.Errorf("%s holds key %s, Resume returned %s", path, onDisk.ID(), k.ID())
			}
			if tt.wantNew {
				if k.ID() == old.ID() {
					t.Error("Resume kept the old key, but the database moved to the new one")
				}
				wantFiles(t, filepath.Dir(path), "secret.key", "secret.key.old-"+old.ID())
				if b := loadKey(t, backupPath(path, old.ID())); b.ID() != old.ID() {
					t.Errorf("the backup holds %s, want %s", b.ID(), old.ID())
				}
			} else {
				if k.ID() != old.ID() {
					t.Errorf("Resume = key %s, want the old %s", k.ID(), old.ID())
				}
				wantFiles(t, filepath.Dir(path), "secret.key") // the stale key.new is gone
			}

			// Starting again changes nothing, and a new rotation works.
			again, err := Resume(path, d.keyIDs())
			if err != nil || again.ID() != k.ID() {
				t.Errorf("second Resume = %v, %v; want key %s", again, err, k.ID())
			}
			if _, err := Rotate(path, func(next *Key) error { d = reencrypt(t, d, k, next); return nil }); err != nil {
				t.Fatalf("Rotate after Resume: %v", err)
			}
			wantOpens(t, d, loadKey(t, path))
		})
	}
}

func TestResume(t *testing.T) {
	t.Parallel()

	t.Run("key in use", func(t *testing.T) {
		t.Parallel()
		path, k := testKey(t)
		got, err := Resume(path, []string{k.ID(), k.ID(), k.ID()})
		if err != nil || got.ID() != k.ID() {
			t.Errorf("Resume = %v, %v", got, err)
		}
	})
	t.Run("no secrets, key present", func(t *testing.T) {
		t.Parallel()
		path, k := testKey(t)
		writeFile(t, path+".new", bytes.Repeat([]byte{1}, KeySize), 0o600) // stale, used by nothing
		got, err := Resume(path, nil)
		if err != nil || got.ID() != k.ID() {
			t.Errorf("Resume = %v, %v", got, err)
		}
		wantFiles(t, filepath.Dir(path), "secret.key")
	})
	t.Run("no secrets, no key: the caller creates one", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "secret.key")
		_, err := Resume(path, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Resume = %v, want fs.ErrNotExist", err)
		}
		k, err := CreateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Resume(path, nil); err != nil || got.ID() != k.ID() {
			t.Errorf("Resume after CreateKey = %v, %v", got, err)
		}
	})
	t.Run("no secrets, crash in step 3", func(t *testing.T) {
		t.Parallel()
		path, old := testKey(t)
		next, err := prepare(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path, backupPath(path, old.ID())); err != nil {
			t.Fatal(err)
		}
		got, err := Resume(path, nil)
		if err != nil || got.ID() != next.ID() {
			t.Errorf("Resume = %v, %v; want the new key %s", got, err, next.ID())
		}
		wantFiles(t, filepath.Dir(path), "secret.key", "secret.key.old-"+old.ID())
	})
	t.Run("secrets but no key", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "secret.key")
		_, err := Resume(path, []string{"0123456789abcdef"})
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Resume = %v; want an error that does not invite creating a key", err)
		}
		for _, want := range []string{"sealed with key 0123456789abcdef", path + " is missing", "restore the right key file"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		path, k := testKey(t)
		_, err := Resume(path, []string{"0123456789abcdef"})
		want := "the secrets were sealed with key 0123456789abcdef, but " + path + " holds key " + k.ID() + "; restore the right key file"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resume = %v; want %q", err, want)
		}
	})
	t.Run("database older than the key", func(t *testing.T) {
		// A rotation finished, then the database was restored from a backup made before it.
		t.Parallel()
		path, old := testKey(t)
		before := sealAll(t, old)
		backup, err := Rotate(path, func(next *Key) error { _ = reencrypt(t, before, old, next); return nil })
		if err != nil {
			t.Fatal(err)
		}
		_, err = Resume(path, before.keyIDs())
		if err == nil || !strings.Contains(err.Error(), "sealed with key "+old.ID()+", which is in "+backup) {
			t.Fatalf("Resume = %v; want it to name %s", err, backup)
		}
		// Following the advice works.
		if err := os.Rename(path, path+".aside"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(backup, path); err != nil {
			t.Fatal(err)
		}
		k, err := Resume(path, before.keyIDs())
		if err != nil {
			t.Fatal(err)
		}
		wantOpens(t, before, k)
	})
	t.Run("backup named for a key it does not hold", func(t *testing.T) {
		t.Parallel()
		path, _ := testKey(t)
		writeFile(t, backupPath(path, "0123456789abcdef"), bytes.Repeat([]byte{1}, KeySize), 0o600)
		_, err := Resume(path, []string{"0123456789abcdef"})
		if err == nil || strings.Contains(err.Error(), "which is in") || !strings.Contains(err.Error(), "restore the right key file") {
			t.Errorf("Resume = %v; want no trust in a backup's name", err)
		}
	})
	t.Run("several keys in use", func(t *testing.T) {
		t.Parallel()
		path, k := testKey(t)
		_, err := Resume(path, []string{k.ID(), "0123456789abcdef", k.ID()})
		if err == nil || !strings.Contains(err.Error(), "2 different keys (0123456789abcdef, "+k.ID()+")") &&
			!strings.Contains(err.Error(), "2 different keys ("+k.ID()+", 0123456789abcdef)") {
			t.Errorf("Resume = %v", err)
		}
	})
	t.Run("unsafe key file", func(t *testing.T) {
		t.Parallel()
		path, k := testKey(t)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Resume(path, []string{k.ID()}); err == nil || !strings.Contains(err.Error(), "has mode 0640") {
			t.Errorf("Resume = %v", err)
		}
	})
}
