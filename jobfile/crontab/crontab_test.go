package crontab

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/jobfile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// encode converts the crontab text and checks that the result is a job file that parses
// without errors into exactly the converted jobs.
func encode(t *testing.T, text string, opt Options) (*File, string) {
	t.Helper()
	f, err := Read(strings.NewReader(text), opt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if len(f.Jobs) == 0 {
		return f, out // a file without jobs is only comments, which Parse refuses as "no jobs"
	}
	jobs, errs := jobfile.Parse("import.toml", buf.Bytes())
	if len(errs) > 0 {
		t.Fatalf("the import does not parse: %v\n%s", errs, out)
	}
	var got []api.JobSpec
	for _, j := range jobs {
		s := j.Spec
		s.Source = ""
		got = append(got, s)
	}
	if !reflect.DeepEqual(got, f.Jobs) {
		t.Fatalf("the file reads back as\n%+v\nnot\n%+v\n%s", got, f.Jobs, out)
	}
	return f, out
}

func TestDebianCrontabs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, installed string
		system          bool
		jobs            int
	}{
		{"etc-crontab", "/etc/crontab", true, 4},
		{"cron.d-anacron", "/etc/cron.d/anacron", true, 1},
		{"cron.d-php", "/etc/cron.d/php", true, 1},
		{"cron.d-sysstat", "/etc/cron.d/sysstat", true, 2},
		{"sysstat-example-crontab", "/usr/share/doc/sysstat/examples/crontab", false, 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			if SystemPath(tc.installed) != tc.system {
				t.Errorf("SystemPath(%q) = %v", tc.installed, !tc.system)
			}
			data, err := os.ReadFile(filepath.Join("testdata", "debian", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f, out := encode(t, string(data), Options{Name: tc.installed, System: tc.system, User: "alice"})
			if len(f.Jobs) != tc.jobs || len(f.Skipped) != 0 {
				t.Errorf("%d jobs, skipped %+v; want %d jobs, none skipped", len(f.Jobs), f.Skipped, tc.jobs)
			}
			golden(t, filepath.Join("testdata", "debian", tc.file+".golden"), []byte(out))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
	if _, errs := jobfile.Parse(path, want); len(errs) > 0 {
		t.Errorf("%s does not parse: %v", path, errs)
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	type job = api.JobSpec
	for _, tc := range []struct {
		name    string
		system  bool
		in      string
		jobs    []job
		skipped []string // a part of each reason
		text    []string // parts of the output
	}{
		{
			name: "env lines and quotes",
			in: `PATH=/usr/local/bin:/usr/bin:/bin
A = spaced value
B="  kept blanks  "
C='single'
D = "mismatched'
'E F'=x
1X=bad
K=secret:pg
0 3 * * * backup.sh
`,
			jobs: []job{{Name: "backup-sh", Schedule: "0 3 * * *", Shell: "backup.sh", Env: map[string]string{
				"PATH": "/usr/local/bin:/usr/bin:/bin", "A": "spaced value", "B": "  kept blanks  ", "C": "single", "D": `"mismatched'`,
			}}},
			skipped: []string{`"E F" is not a variable name`, `"1X" is not a variable name`, "reference to a secret"},
			text:    []string{"# PATH=/usr/local/bin:/usr/bin:/bin: in the env of the jobs below\n"},
		},
		{
			name: "env applies to the entries below it only",
			in:   "@daily first\nX=1\n@daily second\nX=2\n@daily third\n",
			jobs: []job{
				{Name: "first", Schedule: "@daily", Shell: "first"},
				{Name: "second", Schedule: "@daily", Shell: "second", Env: map[string]string{"X": "1"}},
				{Name: "third", Schedule: "@daily", Shell: "third", Env: map[string]string{"X": "2"}},
			},
		},
		{
			name: "shell mailto and zones",
			in: `SHELL=/bin/bash
MAILTO=ops@example.com
CRON_TZ=Europe/Berlin
0 9 * * 1-5 echo a
TZ=:America/New_York
0 9 * * * echo b
TZ=Mars/Olympus
0 9 * * * echo c
CRON_TZ=UTC
0 9 * * * echo d
`,
			jobs: []job{
				{Name: "echo", Schedule: "0 9 * * 1-5", Timezone: "Europe/Berlin", Shell: "echo a"},
				{Name: "echo-2", Schedule: "0 9 * * *", Timezone: "America/New_York", Shell: "echo b", Env: map[string]string{"TZ": ":America/New_York"}},
				{Name: "echo-3", Schedule: "0 9 * * *", Timezone: "UTC", Shell: "echo d", Env: map[string]string{"TZ": ":America/New_York"}},
			},
			skipped: []string{`unknown time zone "Mars/Olympus"`, `unknown time zone "Mars/Olympus"`},
			text: []string{
				"# MAILTO=ops@example.com: arbiter keeps each run's output",
				"# SHELL=/bin/bash in the original; arbiter runs this with /bin/sh -c\n[jobs.echo]\n",
				"# not imported: timezone: unknown time zone \"Mars/Olympus\"",
				"# 0 9 * * * echo c\n",
			},
		},
		{
			name: "percent",
			in: `0 1 * * * mail -s hi root%line one%it's two%
0 2 * * * date +\%Y-\%m-\%d > /tmp/d
0 3 * * * cat%a\%b%c
0 4 * * * a && b # x%in
0 5 * * * cmd%
`,
			jobs: []job{
				{Name: "mail", Schedule: "0 1 * * *", Shell: `printf '%s\n' 'line one' 'it'\''s two' | mail -s hi root`},
				{Name: "date", Schedule: "0 2 * * *", Shell: "date +%Y-%m-%d > /tmp/d"},
				{Name: "cat", Schedule: "0 3 * * *", Shell: `printf '%s\n%s' 'a%b' 'c' | cat`},
				{Name: "a", Schedule: "0 4 * * *", Shell: "printf '%s' 'in' | (\na && b # x\n)"},
				{Name: "cmd", Schedule: "0 5 * * *", Shell: "cmd"},
			},
			text: []string{"# the unescaped % in the original began the command's standard input"},
		},
		{
			name: "macros, reboot and bad expressions",
			in: `@hourly h
@DAILY d
@midnight m
@annually y
@reboot /usr/local/bin/start
@every 5m e
@fortnightly f
61 * * * * bad-minute
* * * foo * bad-month
0 0 * *
* * * * * 
`,
			jobs: []job{
				{Name: "h", Schedule: "@hourly", Shell: "h"},
				{Name: "d", Schedule: "@daily", Shell: "d"},
				{Name: "m", Schedule: "@midnight", Shell: "m"},
				{Name: "y", Schedule: "@annually", Shell: "y"},
			},
			skipped: []string{
				"@reboot runs once when cron starts",
				"@every is not a crontab macro",
				"@fortnightly is not a crontab macro",
				"schedule:", "schedule:",
				"not a crontab entry", "not a crontab entry",
			},
			text: []string{"# not imported: @reboot runs once when cron starts; arbiter has no schedule for that\n# @reboot /usr/local/bin/start\n"},
		},
		{
			name: "names",
			in: `* * * * * /usr/bin/Backup.SH --full
* * * * * backup.sh
* * * * * FOO=1 backup.sh
* * * * * [ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean
* * * * * cd / && run-parts --report /etc/cron.hourly
* * * * * command -v debian-sa1 > /dev/null && debian-sa1 1 1
* * * * * '/opt/my tool' x
* * * * * >/dev/null
`,
			jobs: []job{
				{Name: "backup-sh", Schedule: "* * * * *", Shell: "/usr/bin/Backup.SH --full"},
				{Name: "backup-sh-2", Schedule: "* * * * *", Shell: "backup.sh"},
				{Name: "backup-sh-3", Schedule: "* * * * *", Shell: "FOO=1 backup.sh"},
				{Name: "sessionclean", Schedule: "* * * * *", Shell: "[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean"},
				{Name: "run-parts", Schedule: "* * * * *", Shell: "cd / && run-parts --report /etc/cron.hourly"},
				{Name: "debian-sa1", Schedule: "* * * * *", Shell: "command -v debian-sa1 > /dev/null && debian-sa1 1 1"},
				{Name: "my", Schedule: "* * * * *", Shell: "'/opt/my tool' x"},
				{Name: "null", Schedule: "* * * * *", Shell: ">/dev/null"},
			},
		},
		{
			name:   "user field",
			system: true,
			in: `# hourly, as root
17 * * * * root run-parts /etc/cron.hourly

# the importer's own
0 3 * * * alice backup.sh
# someone else's
@daily www-data php /srv/app/cron.php
0 0 * * * nocommand
`,
			jobs: []job{
				{Name: "run-parts", Schedule: "17 * * * *", Shell: "run-parts /etc/cron.hourly"},
				{Name: "backup-sh", Schedule: "0 3 * * *", Shell: "backup.sh"},
				{Name: "php", Schedule: "@daily", Shell: "php /srv/app/cron.php"},
			},
			skipped: []string{"expected 5 time fields (or a macro such as @daily), a user and a command"},
			text: []string{
				"# hourly, as root\n[jobs.run-parts]\n",
				"# someone else's\n# runs as www-data in the original\n[jobs.php]\n",
			},
		},
		{
			name: "comments stay where they were",
			in:   "# head\n\n\n# about a\n0 1 * * * a\n# tail\n",
			jobs: []job{{Name: "a", Schedule: "0 1 * * *", Shell: "a"}},
			text: []string{"\n# head\n\n# about a\n[jobs.a]\nschedule = \"0 1 * * *\"\nshell = \"a\"\n\n# tail\n"},
		},
		{
			name:    "only comments",
			in:      "@reboot start\n",
			skipped: []string{"@reboot"},
		},
		{
			name: "control characters and CRLF",
			in:   "# bad \x01 byte \xff\r\n0 1 * * * a\r\n",
			jobs: []job{{Name: "a", Schedule: "0 1 * * *", Shell: "a"}},
			text: []string{"# bad \uFFFD byte \uFFFD\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, out := encode(t, tc.in, Options{System: tc.system, User: "alice"})
			if !reflect.DeepEqual(f.Jobs, tc.jobs) {
				t.Errorf("jobs:\n%+v\nwant\n%+v", f.Jobs, tc.jobs)
			}
			if len(f.Skipped) != len(tc.skipped) {
				t.Errorf("skipped %+v, want %d", f.Skipped, len(tc.skipped))
			} else {
				for i, s := range f.Skipped {
					if !strings.Contains(s.Reason, tc.skipped[i]) {
						t.Errorf("skipped line %d: reason %q, want %q in it", s.Line, s.Reason, tc.skipped[i])
					}
				}
			}
			for _, want := range tc.text {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestStdinByteForByte runs converted commands with /bin/sh and checks that they read what cron
// would have sent them.
func TestStdinByteForByte(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct{ cmd, want string }{
		{`cat%a%b`, "a\nb"},
		{`cat%a%b%`, "a\nb\n"},
		{`cat%it's%"q" $HOME \n \%`, "it's\n\"q\" $HOME \\n %"},
		{`cat%%`, "\n"},
		{`true; cat # c%x`, "x"},
	} {
		command, input, _ := splitPercent(tc.cmd)
		out, err := exec.Command("sh", "-c", pipeInput(input, command)).Output()
		if err != nil {
			t.Errorf("%s: %v", tc.cmd, err)
			continue
		}
		if string(out) != tc.want {
			t.Errorf("%s: read %q, want %q", tc.cmd, out, tc.want)
		}
	}
}

func TestSystemPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/etc/crontab": true, "/etc/cron.d/php": true, "/etc/cron.d/../crontab": true,
		"/etc/cron.daily/x": false, "crontab": false, "-": false, "": false, "/var/spool/cron/crontabs/alice": false,
	} {
		if got := SystemPath(p); got != want {
			t.Errorf("SystemPath(%q) = %v", p, got)
		}
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestReadError(t *testing.T) {
	t.Parallel()
	if _, err := Read(failReader{}, Options{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
}
