package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/arbiterd/arbiter/internal/datadir"
)

// lockDataDir takes the data dir's lock for the daemon's lifetime: one daemon per data dir, and
// no offline tool (store migrate) underneath it.
func lockDataDir(dir string) (*datadir.Lock, error) {
	l, err := datadir.TryLock(dir)
	var held *datadir.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("another arbiter daemon (%s) is already using data dir %s; stop it first or use another --data-dir", held.Holder(), dir)
	}
	return l, err
}

// loadNodeID returns the daemon's persistent identity, kept in the data dir's node-id file and
// created on first start. It makes run markers unique on the machine: another daemon with its
// own data dir numbers its runs from 1 too.
func loadNodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("make node id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}
