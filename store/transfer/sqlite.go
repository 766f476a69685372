package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the driver store/sqlitestore uses

	"github.com/arbiterd/arbiter"
)

// source is the SQLite database being copied, read in one read transaction: every table comes
// from the same snapshot, and the aggregates checked after the copy are of that snapshot too.
type source struct {
	path  string
	db    *sql.DB
	tx    *sql.Tx
	stats map[string]stats
	// The highest ids SQLite ever handed out (sqlite_sequence), which may be above the highest
	// id still stored when the newest rows were purged: the target must not hand them out again.
	lastRunID, lastEventID int64
}

// sqliteVersion is the schema version of this arbiter's SQLite store: the user_version that
// schema.sql ends with (store/sqlitestore's TestMigrationsMatchSchema proves its migrations
// reach exactly that schema and version).
var sqliteVersion = func() int {
	m := regexp.MustCompile(`(?m)^PRAGMA user_version = (\d+);`).FindStringSubmatch(arbiter.Schema)
	if m == nil {
		panic("schema.sql does not set user_version")
	}
	v, _ := strconv.Atoi(m[1])
	return v
}()

// openSource opens path read-only and checks that it is an intact arbiter database at this
// arbiter's schema version, with the columns this package copies.
func openSource(ctx context.Context, path string) (_ *source, err error) {
	// Read-only twice over: the file is opened read-only, and the connection refuses writes.
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(5000)")
	// A daemon that stopped cleanly left everything in the file and removed its write-ahead
	// log. Reading such a file as immutable leaves the data dir as it was: a plain read-only
	// open of a WAL database creates empty -wal and -shm files, owned by whoever migrates
	// (root, say), which a daemon started on the file later could not open. With a log left
	// by a crash, the file alone is not the database: it is read with its log, as usual. The
	// data dir's lock keeps any daemon from changing either meanwhile.
	if fi, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
		q.Set("immutable", "1")
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &source{path: path, db: db, stats: map[string]stats{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// One transaction, so that every read below sees one snapshot.
	if s.tx, err = db.BeginTx(ctx, nil); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := s.checkVersion(ctx); err != nil {
		return nil, err
	}
	if err := s.checkIntact(ctx); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if err := s.checkColumns(ctx, t); err != nil {
			return nil, err
		}
		var st stats
		if err := s.tx.QueryRowContext(ctx, t.stats).Scan(&st[0], &st[1], &st[2], &st[3]); err != nil {
			return nil, fmt.Errorf("read %s: count %s: %w", path, t.name, err)
		}
		s.stats[t.name] = st
	}
	// sqlite_sequence has a row for an AUTOINCREMENT table once it had a row.
	for name, last := range map[string]*int64{"runs": &s.lastRunID, "events": &s.lastEventID} {
		err := s.tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, name).Scan(last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read %s: the last %s id: %w", path, name, err)
		}
	}
	s.lastRunID = max(s.lastRunID, s.stats["runs"][1])
	s.lastEventID = max(s.lastEventID, s.stats["events"][1])
	return s, nil
}

func (s *source) close() {
	if s.tx != nil {
		_ = s.tx.Rollback() // a read: nothing to undo
	}
	_ = s.db.Close()
}

// readErr wraps an error of reading the file, saying so when SQLite cannot read it as a database.
func (s *source) readErr(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "file is not a database") || strings.Contains(msg, "malformed") {
		return fmt.Errorf("%s is not an arbiter database, or it is damaged: %w", s.path, err)
	}
	return fmt.Errorf("read %s: %w", s.path, err)
}

func (s *source) checkVersion(ctx context.Context) error {
	var version, objects int
	if err := s.tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return s.readErr(err)
	}
	if err := s.tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&objects); err != nil {
		return s.readErr(err)
	}
	switch {
	case version == 0 && objects == 0:
		return fmt.Errorf("%s holds no arbiter database (no tables): is the data dir right?", s.path)
	case version == 0:
		return fmt.Errorf("%s is not an arbiter database (it has no schema version)", s.path)
	case version < sqliteVersion:
		return fmt.Errorf("%s is at schema version %d and this arbiter copies version %d: start the daemon of this arbiter on it once, so that it upgrades the file, stop it, and migrate then",
			s.path, version, sqliteVersion)
	case version > sqliteVersion:
		return fmt.Errorf("%s is at schema version %d, written by a newer arbiter than this one (which knows up to %d): upgrade arbiter, and migrate with the new one",
			s.path, version, sqliteVersion)
	}
	return nil
}

// checkIntact runs SQLite's quick check: a damaged file is repaired or restored first, rather
// than copied as it is.
func (s *source) checkIntact(ctx context.Context) error {
	var result string
	if err := s.tx.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&result); err != nil {
		return s.readErr(err)
	}
	if result != "ok" {
		return fmt.Errorf("%s is damaged (%s): restore it from a backup, or try sqlite3 %s .recover, before migrating", s.path, result, s.path)
	}
	return nil
}

// checkColumns makes sure the table has exactly the columns this package copies: a column
// added by a newer migration must not be dropped on the way unnoticed.
func (s *source) checkColumns(ctx context.Context, t table) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, t.name)
	if err != nil {
		return s.readErr(err)
	}
	var have []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return s.readErr(err)
		}
		have = append(have, name)
	}
	if err := rows.Err(); err != nil {
		return s.readErr(err)
	}
	want := slices.Sorted(slices.Values(t.columns))
	slices.Sort(have)
	if !slices.Equal(have, want) {
		return fmt.Errorf("%s: table %s has the columns %v, where schema version %d has %v: the file does not match its version",
			s.path, t.name, have, sqliteVersion, want)
	}
	return nil
}

// rows reads the table in key order.
func (s *source) rows(ctx context.Context, t table) (*sql.Rows, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+strings.Join(t.columns, ", ")+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return nil, s.readErr(err)
	}
	return rows, nil
}
