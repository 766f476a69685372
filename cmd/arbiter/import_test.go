package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbiterd/arbiter/jobfile"
)

// cliIn is cli with stdin.
func cliIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := streams{in: strings.NewReader(stdin), out: &out, err: &errOut}
	code = execute(context.Background(), newRootCmd(s), args, &errOut)
	return out.String(), errOut.String(), code
}

const importCrontab = `# m h dom mon dow command
SHELL=/bin/bash
MAILTO=alice@example.com
PATH=/home/alice/bin:/usr/bin:/bin
CRON_TZ=Europe/Berlin

# nightly backup
0 3 * * * $HOME/bin/backup.sh --full >> $HOME/backup.log 2>&1
*/15 9-17 * * mon-fri curl -fsS https://example.com/ping%hello%world
0 0 * * * date +\%F > /tmp/today
@reboot $HOME/bin/start-agent
60 * * * * bad-minute
`

func TestImportCrontab(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := cliIn(t, importCrontab, "import", "crontab", "--socket", deadSocket(t))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := "<stdin>: 3 jobs imported, 2 lines kept as comments\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	golden(t, "import-crontab", []byte(stdout))
	jobs, errs := jobfile.Parse("import.toml", []byte(stdout))
	if len(errs) > 0 || len(jobs) != 3 {
		t.Fatalf("%d jobs, errors %v", len(jobs), errs)
	}

	// The same from a file, read as a system crontab: "alice" is taken for the user.
	file := filepath.Join(t.TempDir(), "crontab")
	if err := os.WriteFile(file, []byte("0 3 * * * www-data php cron.php\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = cliIn(t, "", "import", "crontab", "--system", file)
	if code != 0 || !strings.Contains(stdout, "# runs as www-data in the original\n[jobs.php]\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	stdout, _, code = cliIn(t, "", "import", "crontab", "--user", file)
	if code != 0 || !strings.Contains(stdout, `shell = "www-data php cron.php"`) {
		t.Fatalf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestImportCrontabErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"unreadable", "", []string{"import", "crontab", filepath.Join(t.TempDir(), "missing")}, 1, "no such file"},
		{"both forms", "", []string{"import", "crontab", "--system", "--user"}, 2, "give --system or --user, not both"},
		{"two files", "", []string{"import", "crontab", "a", "b"}, 2, `unexpected argument "b"`},
		{"unknown format", "", []string{"import", "fstab"}, 2, `cannot import "fstab": arbiter imports crontab`},
		{"nothing to import", "@reboot start\n", []string{"import", "crontab", "-"}, 0, "no jobs, so the output is not a job file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := cliIn(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
}
