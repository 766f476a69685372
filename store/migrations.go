package store

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one step of a store's schema history: migrations/NNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads a store's migrations/NNN_name.sql files from fsys, in order, and checks
// that they are numbered from 001 without gaps.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	paths, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	// Glob returns names sorted, and the zero-padded numbers sort numerically.
	var ms []Migration
	for _, p := range paths {
		name := path.Base(p)
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 3 {
			return nil, fmt.Errorf("migration %s: name must be NNN_description.sql", name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected number %03d", name, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	return ms, nil
}
