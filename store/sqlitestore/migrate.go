package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/arbiterd/arbiter/store"
)

// The schema's history: migrations/NNN_name.sql, numbered from 001 without gaps. The database
// records the last one applied in PRAGMA user_version. Never edit a released migration; add one,
// and update the root schema.sql to match (a test compares them).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate brings the database on db (the writer) up to the newest migration, each migration in
// its own transaction together with its user_version, so a crash leaves a consistent version.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		return err
	}
	known := len(ms)
	var current int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("database schema version %d is newer than this arbiter (knows up to %d); upgrade arbiter", current, known)
	}
	for _, m := range ms[current:] {
		applied, err := apply(ctx, db, m)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if applied {
			log.Info("migrated database", "version", m.Version, "migration", m.Name)
		}
	}
	return nil
}

// apply runs one migration unless the database already has it.
func apply(ctx context.Context, db *sql.DB, m store.Migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Another process may have migrated between our read of user_version and this transaction's
	// write lock: check again under the lock.
	var current int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return false, err
	}
	if current >= m.Version {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	// PRAGMA takes no bound parameters; the version is an int we produced.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, m.Version)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
