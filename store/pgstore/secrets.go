package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

const secretColumns = `name, key_id, nonce, ciphertext, size, created_at, updated_at`

func scanSecret(row pgx.Row) (arbiter.Secret, error) {
	var (
		sec              arbiter.Secret
		created, updated int64
	)
	if err := row.Scan(&sec.Name, &sec.KeyID, &sec.Nonce, &sec.Ciphertext, &sec.Size, &created, &updated); err != nil {
		return arbiter.Secret{}, err
	}
	sec.CreatedAt, sec.UpdatedAt = fromNS(created), fromNS(updated)
	return sec, nil
}

// PutSecret writes the event's detail as the secret's name and nothing else: the event log is
// readable by every client, and must never hold a value, a nonce or a ciphertext.
//
// One upsert, so two nodes putting a new secret at once cannot both create it; xmax = 0 tells a
// row this statement inserted from one it updated (an updated row carries our transaction id
// in xmax, as the lock of the conflicting row).
func (s *Store) PutSecret(ctx context.Context, p store.SecretPutParams) (created bool, err error) {
	sec := p.Secret
	if err := store.ValidateSecret(sec); err != nil {
		return false, fmt.Errorf("put secret %q: %w", sec.Name, err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		now := ns(p.Now)
		if err := tx.QueryRow(ctx,
			`INSERT INTO secrets (`+secretColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
				ciphertext = excluded.ciphertext, size = excluded.size, updated_at = excluded.updated_at
			RETURNING xmax = 0`,
			sec.Name, sec.KeyID, sec.Nonce, sec.Ciphertext, sec.Size, now).Scan(&created); err != nil {
			return err
		}
		kind := "secret.updated"
		if created {
			kind = "secret.created"
		}
		tx.event(p.Now, kind, "", 0, p.Actor, sec.Name)
		return nil
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
	sec, err := scanSecret(s.pool.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets WHERE name = $1`, name))
	if err != nil {
		return arbiter.Secret{}, fmt.Errorf("get secret %q: %w", name, interpretError(err))
	}
	return sec, nil
}

func (s *Store) ListSecrets(ctx context.Context) ([]arbiter.Secret, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+secretColumns+` FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", interpretError(err))
	}
	secrets, err := collect(nil, rows, scanSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", interpretError(err))
	}
	return secrets, nil
}

func (s *Store) DeleteSecret(ctx context.Context, p store.SecretDeleteParams) error {
	if err := arbiter.ValidateName(p.Name); err != nil {
		return fmt.Errorf("delete secret %q: %w", p.Name, err)
	}
	err := s.write(ctx, func(tx *wtx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM secrets WHERE name = $1`, p.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		tx.event(p.Now, "secret.deleted", "", 0, p.Actor, p.Name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", p.Name, interpretError(err))
	}
	return nil
}

// ReplaceSecrets is the database half of a key rotation. The set check and every write share one
// transaction, which first locks the table against every other writer (readers go on): a secret
// put or deleted since the caller listed them, on any node, makes the set differ, and the
// rotation fails whole instead of leaving a secret sealed with a key that is about to become the
// backup. Row locks would not do: they cannot stop a new secret from being inserted.
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
	err := s.write(ctx, func(tx *wtx) error {
		// SHARE ROW EXCLUSIVE conflicts with the lock of INSERT, UPDATE and DELETE, and with
		// itself, not with SELECT.
		if _, err := tx.Exec(ctx, `LOCK TABLE secrets IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
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
		names := make([]string, 0, len(p.Secrets))
		nonces := make([][]byte, 0, len(p.Secrets))
		cts := make([][]byte, 0, len(p.Secrets))
		for _, sec := range p.Secrets {
			if !sec.UpdatedAt.IsZero() && ns(sec.UpdatedAt) != stored[sec.Name] {
				return fmt.Errorf("%w: secret %q changed after it was read for the rotation (updated at %s, not %s)",
					arbiter.ErrConflict, sec.Name, fromNS(stored[sec.Name]).Format(time.RFC3339Nano), sec.UpdatedAt.UTC().Format(time.RFC3339Nano))
			}
			names, nonces, cts = append(names, sec.Name), append(nonces, sec.Nonce), append(cts, sec.Ciphertext)
		}
		if len(names) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE secrets s SET key_id = $1, nonce = v.nonce, ciphertext = v.ciphertext
				FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS v (name, nonce, ciphertext)
				WHERE s.name = v.name`, keyID, names, nonces, cts); err != nil {
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
		tx.event(p.Now, "secret.rotated", "", 0, p.Actor, detail)
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace secrets: %w", interpretError(err))
	}
	return nil
}

// secretVersions returns the updated_at of every stored secret, by name.
func secretVersions(ctx context.Context, tx *wtx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `SELECT name, updated_at FROM secrets`)
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
