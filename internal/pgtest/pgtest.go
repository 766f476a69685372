// Package pgtest gives tests a real PostgreSQL server: a throwaway cluster started from the
// installed binaries (Debian's postgresql package), or the server named by ARBITER_TEST_POSTGRES.
// Each test then takes a fresh empty database of its own with NewDatabase, so tests run in
// parallel without seeing each other.
//
// Call Start from TestMain and Stop after the tests have run:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) {
//		var err error
//		if pg, err = pgtest.Start(context.Background()); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1) // never skip: a missing PostgreSQL is a broken test environment
//		}
//		code := m.Run()
//		if err := pg.Stop(); err != nil { ... }
//		os.Exit(code)
//	}
//
// Only tests may import this package (a test of its own checks that).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that points the tests at an existing server instead of
// starting one. Its user must be allowed to create and drop databases.
const EnvDSN = "ARBITER_TEST_POSTGRES"

// ErrNotInstalled is what Start returns when it finds no PostgreSQL binaries.
var ErrNotInstalled = errors.New("PostgreSQL is not installed: run scripts/test (it installs Debian's postgresql package) or set " + EnvDSN)

// binGlob is where Debian and Ubuntu put the server binaries, one directory per major version.
const binGlob = "/usr/lib/postgresql/*/bin"

// startTimeout bounds initdb plus the server's start; stopTimeout the wait for its shutdown.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is a PostgreSQL server for tests.
type Server struct {
	port    int    // 0 for an external server
	admin   string // DSN of the maintenance database, as the superuser (or the given DSN)
	dir     string // the cluster's temp dir (data dir and socket); "" for an external server
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error         // the postmaster's exit status, set before exited closes
	log     *os.File      // the server's log file, read when it fails to start
	bin     string        // the PostgreSQL binaries, the data dir and the user it runs as,
	data    string        // for Restart
	cred    *syscall.Credential

	prefix  string       // of every database name this process creates
	seq     atomic.Int64 // numbers them
	create  string       // CREATE DATABASE's options after the name
	stop    sync.Once
	stopErr error
}

// Start starts a throwaway cluster, or connects to the server in ARBITER_TEST_POSTGRES when that
// is set. It returns ErrNotInstalled when neither is available.
func Start(ctx context.Context) (*Server, error) {
	s := &Server{
		prefix: "arbiter_test_" + strconv.Itoa(os.Getpid()) + "_" + randomHex(3) + "_",
		// template0: a pristine database, which nobody connects to, so concurrent creates work.
		create: "TEMPLATE template0",
	}
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		s.admin = dsn
		if err := s.ping(ctx); err != nil {
			return nil, fmt.Errorf("pgtest: the server in %s: %w", EnvDSN, err)
		}
		return s, nil
	}
	bin, err := findBinDir(binGlob)
	if err != nil {
		return nil, err
	}
	if err := s.startCluster(ctx, bin); err != nil {
		s.Stop()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	// Our own cluster may checkpoint whenever it likes, which copying files needs (an external
	// server is someone else's: it gets the default strategy). STRATEGY is PostgreSQL 15's.
	var version int
	if err := s.queryRow(ctx, `SELECT current_setting('server_version_num')::int`, &version); err != nil {
		s.Stop()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if version >= 150000 {
		s.create += " STRATEGY FILE_COPY"
	}
	return s, nil
}

// findBinDir returns the directory of the newest PostgreSQL's binaries among those matching glob,
// else the directory of an initdb on PATH (distributions other than Debian's family).
func findBinDir(glob string) (string, error) {
	dirs, _ := filepath.Glob(glob)
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d))) // .../15/bin
		if err != nil || !executable(filepath.Join(d, "postgres")) || !executable(filepath.Join(d, "initdb")) {
			continue
		}
		if v > bestVersion {
			best, bestVersion = d, v
		}
	}
	if best != "" {
		return best, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil && executable(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// runAs is the account the server runs under: PostgreSQL refuses to run as root, and tests run as
// root in CI. nil means the current user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} { // Debian's package creates postgres
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("user %s has uid %q, gid %q", name, u.Uid, u.Gid))
			continue
		}
		// NoSetGroups: setgroups is refused in some containers (user namespaces), and the
		// server needs no supplementary groups.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, fmt.Errorf("running as root, and no user to run PostgreSQL as: %w", errors.Join(errs...))
}

func (s *Server) startCluster(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cred, err := runAs()
	if err != nil {
		return err
	}
	// Under /tmp when running as another user: that user must reach the directory, and a TMPDIR
	// under /root would not let it. Short, too: the socket's path must fit in 107 bytes.
	base := os.TempDir()
	if cred != nil || len(base) > 40 {
		base = "/tmp"
	}
	removeStale(base)
	if s.dir, err = os.MkdirTemp(base, dirPrefix); err != nil {
		return err
	}
	// Marks the directory as ours while this process lives; see removeStale.
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}

	// Trust authentication on a cluster that listens on loopback and a private socket only, and
	// the C locale so that text sorts by bytes whatever the machine's locale. --no-sync: nothing
	// here needs to survive a power cut.
	initdb := s.command(ctx, cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// The port is picked free just before the server binds it; another process could take it in
	// between, so a failed bind tries another.
	s.bin, s.data, s.cred = bin, data, cred
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		err = s.startPostgres(ctx, cred, bin, data, port)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			return err
		}
	}
}

const (
	dirPrefix = "arbiter-pg-"
	ownerFile = "owner.pid" // the pid of the test binary that made the directory
)

// removeStale removes the clusters left behind by test binaries that died without Stop (a
// panic, a kill): their servers died with them (see Pdeathsig), but their files stay. A
// directory whose owner still runs is another test binary's, and is left alone.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // just made, not yet marked; or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// startPostgres starts the postmaster on port and waits until it accepts connections.
func (s *Server) startPostgres(ctx context.Context, cred *syscall.Credential, bin, data string, port int) error {
	var err error
	logPath := filepath.Join(s.dir, "postgres.log")
	if s.log != nil {
		s.log.Close() // of a previous attempt
	}
	if s.log, err = os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return err
	}
	// Settings for a small, fast, disposable server: little shared memory, fsync off (the
	// cluster is deleted after the tests; a crash loses nothing anyone wants), room for the
	// connections of many parallel tests, and no parallel query workers (they would need
	// dynamic shared memory, of which containers have little).
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", s.dir,
		"-c", "shared_buffers=16MB",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// Minimal WAL lets NewDatabase copy template0's files (STRATEGY FILE_COPY): 50 ms
		// instead of 250 ms for logging every page of it.
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0",
		"-c", "max_connections=200",
		"-c", "max_parallel_workers_per_gather=0",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
	}
	// Not bound to ctx: the server outlives Start. Stop ends it.
	s.cmd = s.command(context.Background(), cred, filepath.Join(bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	dieWithTests(s.cmd.SysProcAttr)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.port = port
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		s.waitErr = cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)

	s.admin = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}).String()

	// Poll until it accepts connections, it exits, or time runs out.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			s.cmd = nil
			return fmt.Errorf("postgres exited at start (%v):\n%s", s.waitErr, s.readLog())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections in time: %v\n%s", err, s.readLog())
		case <-tick.C:
		}
	}
}

// command builds a command that runs as cred (nil: as we are) in the cluster's directory, with
// an environment free of PG* variables that would point it elsewhere.
func (s *Server) command(ctx context.Context, cred *syscall.Credential, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.dir // a directory the server's user can enter, unlike /root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	env := []string{"LC_ALL=C", "LANG=C"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd
}

func (s *Server) readLog() string {
	if s.log == nil {
		return ""
	}
	b, _ := os.ReadFile(s.log.Name())
	return strings.TrimSpace(string(b))
}

// freePort asks the kernel for a free TCP port on the loopback address.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ping connects to the maintenance database and runs a query.
func (s *Server) ping(ctx context.Context) error {
	var one int
	return s.queryRow(ctx, `SELECT 1`, &one)
}

// queryRow runs a query in the maintenance database and scans its one row into dest.
func (s *Server) queryRow(ctx context.Context, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// DSN is the superuser's DSN of the server's maintenance database: for creating roles or
// inspecting the server, never for a test's data (use NewDatabase).
func (s *Server) DSN() string { return s.admin }

// SocketDir is the directory of the server's Unix socket, or "" for an external server. The
// socket's name there is .s.PGSQL.<Port()>, as libpq expects.
func (s *Server) SocketDir() string { return s.dir }

// Port is the TCP port of a cluster that Start started; 0 for an external server.
func (s *Server) Port() int { return s.port }

// NewDatabase creates an empty database that t alone uses and returns its DSN. It is dropped in
// t.Cleanup, with whatever connections are still open to it.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := s.prefix + strconv.FormatInt(s.seq.Add(1), 10)
	ctx := context.Background() // t.Context is cancelled before the cleanup runs
	if err := s.exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` `+s.create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(s.admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// exec runs one statement in the maintenance database, on a connection of its own: CREATE
// DATABASE cannot run inside a transaction, and tests create databases side by side.
func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn with its database replaced by name. It keeps the DSN's form: a URL
// gets a new path, keyword/value settings a dbname (the last setting of a keyword wins).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("the DSN is not a valid URL: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		q := u.Query()
		if q.Has("dbname") {
			q.Set("dbname", name)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}

// Restart stops the cluster (fast shutdown: every session is cut) and starts it again on the
// same port, as an administrator restarting the server would: for tests of how clients live
// through it. Only for a cluster that Start started.
func (s *Server) Restart(ctx context.Context) error {
	if s.cmd == nil || s.exited == nil {
		return errors.New("pgtest: Restart needs a cluster that Start started, not an external server")
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("pgtest: stop postgres: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		return fmt.Errorf("pgtest: postgres did not stop within %s", stopTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.startPostgres(ctx, s.cred, s.bin, s.data, s.port); err != nil {
		return fmt.Errorf("pgtest: restart: %w", err)
	}
	return nil
}

// Stop shuts a cluster that Start started down (fast shutdown: SIGINT) and removes its files.
// For an external server it does nothing. Calling it again returns the first result.
func (s *Server) Stop() error {
	s.stop.Do(func() { s.stopErr = s.shutdown() })
	return s.stopErr
}

func (s *Server) shutdown() error {
	var errs []error
	if s.cmd != nil && s.exited != nil {
		select {
		case <-s.exited:
			errs = append(errs, fmt.Errorf("pgtest: postgres had exited (%v):\n%s", s.waitErr, s.readLog()))
		default:
			if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
				errs = append(errs, err)
			}
			select {
			case <-s.exited:
			case <-time.After(stopTimeout):
				s.cmd.Process.Kill()
				<-s.exited
				errs = append(errs, fmt.Errorf("pgtest: postgres did not stop within %s; killed", stopTimeout))
			}
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
