package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/internal/secretbox"
	"github.com/arbiterd/arbiter/store"
)

// openKey settles the master key before the daemon does anything with its data: it loads the
// key file (refusing one others may read), finishes a key rotation a crash interrupted, refuses
// a key that is not the one the stored secrets were sealed with, and creates a key on first
// start.
func (d *Daemon) openKey(ctx context.Context) error {
	secrets, err := d.store.ListSecrets(ctx)
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	var inUse []string
	for _, s := range secrets {
		if !slices.Contains(inUse, s.KeyID) {
			inUse = append(inUse, s.KeyID)
		}
	}
	d.key, err = secretbox.Resume(d.keyPath, inUse)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && len(secrets) == 0 && !d.keyReadOnly:
		if d.key, err = secretbox.CreateKey(d.keyPath); err != nil {
			return fmt.Errorf("create the secrets key: %w", err)
		}
		d.log.Info("created the secrets key", "path", d.keyPath)
		return nil
	}
	return err
}

// secretValues decrypts the secrets a job's environment references, for one run, and records
// each read in the event log. It fails, naming the secret, when one is missing or does not
// decrypt: a run never starts with an empty variable in place of a secret.
func (d *Daemon) secretValues(ctx context.Context, job arbiter.Job, runID int64) (env []string, values [][]byte, err error) {
	if len(job.SecretRefs()) == 0 {
		return nil, nil, nil
	}
	d.keyMu.RLock()
	defer d.keyMu.RUnlock()
	keys := make([]string, 0, len(job.Env))
	for k := range job.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, ok := strings.CutPrefix(job.Env[k], arbiter.SecretRefPrefix)
		if !ok {
			continue
		}
		s, err := d.store.GetSecret(ctx, name)
		if errors.Is(err, arbiter.ErrNotFound) {
			return nil, nil, fmt.Errorf("secret %q (for %s) does not exist; set it with `arbiter secret set %s`", name, k, name)
		} else if err != nil {
			return nil, nil, fmt.Errorf("read secret %q: %w", name, err)
		}
		value, err := d.key.Open(s.Name, s.Nonce, s.Ciphertext)
		if err != nil {
			return nil, nil, err
		}
		if err := d.store.AppendEvent(ctx, arbiter.Event{
			At: d.clock.Now(), Kind: "secret.read", Job: job.Name, RunID: runID, Actor: "daemon", Detail: name,
		}); err != nil {
			return nil, nil, fmt.Errorf("record the read of secret %q: %w", name, err)
		}
		env = append(env, k+"="+string(value))
		values = append(values, value)
	}
	return env, values, nil
}

// secretUsers maps each secret name to the jobs that reference it.
func (d *Daemon) secretUsers(ctx context.Context) (map[string][]string, error) {
	jobs, err := d.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	users := make(map[string][]string)
	for _, j := range jobs {
		for _, name := range j.SecretRefs() {
			if !slices.Contains(users[name], j.Name) {
				users[name] = append(users[name], j.Name)
			}
		}
	}
	return users, nil
}

func secretView(s arbiter.Secret, users []string) api.Secret {
	if users == nil {
		users = []string{}
	}
	return api.Secret{Name: s.Name, Size: s.Size, KeyID: s.KeyID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, UsedBy: users}
}

func secretErr(name string, err error) error {
	if errors.Is(err, arbiter.ErrNotFound) {
		return &apiError{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no secret named %q; `arbiter secret ls` lists them", name)}
	}
	return err
}

func (d *Daemon) handleListSecrets(w http.ResponseWriter, r *http.Request) error {
	secrets, err := d.store.ListSecrets(r.Context())
	if err != nil {
		return err
	}
	users, err := d.secretUsers(r.Context())
	if err != nil {
		return err
	}
	out := api.SecretList{Secrets: make([]api.Secret, 0, len(secrets))}
	for _, s := range secrets {
		out.Secrets = append(out.Secrets, secretView(s, users[s.Name]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Daemon) handlePutSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := arbiter.ValidateName(name); err != nil {
		return badRequest("%q is not a valid secret name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
	}
	var body api.SecretValue
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Value == "" {
		return badRequest("the secret's value is empty")
	}
	// Held until the ciphertext is stored, so a key rotation never misses it.
	d.keyMu.RLock()
	defer d.keyMu.RUnlock()
	nonce, ciphertext, err := d.key.Seal(name, []byte(body.Value))
	if err != nil {
		return err
	}
	now := d.clock.Now()
	created, err := d.store.PutSecret(r.Context(), store.SecretPutParams{
		Secret: arbiter.Secret{Name: name, KeyID: d.key.ID(), Nonce: nonce, Ciphertext: ciphertext, Size: len(body.Value)},
		Now:    now, Actor: actorOf(r),
	})
	if err != nil {
		return err
	}
	s, err := d.store.GetSecret(r.Context(), name)
	if err != nil {
		return err
	}
	users, err := d.secretUsers(r.Context())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, secretView(s, users[name]))
	return nil
}

func (d *Daemon) handleDeleteSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	force := r.URL.Query().Get("force") == "1"
	if _, err := d.store.GetSecret(r.Context(), name); err != nil {
		return secretErr(name, err)
	}
	users, err := d.secretUsers(r.Context())
	if err != nil {
		return err
	}
	if len(users[name]) > 0 && !force {
		return &apiError{http.StatusConflict, api.CodeConflict, fmt.Sprintf(
			"secret %q is used by %v; change those jobs first, or remove it anyway with --force (their runs will then fail until it is set again)", name, users[name])}
	}
	if err := d.store.DeleteSecret(r.Context(), store.SecretDeleteParams{Name: name, Now: d.clock.Now(), Actor: actorOf(r)}); err != nil {
		return secretErr(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRotateKey replaces the master key: every secret is re-encrypted under a new key in one
// transaction, and only then do the key files change (see secretbox.Rotate), so a crash at any
// point leaves a key that opens every stored secret.
func (d *Daemon) handleRotateKey(w http.ResponseWriter, r *http.Request) error {
	if d.keyReadOnly {
		return &apiError{http.StatusConflict, api.CodeConflict, fmt.Sprintf(
			"the secrets key %s comes from systemd credentials and is read-only; rotate it there", d.keyPath)}
	}
	if d.cluster != nil {
		// The other nodes would keep the old key, and no secret would open there any more.
		return &apiError{http.StatusConflict, api.CodeConflict,
			"the nodes of a cluster share one secrets key, which rotate-key cannot hand to the others; it is not supported with a Postgres store yet"}
	}
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	ctx := r.Context()
	var count int
	old := d.key
	backup, err := secretbox.Rotate(d.keyPath, func(next *secretbox.Key) error {
		secrets, err := d.store.ListSecrets(ctx)
		if err != nil {
			return err
		}
		for i, s := range secrets {
			value, err := old.Open(s.Name, s.Nonce, s.Ciphertext)
			if err != nil {
				return err
			}
			nonce, ciphertext, err := next.Seal(s.Name, value)
			if err != nil {
				return err
			}
			secrets[i].KeyID, secrets[i].Nonce, secrets[i].Ciphertext = next.ID(), nonce, ciphertext
		}
		count = len(secrets)
		if err := d.store.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: secrets, Now: d.clock.Now(), Actor: actorOf(r)}); err != nil {
			return err
		}
		d.key = next
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate the secrets key: %w", err)
	}
	d.log.Info("rotated the secrets key", "secrets", count, "key_id", d.key.ID(), "backup", backup)
	writeJSON(w, http.StatusOK, api.KeyRotation{Secrets: count, KeyID: d.key.ID(), Backup: backup})
	return nil
}
