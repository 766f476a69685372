package secretbox

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	// envCredentials is set by systemd for a unit with LoadCredential= or
	// LoadCredentialEncrypted=: the directory holding the unit's credentials.
	envCredentials = "CREDENTIALS_DIRECTORY"
	credentialName = "arbiter.key" // LoadCredentialEncrypted=arbiter.key:...
	keyFileName    = "secret.key"
)

// KeyPath says where the master key is: $CREDENTIALS_DIRECTORY/arbiter.key when systemd passes it
// as a credential (readOnly: arbiter must not rename or replace it, so it cannot rotate it), else
// <dataDir>/secret.key, which CreateKey makes on first start.
func KeyPath(dataDir string) (path string, readOnly bool) {
	if dir := os.Getenv(envCredentials); dir != "" {
		p := filepath.Join(dir, credentialName)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return filepath.Join(dataDir, keyFileName), false
}

// underCredentials reports whether path is in $CREDENTIALS_DIRECTORY: a key systemd manages.
func underCredentials(path string) bool {
	dir := os.Getenv(envCredentials)
	if dir == "" {
		return false
	}
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	return err1 == nil && err2 == nil && filepath.Dir(p) == d
}

// LoadKey reads the master key at path: exactly 32 raw bytes, or 64 hex digits with an optional
// trailing newline. It refuses a file that group or others may read or write (mode 0600 or
// stricter is required), except in $CREDENTIALS_DIRECTORY, where systemd owns the mode. A missing
// file gives an error matching fs.ErrNotExist.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the file opened, not of whatever the path names a moment later
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load secret key: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !underCredentials(path) {
		return nil, fmt.Errorf("load secret key: key file %s has mode %04o; it must be 0600 (chmod 600 %s)", path, perm, path)
	}
	// One byte more than the longest valid form, to tell "too long" from "just right".
	data, err := io.ReadAll(io.LimitReader(f, 2*KeySize+2))
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	defer clear(data)
	raw, err := parseKey(data)
	if err != nil {
		// Never quote the content: it is (nearly) a key.
		return nil, fmt.Errorf("load secret key: key file %s %v", path, err)
	}
	defer clear(raw)
	return newKey(raw)
}

// parseKey decodes a key file's content. A raw key may end in any byte, '\n' included, so the
// length decides the form: 32 bytes are raw, 64 or 65 are hex.
func parseKey(data []byte) ([]byte, error) {
	if len(data) == KeySize {
		return bytes.Clone(data), nil
	}
	text := bytes.TrimSuffix(data, []byte("\n"))
	if len(text) != 2*KeySize {
		if len(data) > 2*KeySize+1 {
			return nil, errors.New("is too long: it must hold exactly 32 raw bytes, or 64 hex digits and an optional newline")
		}
		return nil, fmt.Errorf("holds %d bytes: it must hold exactly 32 raw bytes, or 64 hex digits and an optional newline", len(data))
	}
	raw := make([]byte, KeySize)
	if _, err := hex.Decode(raw, text); err != nil {
		return nil, errors.New("holds 64 bytes that are not hex digits: it must hold exactly 32 raw bytes, or 64 hex digits and an optional newline")
	}
	return raw, nil
}

// CreateKey makes a new random key and writes it, raw, to path with mode 0600. It never
// overwrites: an existing file fails with an error matching fs.ErrExist. When it returns, the
// key is on disk (file and directory synced): secrets sealed with it survive a power cut.
func CreateKey(path string) (*Key, error) {
	k, raw, err := generate()
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	defer clear(raw)
	if err := writeKeyFile(path, raw); err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	return k, nil
}

// writeKeyFile creates path (exclusively, mode 0600) holding raw, and syncs it and its
// directory.
func writeKeyFile(path string, raw []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a partial key is worse than none
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the creations, renames and removals in dir durable. Without it, a power cut
// after the call returns may bring back the directory as it was: a key file missing, or a
// rotation's renames undone while the database has committed to the new key.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
