package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// secretValue is what the tests look for everywhere it must not be.
const secretValue = "hunter2-Zq8vX0-correct-horse"

// arbiterIn runs the CLI with stdin.
func (d *daemonProc) arbiterIn(stdin string, args ...string) result {
	d.t.Helper()
	cmd := exec.Command(binary(d.t), args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "ARBITER_SOCKET="+d.socket)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run()
	return result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
}

// assertNoSecret fails when the secret value, or its base64 form, is in b.
func assertNoSecret(t *testing.T, where string, b []byte) {
	t.Helper()
	for _, form := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue))} {
		if bytes.Contains(b, []byte(form)) {
			t.Errorf("%s contains the secret (%q)", where, form)
		}
	}
}

func TestE2ESecrets(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(shortDir(t), "data")
	d := startDaemonWith(t, daemonOpts{dataDir: dataDir})
	keyFile := filepath.Join(dataDir, "secret.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file: %v %v", fi, err)
	}

	// Values come from stdin or a file, never argv; bad input is refused.
	if r := d.arbiterIn(secretValue+"\n", "secret", "set", "pg"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("(%d bytes)", len(secretValue))) {
		t.Fatalf("secret set: %s", r)
	}
	other := filepath.Join(shortDir(t), "token")
	if err := os.WriteFile(other, []byte("other-token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.mustArbiter("secret", "set", "token", "--from-file", other)
	for _, bad := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"x", []string{"secret", "set", "Bad Name"}, "not a valid secret name"},
		{"", []string{"secret", "set", "empty"}, "empty"},
	} {
		if r := d.arbiterIn(bad.stdin, bad.args...); r.code != 2 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("%v: %s", bad.args, r)
		}
	}

	// A job receives the value in its environment; its output shows *** instead, also when
	// the value is written in two pieces and as base64.
	d.mustArbiter("add", "--name", "db", "--cron", far, "--env", "PGPASSWORD=secret:pg", "--shell",
		`printf 'pw=%s' "${PGPASSWORD%????????????}"; sleep 0.3; printf '%s\n' "${PGPASSWORD#????????????????}"; printf '%s' "$PGPASSWORD" | base64; echo "done"`)
	r := d.arbiter("run", "db", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "***") || !strings.Contains(r.stdout, "done") {
		t.Fatalf("run --wait: %s", r)
	}
	assertNoSecret(t, "streamed output", []byte(r.stdout+r.stderr))
	runID := d.runs("db")[0].ID
	logs := d.mustArbiter("logs", strconv.FormatInt(runID, 10)).stdout
	assertNoSecret(t, "stored output", []byte(logs))

	// ps shows no value in the argv of a running job's processes.
	d.mustArbiter("add", "--name", "sleeper", "--cron", far, "--env", "PGPASSWORD=secret:pg", "--", "sleep", "1000")
	id := d.trigger("sleeper")
	running := d.waitRun(id, "running")
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", running.PID)); err != nil {
		t.Fatal(err)
	} else {
		assertNoSecret(t, "the job's argv", cmdline)
	}
	if ps, err := exec.Command("ps", "-eo", "args").Output(); err == nil {
		assertNoSecret(t, "ps", ps)
	}
	d.mustArbiter("cancel", strconv.FormatInt(id, 10))
	d.waitRun(id, "cancelled")

	// secret ls names the users; rm refuses while a job uses the secret.
	ls := d.mustArbiter("secret", "ls").stdout
	if !strings.Contains(ls, "pg") || !strings.Contains(ls, "db, sleeper") {
		t.Errorf("secret ls:\n%s", ls)
	}
	if r := d.arbiter("secret", "rm", "pg"); r.code != 1 || !strings.Contains(r.stderr, "db") {
		t.Errorf("secret rm of a used secret: %s", r)
	}

	// A missing secret fails the run with a reason, never an empty variable.
	d.mustArbiter("add", "--name", "orphan", "--cron", far, "--env", "X=secret:nope", "--", "true")
	d.arbiter("run", "orphan", "--wait")
	if got := d.runs("orphan")[0]; got.State != "failed" || !strings.Contains(got.Reason, `secret "nope"`) {
		t.Errorf("run with a missing secret: %+v", got)
	}

	// No API answer carries a value.
	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
	}}}
	defer httpc.CloseIdleConnections()
	for _, path := range []string{"/v1/jobs", "/v1/jobs/db", "/v1/runs", "/v1/runs/" + strconv.FormatInt(runID, 10),
		"/v1/runs/" + strconv.FormatInt(runID, 10) + "/output", "/v1/secrets", "/v1/status", "/v1/jobs/db/why"} {
		resp, err := httpc.Get("http://arbiter" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assertNoSecret(t, "GET "+path, body)
	}
	for _, args := range [][]string{{"show", "db", "-o", "json"}, {"secret", "ls", "-o", "json"}, {"runs", "-o", "json"}} {
		out := d.mustArbiter(args...)
		assertNoSecret(t, strings.Join(args, " "), []byte(out.stdout+out.stderr))
	}

	// Rotation: a new key, the old one kept, secrets still open.
	rot := d.mustArbiter("secret", "rotate-key")
	if !strings.Contains(rot.stdout, "re-encrypted 2 secrets") {
		t.Errorf("rotate-key: %s", rot)
	}
	backups, _ := filepath.Glob(keyFile + ".old-*")
	if len(backups) != 1 {
		t.Errorf("backups after rotation: %v", backups)
	}
	if r := d.arbiter("run", "db", "--wait"); r.code != 0 || !strings.Contains(r.stdout, "***") {
		t.Errorf("run after rotation: %s", r)
	}
	d.stop(syscall.SIGTERM)

	// Nothing in the database files holds the value; every read is in the event log.
	for _, f := range []string{"arbiter.db", "arbiter.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		assertNoSecret(t, f, b)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "arbiter.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var reads int
	if err := db.QueryRow(`SELECT count(*) FROM events WHERE kind = 'secret.read' AND detail = 'pg' AND run_id IS NOT NULL`).Scan(&reads); err != nil || reads < 3 {
		t.Errorf("secret reads in the event log: %d, %v; want one per run", reads, err)
	}
}

func TestE2ESecretKeyProblemsStopTheDaemon(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (string, string) {
		dataDir := filepath.Join(shortDir(t), "data")
		d := startDaemonWith(t, daemonOpts{dataDir: dataDir})
		d.arbiterIn(secretValue, "secret", "set", "pg")
		d.arbiterIn("second-value", "secret", "set", "other")
		d.mustArbiter("add", "--name", "db", "--cron", far, "--env", "P=secret:pg", "--shell", `test -n "$P"`)
		d.stop(syscall.SIGTERM)
		return dataDir, filepath.Join(dataDir, "secret.key")
	}
	refused := func(t *testing.T, dataDir, want string) {
		t.Helper()
		d := launchDaemon(t, daemonOpts{dataDir: dataDir})
		if code := d.waitExit(); code != 1 || !strings.Contains(d.log.String(), want) {
			t.Errorf("daemon exited %d, want 1 with %q:\n%s", code, want, d.log.String())
		}
	}
	t.Run("key readable by others", func(t *testing.T) {
		t.Parallel()
		dataDir, key := setup(t)
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		refused(t, dataDir, "0600")
	})
	t.Run("key missing while secrets exist", func(t *testing.T) {
		t.Parallel()
		dataDir, key := setup(t)
		if err := os.Remove(key); err != nil {
			t.Fatal(err)
		}
		refused(t, dataDir, "missing")
		if _, err := os.Stat(key); !os.IsNotExist(err) {
			t.Error("the daemon made a new key although secrets exist")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		dataDir, key := setup(t)
		if err := os.WriteFile(key, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, dataDir, "key")
	})
	for _, tamper := range []struct{ name, sql string }{
		{"ciphertexts swapped", `UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets s2 WHERE s2.name != secrets.name), nonce = (SELECT nonce FROM secrets s2 WHERE s2.name != secrets.name)`},
		{"a byte flipped", `UPDATE secrets SET ciphertext = CAST(zeroblob(1) || substr(ciphertext, 2) AS BLOB) WHERE name = 'pg'`},
	} {
		t.Run(tamper.name, func(t *testing.T) {
			t.Parallel()
			dataDir, _ := setup(t)
			db, err := sql.Open("sqlite", filepath.Join(dataDir, "arbiter.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tamper.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			d := startDaemonWith(t, daemonOpts{dataDir: dataDir})
			d.arbiter("run", "db", "--wait")
			got := d.runs("db")[0]
			if got.State != "failed" || !strings.Contains(got.Reason, "does not decrypt") {
				t.Errorf("run with a tampered secret: %+v", got)
			}
			assertNoSecret(t, "the reason", []byte(got.Reason))
		})
	}
}
