package store

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrationsNumbering(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"in order", []string{"001_a.sql", "002_b.sql", "003_c.sql"}, true},
		{"gap", []string{"001_a.sql", "003_c.sql"}, false},
		{"not from one", []string{"002_b.sql"}, false},
		{"duplicate number", []string{"001_a.sql", "001_b.sql"}, false},
		{"bad name", []string{"001_a.sql", "2_b.sql"}, false},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{}
		for _, f := range tt.files {
			fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		ms, err := LoadMigrations(fsys)
		if (err == nil) != tt.ok {
			t.Errorf("%s: LoadMigrations = %v, %v; ok want %v", tt.name, ms, err, tt.ok)
		}
	}
}
