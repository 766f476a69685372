package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const secretColumns = `name, key_id, nonce, ciphertext, size, created_at, updated_at`

func scanSecret(sc scanner) (arbiter.Secret, error) {
	var (
		sec              arbiter.Secret
		created, updated int64
	)
	if err := sc.Scan(&sec.Name, &sec.KeyID, &sec.Nonce, &sec.Ciphertext, &sec.Size, &created, &updated); err != nil {
		return arbiter.Secret{}, err
	}
	sec.CreatedAt, sec.UpdatedAt = fromNS(created), fromNS(updated)
	return sec, nil
}

// PutSecret writes the event's detail as the secret's name and nothing else: the event log is
// readable by every client, and must never hold a value, a nonce or a ciphertext.
func (s *Store) PutSecret(ctx context.Context, p store.SecretPutParams) (created bool, err error) {
	sec := p.Secret
	if err := store.ValidateSecret(sec); err != nil {
		return false, fmt.Errorf("put secret %q: %w", sec.Name, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM secrets WHERE name = ?)`, sec.Name).Scan(&exists); err != nil {
			return err
		}
		// The write lock is held since BEGIN IMMEDIATE, so the row cannot appear or vanish
		// between the check above and the upsert below.
		now := ns(p.Now)
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO secrets (`+secretColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
				ciphertext = excluded.ciphertext, size = excluded.size, updated_at = excluded.updated_at`,
			sec.Name, sec.KeyID, sec.Nonce, sec.Ciphertext, sec.Size, now, now); err != nil {
			return err
		}
		created = !exists
		kind := "secret.updated"
		if created {
			kind = "secret.created"
		}
		return s.event(ctx, tx, p.Now, kind, "", 0, p.Actor, sec.Name)
	})
	if err != nil {
		return false, fmt.Errorf("put secret %q: %w", sec.Name, interpretError(err))
	}
	return created, nil
}

func (s *Store) GetSecret(ctx context.Context, name string) (arbiter.Secret, error) {
	if err := arbiter.ValidateName(name); err != nil {
		return arbiter.Secret{}, fmt.Errorf("get secret %q: %w", name, err)
	}
	sec, err := scanSecret(s.rd.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE name = ?`, name))
	if err != nil {
		return arbiter.Secret{}, fmt.Errorf("get secret %q: %w", name, interpretError(err))
	}
	return sec, nil
}

func (s *Store) ListSecrets(ctx context.Context) ([]arbiter.Secret, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", interpretError(err))
	}
	secrets, err := collect(rows, scanSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", interpretError(err))
	}
	return secrets, nil
}

func (s *Store) DeleteSecret(ctx context.Context, p store.SecretDeleteParams) error {
	if err := arbiter.ValidateName(p.Name); err != nil {
		return fmt.Errorf("delete secret %q: %w", p.Name, err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, p.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		return s.event(ctx, tx, p.Now, "secret.deleted", "", 0, p.Actor, p.Name)
	})
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", p.Name, interpretError(err))
	}
	return nil
}

// ReplaceSecrets is the database half of a key rotation. The set check and every write share one
// transaction: a secret put or deleted since the caller listed them makes the set differ, and the
// rotation fails whole instead of leaving a secret sealed with a key that is about to become the
// backup.
//
// A given secret whose UpdatedAt is set (as it is when the caller re-seals what ListSecrets
// returned) must still have that UpdatedAt, else ErrConflict: the secret was put again after the
// caller read it, and writing the re-sealed old value would silently undo that put.
//
// UpdatedAt and Size are kept: they describe the value, and a rotation changes no value.
func (s *Store) ReplaceSecrets(ctx context.Context, p store.SecretReplaceParams) error {
	keyID := ""
	given := make(map[string]bool, len(p.Secrets))
	for _, sec := range p.Secrets {
		if err := store.ValidateSecret(sec); err != nil {
			return fmt.Errorf("replace secrets: %w", err)
		}
		if given[sec.Name] {
			return fmt.Errorf("replace secrets: %w", arbiter.Invalidf("name", "secret %q is given twice", sec.Name))
		}
		given[sec.Name] = true
		if keyID == "" {
			keyID = sec.KeyID
		} else if sec.KeyID != keyID {
			return fmt.Errorf("replace secrets: %w", arbiter.Invalidf("key_id",
				"secret %q is sealed with key %s, the others with %s: a rotation re-encrypts every secret under one key",
				sec.Name, sec.KeyID, keyID))
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stored, err := secretVersions(ctx, tx)
		if err != nil {
			return err
		}
		var missing, unknown []string
		for name := range stored {
			if !given[name] {
				missing = append(missing, name)
			}
		}
		for name := range given {
			if _, ok := stored[name]; !ok {
				unknown = append(unknown, name)
			}
		}
		if len(missing) > 0 || len(unknown) > 0 {
			slices.Sort(missing)
			slices.Sort(unknown)
			return setMismatch(missing, unknown)
		}
		for _, sec := range p.Secrets {
			if !sec.UpdatedAt.IsZero() && ns(sec.UpdatedAt) != stored[sec.Name] {
				return fmt.Errorf("%w: secret %q changed after it was read for the rotation (updated at %s, not %s)",
					arbiter.ErrConflict, sec.Name, fromNS(stored[sec.Name]).Format(time.RFC3339Nano), sec.UpdatedAt.UTC().Format(time.RFC3339Nano))
			}
		}
		for _, sec := range p.Secrets {
			if _, err := tx.ExecContext(ctx,
				`UPDATE secrets SET key_id = ?, nonce = ?, ciphertext = ? WHERE name = ?`,
				sec.KeyID, sec.Nonce, sec.Ciphertext, sec.Name); err != nil {
				return err
			}
		}
		var detail string
		switch len(p.Secrets) {
		case 0:
			detail = "0 secrets re-encrypted"
		case 1:
			detail = "1 secret re-encrypted under key " + keyID
		default:
			detail = fmt.Sprintf("%d secrets re-encrypted under key %s", len(p.Secrets), keyID)
		}
		return s.event(ctx, tx, p.Now, "secret.rotated", "", 0, p.Actor, detail)
	})
	if err != nil {
		return fmt.Errorf("replace secrets: %w", interpretError(err))
	}
	return nil
}

// secretVersions returns the updated_at of every stored secret, by name.
func secretVersions(ctx context.Context, tx *sql.Tx) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, updated_at FROM secrets`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	versions := map[string]int64{}
	for rows.Next() {
		var (
			name    string
			updated int64
		)
		if err := rows.Scan(&name, &updated); err != nil {
			return nil, err
		}
		versions[name] = updated
	}
	return versions, rows.Err()
}

// setMismatch explains why a rotation's secrets are not the stored ones.
func setMismatch(missing, unknown []string) error {
	var why []string
	if len(missing) > 0 {
		why = append(why, "stored but not given: "+strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		why = append(why, "given but not stored: "+strings.Join(unknown, ", "))
	}
	return fmt.Errorf("%w: the secrets changed during the rotation (%s)", arbiter.ErrConflict, strings.Join(why, "; "))
}

// AppendEvent stores e as given but for its ID, which the log assigns.
func (s *Store) AppendEvent(ctx context.Context, e arbiter.Event) error {
	if e.Kind == "" {
		return fmt.Errorf("append event: %w", arbiter.Invalidf("kind", "must not be empty"))
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return s.event(ctx, tx, e.At, e.Kind, e.Job, e.RunID, e.Actor, e.Detail)
	})
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, interpretError(err))
	}
	return nil
}
