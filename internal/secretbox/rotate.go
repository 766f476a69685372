package secretbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// newSuffix names the key a rotation is moving to, until the rotation finishes.
const newSuffix = ".new"

// backupPath is where a rotation keeps the key it replaced, until the operator removes it.
func backupPath(path, id string) string { return path + ".old-" + id }

// Rotate replaces the key at path with a new random one, crash-safely (see the package doc):
//
//  1. the new key is written to path+".new" (mode 0600, synced);
//  2. reencrypt(newKey) re-seals every secret under the new key and stores them all in one
//     database transaction (store.Store.ReplaceSecrets). When it fails, the .new file is removed
//     and nothing has changed;
//  3. the old key is kept as path+".old-<old id>" (the returned backup, for the operator to
//     remove once the database backups made before the rotation have expired) and the new key
//     takes its place at path.
//
// When Rotate fails after reencrypt succeeded, the secrets are sealed with the new key: keep
// using the key reencrypt received; Resume finishes the file swap on the next start.
//
// A key in $CREDENTIALS_DIRECTORY is systemd's, read-only to arbiter: Rotate refuses it.
func Rotate(path string, reencrypt func(newKey *Key) error) (backup string, err error) {
	if underCredentials(path) {
		return "", fmt.Errorf("rotate secret key: %s is a systemd credential ($%s), which arbiter cannot replace; "+
			"rotating it needs the old and the new key at once, so move the key to the data directory first", path, envCredentials)
	}
	old, err := LoadKey(path)
	if err != nil {
		return "", fmt.Errorf("rotate secret key: %w", err)
	}
	next, err := prepare(path)
	newPath := path + newSuffix
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("rotate secret key: %s exists: another rotation is under way, or one was interrupted "+
			"(restarting arbiter finishes or discards it)", newPath)
	} else if err != nil {
		return "", fmt.Errorf("rotate secret key: %w", err)
	}
	if err := reencrypt(next); err != nil {
		// The transaction did not commit, so the secrets are still sealed with the old key and the
		// new one must not survive: a later Resume would otherwise have two candidate keys.
		if rerr := removeStale(newPath); rerr != nil {
			return "", fmt.Errorf("rotate secret key: re-encrypt: %w (and %v)", err, rerr)
		}
		return "", fmt.Errorf("rotate secret key: re-encrypt: %w", err)
	}
	backup, err = finish(path, old.ID(), newPath)
	if err != nil {
		return "", fmt.Errorf("rotate secret key: the secrets are now sealed with key %s, kept in %s until arbiter's next start moves it to %s: %w",
			next.ID(), newPath, path, err)
	}
	return backup, nil
}

// prepare is step 1 of a rotation: a new key in path+".new", on disk before any secret is sealed
// with it. It fails with fs.ErrExist when that file exists.
func prepare(path string) (*Key, error) {
	next, raw, err := generate()
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	if err := writeKeyFile(path+newSuffix, raw); err != nil {
		return nil, err
	}
	return next, nil
}

// finish is step 3 of a rotation: the key at path (when oldID is not "") is kept as its backup,
// and the key at newPath replaces it. Running it again after a crash part-way is safe.
func finish(path, oldID, newPath string) (backup string, err error) {
	if oldID != "" {
		backup = backupPath(path, oldID)
		// A hard link, then a rename over path, so that path names a whole key at every instant:
		// the old one, then the new one. Where hard links are unsupported, move the old key
		// instead; Resume copes with the moment in between, when path is missing. An existing
		// backup is this very key (the name carries its id) from an interrupted finish.
		if err := os.Link(path, backup); err != nil && !errors.Is(err, fs.ErrExist) {
			if err := os.Rename(path, backup); err != nil {
				return "", fmt.Errorf("keep the old key: %w", err)
			}
		}
	}
	if err := os.Rename(newPath, path); err != nil {
		return "", fmt.Errorf("install the new key: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return backup, nil
}

// removeStale removes a rotation's new key that no secret uses, if there is one.
func removeStale(newPath string) error {
	err := os.Remove(newPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the unused new key: %w", err)
	}
	return syncDir(filepath.Dir(newPath))
}

// Resume returns the key to use at start-up, given the key ids of the stored secrets (inUse, in
// any order, repeats allowed), and finishes or undoes a rotation that a crash interrupted:
//
//   - the key at path is the one in use (or no secret exists): it is returned, and a leftover
//     path+".new" that no secret uses is removed;
//   - the secrets use the key in path+".new" (a crash after the database committed the
//     rotation): the rotation is finished, and the new key returned;
//   - the secrets use another key: an error that names the file holding it when a rotation's
//     backup does (the database is older than the key file: restored from a backup?), and asks
//     for the right key file otherwise;
//   - no key file and no secret: an error matching fs.ErrNotExist; the caller creates the key
//     (CreateKey). No key file but secrets exist: an error that does not match fs.ErrNotExist,
//     since a new key could never open them.
func Resume(path string, inUse []string) (*Key, error) {
	var ids []string
	for _, id := range inUse {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	newPath := path + newSuffix

	cur, err := LoadKey(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return nil, fmt.Errorf("resume secret key: %w", err)
	}
	if len(ids) > 1 {
		// A rotation re-seals every secret in one transaction and new secrets are sealed with
		// the current key, so the database was altered, or restored in part.
		return nil, fmt.Errorf("resume secret key: the secrets are sealed with %d different keys (%s); "+
			"arbiter keeps them all under one key, so the database was altered or partly restored", len(ids), strings.Join(ids, ", "))
	}

	if !missing && (len(ids) == 0 || cur.ID() == ids[0]) {
		// A crash after step 1 left the rotation's new key, which nothing was sealed with.
		if err := removeStale(newPath); err != nil {
			return nil, fmt.Errorf("resume secret key: %w", err)
		}
		return cur, nil
	}

	// A crash after step 2: the database uses the new key (or holds no secret at all and path is
	// missing, a crash in the middle of step 3). Finish step 3.
	if next, err := LoadKey(newPath); err == nil && (len(ids) == 0 || next.ID() == ids[0]) {
		oldID := ""
		if !missing {
			oldID = cur.ID()
		}
		if _, err := finish(path, oldID, newPath); err != nil {
			return nil, fmt.Errorf("resume secret key: finish the rotation to key %s: %w", next.ID(), err)
		}
		return next, nil
	}

	if len(ids) == 0 { // and missing
		return nil, fmt.Errorf("resume secret key: %s: %w", path, fs.ErrNotExist)
	}
	want := ids[0]
	holds := "is missing"
	if !missing {
		holds = "holds key " + cur.ID()
	}
	backup := backupPath(path, want)
	if old, err := LoadKey(backup); err == nil && old.ID() == want {
		return nil, fmt.Errorf("resume secret key: the secrets were sealed with key %s, which is in %s (kept by a key rotation), "+
			"but %s %s: the database is older than the key file (restored from a backup?); put that key back at %s, keeping the other one aside",
			want, backup, path, holds, path)
	}
	return nil, fmt.Errorf("resume secret key: the secrets were sealed with key %s, but %s %s; restore the right key file "+
		"(a new key cannot open them)", want, path, holds)
}
