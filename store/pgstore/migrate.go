package pgstore

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arbiterd/arbiter/store"
)

// The schema's history: migrations/NNN_name.sql, numbered from 001 without gaps. Never edit a
// released migration; add one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

const createMigrationsTableSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer NOT NULL PRIMARY KEY,
	name       text    NOT NULL,
	applied_at bigint  NOT NULL -- unix nanoseconds
)`

// migrate brings the database up to the newest migration. conn must be a connection of its own,
// closed by the caller afterwards: the lock it takes lasts as long as the session, so nodes
// starting side by side migrate one after the other, and the second finds nothing to do.
func migrate(ctx context.Context, conn *pgx.Conn, log *slog.Logger) error {
	ms, err := store.LoadMigrations(migrationFS)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, createMigrationsTableSQL); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if known := len(ms); current > known {
		return fmt.Errorf("database schema is at version %d, this arbiter knows up to %d: upgrade arbiter", current, known)
	}
	for _, m := range ms[current:] {
		if err := apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		log.Info("migrated database", "version", m.Version, "migration", m.Name)
	}
	// Released with the session anyway; released here too, in case the caller keeps it.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	return nil
}

// apply runs one migration and records it, in one transaction: a crash leaves the version and
// the schema in agreement.
func apply(ctx context.Context, conn *pgx.Conn, m store.Migration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.SQL); err != nil { // no arguments: the simple protocol, several statements
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixNano())
		return err
	})
}
