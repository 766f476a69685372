package arbiter

import _ "embed"

// Schema is the SQLite schema at its current version (schema.sql). store/sqlitestore reaches it
// through numbered migrations and tests that both agree; read this file to learn the tables.
//
//go:embed schema.sql
var Schema string
