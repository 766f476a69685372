package main

import (
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestE2EStoreMigrate moves a single machine's SQLite installation into Postgres with
// `arbiter store migrate`, and goes on as the first node of a cluster on the same data dir:
// the jobs, runs, logs and secrets are all there, and the secret still opens.
func TestE2EStoreMigrate(t *testing.T) {
	t.Parallel()
	dsn := pgServer(t).NewDatabase(t)
	// The test server trusts local connections, so a password in the URL is ignored by it,
	// but it must not show anywhere arbiter prints.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const password = "pw-Zq8vX0-never-printed"
	u.User = url.UserPassword(u.User.Username(), password)
	dsn = u.String()

	dataDir := filepath.Join(shortDir(t), "data")
	d := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	if r := d.arbiterIn(secretValue+"\n", "secret", "set", "pg"); r.code != 0 {
		t.Fatalf("secret set: %s", r)
	}
	d.mustArbiter("add", "--name", "greet", "--cron", far, "--label", "eu", "--", "sh", "-c", "echo hello; echo world >&2")
	d.mustArbiter("add", "--name", "uses-secret", "--cron", far, "--env", "PGPASSWORD=secret:pg", "--shell",
		`test "$PGPASSWORD" = '`+secretValue+`' && echo "the secret is right"`)
	var ids []int64
	for _, job := range []string{"greet", "uses-secret", "greet"} {
		id := d.trigger(job)
		d.waitRun(id, "succeeded")
		ids = append(ids, id)
	}
	jobsBefore := d.lsJSON()
	runsBefore := map[string]any{"greet": d.runs("greet"), "uses-secret": d.runs("uses-secret")}
	logsBefore := map[int64]string{}
	for _, id := range ids {
		logsBefore[id] = d.mustArbiter("logs", strconv.FormatInt(id, 10)).stdout
	}
	if !strings.Contains(logsBefore[ids[1]], "the secret is right") {
		t.Fatalf("the job did not see its secret before the move:\n%s", logsBefore[ids[1]])
	}

	migrate := func() result {
		t.Helper()
		r := runCLI(t, nil, "store", "migrate", "--to", dsn, "--data-dir", dataDir)
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("migrate printed the password:\n%s", r)
		}
		return r
	}

	// Not while the daemon runs on the data dir.
	if r := migrate(); r.code != 1 || !strings.Contains(r.stderr, "is using data dir "+dataDir+"; stop it first") {
		t.Fatalf("migrate beside a running daemon: %s", r)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exited %d", code)
	}

	r := migrate()
	if r.code != 0 {
		t.Fatalf("migrate: %s", r)
	}
	redacted := strings.Replace(dsn, password, "xxxxx", 1)
	for _, want := range []string{
		"Copied " + filepath.Join(dataDir, "arbiter.db") + " into " + redacted + " in ",
		"jobs           2\n", "runs           3\n", "secrets        1\n", "output chunks  ",
		"Start the daemon of each node with --store " + redacted, "The password is masked here",
		"Copy " + filepath.Join(dataDir, "secret.key") + " to every node",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("migrate's report lacks %q:\n%s", want, r.stdout)
		}
	}

	// The machine becomes the first node: same data dir (its key), the store in Postgres.
	n1 := clusterNodeAt(t, daemonOpts{dataDir: dataDir}, dsn, "n1", "--label", "eu")
	if got := n1.lsJSON(); !reflect.DeepEqual(got, jobsBefore) {
		t.Errorf("jobs after the move:\n%+v\nbefore:\n%+v", got, jobsBefore)
	}
	for job, before := range runsBefore {
		if got := n1.runs(job); !reflect.DeepEqual(got, before) {
			t.Errorf("runs of %s after the move:\n%+v\nbefore:\n%+v", job, got, before)
		}
	}
	for id, before := range logsBefore {
		if got := n1.mustArbiter("logs", strconv.FormatInt(id, 10)).stdout; got != before {
			t.Errorf("logs %d after the move:\n%s\nbefore:\n%s", id, got, before)
		}
	}
	if out := n1.mustArbiter("runs", "greet").stdout; !strings.Contains(out, strconv.FormatInt(ids[2], 10)) {
		t.Errorf("arbiter runs greet lacks run %d:\n%s", ids[2], out)
	}
	if out := n1.mustArbiter("secret", "ls").stdout; !strings.Contains(out, "pg") {
		t.Errorf("secret ls after the move:\n%s", out)
	}

	// The secret opens with the key the data dir kept, and new runs number on.
	id := n1.trigger("uses-secret")
	n1.waitRun(id, "succeeded")
	if id <= ids[len(ids)-1] {
		t.Errorf("a new run got id %d, not after the copied %v", id, ids)
	}
	if out := n1.mustArbiter("logs", strconv.FormatInt(id, 10)).stdout; !strings.Contains(out, "the secret is right") {
		t.Errorf("the job does not see its secret after the move:\n%s", out)
	}

	// A second copy into the same database is refused, and changes nothing.
	n1.stop(syscall.SIGTERM)
	r = migrate()
	if r.code != 1 || !strings.Contains(r.stderr, "already holds 2 jobs and 4 runs") || !strings.Contains(r.stderr, "migrate into an empty database") {
		t.Fatalf("a second migrate: %s", r)
	}
	n2 := clusterNodeAt(t, daemonOpts{dataDir: dataDir}, dsn, "n1")
	if got := len(n2.runs("uses-secret")); got != 2 {
		t.Errorf("uses-secret has %d runs after the refused copy, want 2", got)
	}
}

func TestE2EStoreMigrateRefusals(t *testing.T) {
	t.Parallel()
	dsn := pgServer(t).NewDatabase(t)
	missing := filepath.Join(shortDir(t), "nothing-here")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no --to", []string{"--data-dir", missing}, 2, "missing --to URL"},
		{"not postgres", []string{"--to", "mysql://u:hidden@h/db", "--data-dir", missing}, 2, `--to "mysql://u:xxxxx@h/db" is not a Postgres URL`},
		{"no database", []string{"--to", dsn, "--data-dir", missing}, 1,
			"no arbiter database at " + filepath.Join(missing, "arbiter.db") + ": file does not exist; is the data dir right? It is " + missing + ", from flag --data-dir"},
		{"unreachable", []string{"--to", "postgres://arbiter:hidden@127.0.0.1:1/arbiter", "--data-dir", emptyInstall(t)}, 1,
			"connect to postgres://arbiter:xxxxx@127.0.0.1:1/arbiter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"store", "migrate"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit %d saying %q; got %s", tc.code, tc.want, r)
			}
			if strings.Contains(r.stdout+r.stderr, "hidden") {
				t.Errorf("a password was printed: %s", r)
			}
		})
	}
}

// emptyInstall is the data dir of a daemon that ran once and stopped.
func emptyInstall(t *testing.T) string {
	t.Helper()
	d := startDaemon(t)
	d.stop(syscall.SIGTERM)
	return d.dataDir
}
