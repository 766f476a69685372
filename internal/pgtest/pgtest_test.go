package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

var pg *Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	if err := connect(t, pg.DSN()).QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Each database is new, empty, UTF-8, and gone after its test, even with a connection left open.
func TestNewDatabase(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dsn := pg.NewDatabase(t)
			conn := connect(t, dsn)
			var name, encoding string
			var tables int
			if err := conn.QueryRow(t.Context(), `SELECT current_database(), pg_encoding_to_char(encoding),
				(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')
				FROM pg_database WHERE datname = current_database()`).Scan(&name, &encoding, &tables); err != nil {
				t.Fatal(err)
			}
			if encoding != "UTF8" || tables != 0 {
				t.Errorf("database %s: encoding %s, %d tables; want UTF8 and none", name, encoding, tables)
			}
			if _, err := conn.Exec(t.Context(), `CREATE TABLE mine (x int)`); err != nil {
				t.Fatal(err)
			}
			// Left open: the drop must not wait for it.
			leaked, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { leaked.Close(context.Background()) })
			names = append(names, name)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %v; want two distinct ones", names)
	}
	for _, name := range names {
		if databaseExists(t, name) {
			t.Errorf("database %s is still there after its test", name)
		}
	}
}

// The cluster also listens on its Unix socket, and its text sorts by bytes.
func TestSocketAndLocale(t *testing.T) {
	t.Parallel()
	if pg.SocketDir() == "" {
		t.Skip("an external server (" + EnvDSN + ") has no socket of ours")
	}
	conn := connect(t, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", pg.SocketDir(), pg.Port()))
	var collate string
	if err := conn.QueryRow(t.Context(), `SHOW lc_collate`).Scan(&collate); err != nil {
		t.Fatal(err)
	}
	if collate != "C" {
		t.Errorf("lc_collate = %s, want C", collate)
	}
}

func TestFindBinDir(t *testing.T) { // not parallel: it sets PATH
	root := t.TempDir()
	mk := func(version string, names ...string) {
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	glob := filepath.Join(root, "*", "bin")
	t.Setenv("PATH", t.TempDir()) // no initdb to fall back to

	if _, err := findBinDir(glob); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("findBinDir with nothing installed: %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(ErrNotInstalled.Error(), "scripts/test") || !strings.Contains(ErrNotInstalled.Error(), EnvDSN) {
		t.Errorf("ErrNotInstalled %q does not say what to do", ErrNotInstalled)
	}
	mk("9", "initdb", "postgres")
	mk("16", "initdb", "postgres")
	mk("17", "initdb") // incomplete: no server
	got, err := findBinDir(glob)
	if want := filepath.Join(root, "16", "bin"); err != nil || got != want {
		t.Errorf("findBinDir = %q, %v; want the newest complete one, %q", got, err, want)
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct{ dsn, want string }{
		{"postgres://u:p@h:5/postgres?sslmode=disable", "postgres://u:p@h:5/x?sslmode=disable"},
		{"postgresql://h/", "postgresql://h/x"},
		{"postgres://h/a?dbname=a", "postgres://h/x?dbname=x"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.dsn, "x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
		}
	}
}

// Only tests may use this package: it starts servers and trusts every connection.
func TestImportedByTestsOnly(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/arbiterd/arbiter/internal/pgtest"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Fields(imports) {
			if imp == self {
				t.Errorf("%s imports %s outside its tests", pkg, self)
			}
		}
	}
}

// A restarted cluster cuts every session, comes back on the same port, and keeps its data.
func TestRestart(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("an external server is not ours to restart") // only when ARBITER_TEST_POSTGRES is set
	}
	t.Parallel()
	srv, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() }) // after the database's own cleanup
	dsn := srv.NewDatabase(t)
	before := connect(t, dsn)
	if _, err := before.Exec(t.Context(), `CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if srv.Port() != port {
		t.Errorf("port %d after the restart, want %d", srv.Port(), port)
	}
	if err := before.Ping(t.Context()); err == nil {
		t.Error("a session from before the restart still works")
	}
	var n int
	if err := connect(t, dsn).QueryRow(t.Context(), `SELECT n FROM kept`).Scan(&n); err != nil || n != 42 {
		t.Errorf("after the restart: %d, %v; want the row written before", n, err)
	}
}
