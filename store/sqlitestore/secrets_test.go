package sqlitestore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/secretbox"
	"github.com/arbiterd/arbiter/store"
)

// TestSecretsAtRest runs the secrets' life as the daemon will, with the real crypto: put, a key
// rotation (Rotate around ReplaceSecrets), a restart (Resume), reads. No plaintext ever reaches
// the database files, the event log included, and every secret opens with the key Resume picks.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	dbPath, keyPath := filepath.Join(dir, "arbiter.db"), filepath.Join(dir, "secret.key")
	s := openAt(t, dbPath)
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

	values := map[string]string{
		"api-token":   "PLAINTEXT-api-7f3a9c",
		"db.password": "PLAINTEXT-db-e41b02",
	}
	key, err := secretbox.CreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range values {
		nonce, ct, err := key.Seal(name, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		sec := arbiter.Secret{Name: name, KeyID: key.ID(), Nonce: nonce, Ciphertext: ct, Size: len(v)}
		if _, err := s.PutSecret(ctx, store.SecretPutParams{Secret: sec, Now: now, Actor: "uid:1000"}); err != nil {
			t.Fatal(err)
		}
	}

	_, err = secretbox.Rotate(keyPath, func(next *secretbox.Key) error {
		listed, err := s.ListSecrets(ctx)
		if err != nil {
			return err
		}
		for i, sec := range listed {
			v, err := key.Open(sec.Name, sec.Nonce, sec.Ciphertext)
			if err != nil {
				return err
			}
			if listed[i].Nonce, listed[i].Ciphertext, err = next.Seal(sec.Name, v); err != nil {
				return err
			}
			listed[i].KeyID = next.ID()
		}
		return s.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: listed, Now: now.Add(time.Minute), Actor: "uid:0"})
	})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}

	// A restart: the key comes from the ids the database holds.
	listed, err := s.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inUse []string
	for _, sec := range listed {
		inUse = append(inUse, sec.KeyID)
	}
	current, err := secretbox.Resume(keyPath, inUse)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if current.ID() == key.ID() {
		t.Error("the rotation kept the old key")
	}
	for _, sec := range listed {
		v, err := current.Open(sec.Name, sec.Nonce, sec.Ciphertext)
		if err != nil || string(v) != values[sec.Name] {
			t.Errorf("secret %s opens to %q, %v", sec.Name, v, err)
		}
		if sec.Size != len(values[sec.Name]) {
			t.Errorf("secret %s: size %d, want %d", sec.Name, sec.Size, len(values[sec.Name]))
		}
	}

	// Nothing in the files (database, WAL) holds a value; the rotation event names the key.
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("PLAINTEXT-")) {
			t.Errorf("%s holds a plaintext", filepath.Base(p))
		}
	}
	events, err := s.ListEvents(ctx, store.EventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if last := events[len(events)-1]; last.Kind != "secret.rotated" || !strings.Contains(last.Detail, current.ID()) {
		t.Errorf("last event = %+v, want secret.rotated naming key %s", last, current.ID())
	}
}
