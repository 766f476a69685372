package jobfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/arbiterd/arbiter/api"
)

func errorTexts(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"unknown key with suggestion", `
[jobs.backup]
  scheduel = "0 3 * * *"
  command = ["true"]
`, []string{`f.toml:3:3: unknown key "scheduel" (did you mean "schedule"?)`}},
		{"unknown key without suggestion", `[jobs.a]
schedule = "@daily"
command = ["true"]
colour = "blue"
`, []string{`f.toml:4:1: unknown key "colour"; the keys of a job are schedule, timezone, command, shell, dir, env, labels, timeout, kill_grace, overlap, catchup, retries, retry_delay, jitter, paused`}},
		{"alias", `[jobs.a]
cron = "@daily"
command = ["true"]
`, []string{`f.toml:2:1: unknown key "cron" (did you mean "schedule"?)`}},
		{"dashed key", `[jobs.a]
schedule = "@daily"
command = ["true"]
kill-grace = "5s"
`, []string{`f.toml:4:1: unknown key "kill-grace" (did you mean "kill_grace"?)`}},
		{"unknown top-level key", `job = 1
[jobs.a]
schedule = "@daily"
command = ["true"]
`, []string{`f.toml:1:1: unknown key "job" (did you mean "jobs"?)`}},
		{"wrong types", `[jobs.a]
schedule = 5
command = "backup.sh"
retries = "3"
paused = "yes"
timeout = 30
env = { PORT = 8080 }
`, []string{
			`f.toml:2:12: schedule: expected a string, got an integer`,
			`f.toml:3:11: command: expected an array such as ["prog", "arg"], got a string; use shell = "..." for a shell string`,
			`f.toml:4:11: retries: expected an integer, got a string`,
			`f.toml:5:10: paused: expected true or false, got a string`,
			`f.toml:6:11: timeout: expected a duration string such as "30s" or "1h30m", got an integer`,
			`f.toml:7:16: env.PORT: expected a string, got an integer`,
		}},
		{"command element", `[jobs.a]
schedule = "@daily"
command = ["echo", 1]
`, []string{`f.toml:3:20: command[1]: expected a string, got an integer`}},
		{"bad cron at its position", `[jobs.a]
command = ["true"]
schedule   =   "61 * * * *"
`, []string{`f.toml:3:16: schedule: minute: 61 is out of range 0-59`}},
		{"bad zone", `[jobs.a]
schedule = "@daily"
timezone = "Mars/Olympus"
command = ["true"]
`, []string{`f.toml:3:12: timezone: unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Berlin or UTC`}},
		{"bad duration", `[jobs.a]
schedule = "@daily"
command = ["true"]
retry_delay = "soon"
`, []string{`f.toml:4:15: retry_delay: "soon" is not a duration; use a form such as 30s, 5m or 1h30m`}},
		{"negative duration", `[jobs.a]
schedule = "@daily"
command = ["true"]
catchup = "-1m"
`, []string{`f.toml:4:11: catchup: must not be negative; use 0 to turn catch-up off`}},
		{"bad name", `[jobs."Nightly Backup"]
schedule = "@daily"
command = ["true"]
`, []string{`f.toml:1:7: name: "Nightly Backup" is not a valid job name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`}},
		{"both command and shell", `[jobs.a]
schedule = "@daily"
command = ["true"]
shell = "true"
`, []string{`f.toml:4:9: command: give either a command or a shell string, not both`}},
		{"missing command", `[jobs.a]
schedule = "@daily"
`, []string{`f.toml:1:7: command is missing: give command = ["prog", "arg"], or shell = "a string for /bin/sh -c"`}},
		{"missing schedule", `[jobs.a]
shell = "true"
`, []string{`f.toml:1:7: schedule is missing: give a cron expression such as schedule = "0 3 * * *", a macro such as "@daily", "@every 90s" or "@at TIME"`}},
		{"user not supported", `[jobs.a]
schedule = "@daily"
command = ["true"]
user = "postgres"
`, []string{`f.toml:4:1: user: running a job as another user is not supported yet`}},
		{"labels as a table", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = { region = "eu" }
`, []string{`f.toml:4:10: labels: expected an array such as ["gpu", "eu"], got a table; a label is a name such as "eu", not a key = value pair`}},
		{"labels as a string", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = "gpu"
`, []string{`f.toml:4:10: labels: expected an array such as ["gpu", "eu"], got a string`}},
		{"labels as a sub-table", `[jobs.a]
schedule = "@daily"
command = ["true"]
[jobs.a.labels]
region = "eu"
`, []string{`f.toml:4:9: labels: expected an array such as ["gpu", "eu"], got a table; a label is a name such as "eu", not a key = value pair`}},
		{"labels as a boolean", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = true
`, []string{`f.toml:4:10: labels: expected an array of strings such as ["gpu", "eu"], got a boolean`}},
		{"label not a string", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = ["gpu", 7, { a = 1 }]
`, []string{
			`f.toml:4:18: labels[1]: expected a string, got an integer`,
			`f.toml:4:21: labels[2]: expected a string, got a table`,
		}},
		{"bad labels at their positions", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = ["gpu", "GPU", "eu", "region=eu"]
`, []string{
			`f.toml:4:18: labels: "GPU" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`,
			`f.toml:4:31: labels: "region=eu" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`,
		}},
		{"too many labels", `[jobs.a]
schedule = "@daily"
command = ["true"]
labels = ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9", "l10", "l11", "l12", "l13", "l14", "l15", "l16", "l1"]
`, []string{`f.toml:4:10: labels: 17 labels; a job may require at most 16`}},
		{"labels alias", `[jobs.a]
schedule = "@daily"
command = ["true"]
tags = ["gpu"]
`, []string{`f.toml:4:1: unknown key "tags" (did you mean "labels"?)`}},
		{"bad env name and secret", `[jobs.a]
schedule = "@daily"
command = ["true"]
env = { "1A" = "x", TOKEN = "secret:Bad Name" }
`, []string{
			`f.toml:4:9: env: "1A" is not a valid variable name: use letters, digits and '_', not starting with a digit`,
			`f.toml:4:29: env: TOKEN=secret:Bad Name: "Bad Name" is not a valid secret name`,
		}},
		{"overlap and retries", `[jobs.a]
schedule = "@daily"
command = ["true"]
overlap = "later"
retries = 1000
`, []string{
			`f.toml:4:11: overlap: "later" is not one of skip, queue, allow, replace`,
			`f.toml:5:11: retries: 1000 is out of range 0-100`,
		}},
		{"array of tables", `[[jobs]]
schedule = "@daily"
`, []string{`f.toml:1:3: jobs: use one [jobs.NAME] table per job, not [[jobs]]`}},
		{"job not a table", `[jobs]
a = "x"
`, []string{`f.toml:2:5: jobs.a: expected a table of the job's settings, got a string`}},
		{"no jobs", "# nothing\n", []string{`f.toml:1:1: no jobs: define each job in a [jobs.NAME] table`}},
		{"syntax error", "[jobs.a]\nschedule = \"@daily\n", []string{`f.toml:2:19: basic strings cannot have new lines`}},
		{"duplicate key", "[jobs.a]\nschedule = \"@daily\"\nschedule = \"@hourly\"\n", []string{`f.toml:3:1: key schedule is already defined`}},
		{"several errors in one file", `[jobs.backup]
schedule = "0 3 * * *"
command = ["backup.sh"]
timout = "1h"

[jobs.probe]
schedule = "*/30 * * * * * *"
command = ["true"]
jitter = "a bit"

[jobs.ok]
schedule = "@hourly"
shell = "true"
`, []string{
			`f.toml:4:1: unknown key "timout" (did you mean "timeout"?)`,
			`f.toml:7:12: schedule: "*/30 * * * * * *" has 7 fields; use 5 (minute hour day-of-month month day-of-week) or 6 with a leading seconds field`,
			`f.toml:9:10: jitter: "a bit" is not a duration; use a form such as 30s, 5m or 1h30m`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errs := Parse("f.toml", []byte(tt.file))
			if got := errorTexts(errs); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseKeepsGoodJobs(t *testing.T) {
	t.Parallel()
	jobs, errs := Parse("f.toml", []byte(`[jobs.good]
schedule = "@hourly"
shell = "true"

[jobs.bad]
schedule = "nope"
shell = "true"
`))
	if len(errs) != 1 || len(jobs) != 1 || jobs[0].Spec.Name != "good" {
		t.Fatalf("jobs %+v, errors %v; want only the good job and one error", jobs, errs)
	}
	if jobs[0].Spec.Source != "f.toml" || jobs[0].Source != "f.toml" || jobs[0].Pos != (Pos{1, 7}) || jobs[0].Values["shell"] != (Pos{3, 9}) {
		t.Errorf("source and positions: %+v", jobs[0])
	}
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	// The same job written in the other ways TOML allows: dotted keys, an [env] sub-table, an
	// inline table for the job, multi-line arrays and literal strings.
	want := api.JobSpec{Name: "a", Source: "f.toml", Schedule: "@every 90s", Command: []string{"echo", `a "b"`},
		Env: map[string]string{"A": "1", "B": "2"}, Labels: []string{"gpu", "eu"}, Retries: 3}
	for _, file := range []string{
		"[jobs.a]\nschedule = '@every 90s'\ncommand = [\n  'echo',  # the program\n  'a \"b\"',\n]\nenv.A = \"1\"\nenv.B = \"2\"\nlabels = [\n  'gpu',  # where the cards are\n  \"eu\",\n]\nretries = 0x3\n",
		"[jobs]\na.schedule = \"@every 90s\"\na.command = [\"echo\", 'a \"b\"']\na.labels = [\"gpu\", \"eu\"]\na.retries = 3\n[jobs.a.env]\nA = \"1\"\nB = \"2\"\n",
		"jobs.a = { schedule = \"@every 90s\", command = [\"echo\", 'a \"b\"'], env = { A = \"1\", B = \"2\" }, labels = [\"gpu\", \"eu\"], retries = 3 }\n",
	} {
		jobs, errs := Parse("f.toml", []byte(file))
		if len(errs) > 0 || len(jobs) != 1 || !reflect.DeepEqual(jobs[0].Spec, want) {
			t.Errorf("%s\ngot %+v, %v\nwant %+v", file, jobs, errs, want)
		}
	}
}

// labels = [] is the same as no labels.
func TestParseEmptyLabels(t *testing.T) {
	t.Parallel()
	jobs, errs := Parse("f.toml", []byte("[jobs.a]\nschedule = \"@daily\"\ncommand = [\"true\"]\nlabels = []\n"))
	if len(errs) > 0 || len(jobs) != 1 || jobs[0].Spec.Labels != nil {
		t.Fatalf("jobs %+v, errors %v; want one job without labels", jobs, errs)
	}
}

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "b.toml", "[jobs.two]\nschedule = \"@daily\"\nshell = \"true\"\n")
	write(t, dir, "a.toml", "\n[jobs.one]\nschedule = \"@daily\"\nshell = \"true\"\n")
	write(t, dir, "notes.txt", "not a job file")
	if err := os.Mkdir(filepath.Join(dir, "sub.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	dup := write(t, other, "dup.toml", "[jobs.zero]\nschedule = \"@daily\"\nshell = \"true\"\n\n[jobs.one]\nschedule = \"@hourly\"\nshell = \"true\"\n")
	stdin := strings.NewReader("[jobs.three]\nschedule = \"@daily\"\nshell = \"true\"\n")

	jobs, errs := LoadFrom(stdin, dir, dup, "-", filepath.Join(other, "missing.toml"), other+"/nothing")
	var names []string
	for _, j := range jobs {
		names = append(names, j.Spec.Name+"@"+j.Spec.Source)
	}
	wantNames := []string{"one@" + dir + "/a.toml", "two@" + dir + "/b.toml", "zero@" + dup, "three@<stdin>"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("jobs %v, want %v", names, wantNames)
	}
	wantErrs := []string{
		dup + `:5:7: job "one" is also defined at ` + dir + "/a.toml:2:7",
		other + "/missing.toml: no such file or directory",
		other + "/nothing: no such file or directory",
	}
	if got := errorTexts(errs); !slices.Equal(got, wantErrs) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}

	empty := t.TempDir()
	if _, errs := Load(empty); len(errs) != 1 || errs[0].Error() != empty+": no *.toml files in this directory" {
		t.Errorf("empty directory: %v", errs)
	}
}

// TestExamples loads every job file in examples/, so that they never rot.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	jobs, errs := Load("../examples")
	for _, e := range errs {
		t.Error(e)
	}
	if len(jobs) < len(files) {
		t.Errorf("%d jobs from %d files", len(jobs), len(files))
	}
	// The examples show what the issue promised: a secret reference and a paused job.
	var secret, paused bool
	for _, j := range jobs {
		secret = secret || slices.ContainsFunc(slices.Collect(mapsValues(j.Spec.Env)), func(v string) bool { return strings.HasPrefix(v, "secret:") })
		paused = paused || j.Spec.Paused
	}
	if !secret || !paused {
		t.Errorf("the examples lost their secret reference (%v) or paused job (%v)", secret, paused)
	}
}

func mapsValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// every is a spec that sets every field.
var every = api.JobSpec{
	Name: "db.backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
	Command: []string{"/usr/bin/backup", "--label", `it's "quoted"`, "tab\there", "line\nbreak", `back\slash`, "ünïcode", "bell\x07"},
	Dir:     "/srv/back ups",
	Env:     map[string]string{"PGPASSWORD": "secret:pg", "PLAIN": `a "b" c`, "_X": ""},
	Labels:  []string{"eu", "gpu", "x.y_z-9"},
	Timeout: "1h30m", KillGrace: "30s", Overlap: "queue", Catchup: "0", Retries: 3,
	RetryDelay: "1m", Jitter: "45s", Paused: true,
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	shell := every
	shell.Name, shell.Command, shell.Shell = "shell", nil, `echo "$HOME" | tr a-z A-Z; printf 'x\n'`
	specs := []api.JobSpec{
		every,
		shell,
		{Name: "min", Schedule: "@every 90s", Command: []string{"true"}},
		{Name: "once", Schedule: "@at 2030-01-02 09:00", Timezone: "America/New_York", Shell: "it's\r\nmulti\nline", Catchup: "5m"},
		{Name: "x-1_2", Schedule: "*/30 * * * * *", Command: []string{"test", "-w", "/tmp"}, Overlap: "allow", Retries: 100, Env: map[string]string{"K": "'single' and \"double\""}},
	}
	var buf bytes.Buffer
	if err := Encode(&buf, specs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "# Exported by arbiter.") {
		t.Errorf("no header comment:\n%s", buf.String())
	}
	jobs, errs := Parse("out.toml", buf.Bytes())
	for _, e := range errs {
		t.Errorf("%v\n%s", e, buf.String())
	}
	if len(jobs) != len(specs) {
		t.Fatalf("%d jobs back, want %d:\n%s", len(jobs), len(specs), buf.String())
	}
	for i, j := range jobs {
		want := specs[i]
		want.Source = "out.toml"
		if !reflect.DeepEqual(j.Spec, want) {
			t.Errorf("job %d:\ngot  %#v\nwant %#v\nfile:\n%s", i, j.Spec, want, buf.String())
		}
	}
	// Deterministic: the same specs give the same bytes.
	var again bytes.Buffer
	if err := Encode(&again, specs); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("Encode is not deterministic")
	}
}

func TestEncodeLayout(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	spec := api.JobSpec{Name: "backup", Schedule: "0 3 * * *", Command: []string{"backup.sh"}, Env: map[string]string{"B": "2", "A": "1"},
		Labels: []string{"eu", "ssd"}, Retries: 2}
	if err := Encode(&buf, []api.JobSpec{spec}); err != nil {
		t.Fatal(err)
	}
	want := header + `
[jobs.backup]
schedule = "0 3 * * *"
command = ["backup.sh"]
env = { A = "1", B = "2" }
labels = ["eu", "ssd"]
retries = 2
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"scheduel": "schedule", "Schedule": "schedule", "timout": "timeout", "retry-delay": "retry_delay",
		"tz": "timezone", "cmd": "command", "env_vars": "", "colour": "", "x": "",
	} {
		if got := suggest(key, jobKeys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

// The builder's line index places every offset where the parser's own Shape does.
func TestPosMatchesParser(t *testing.T) {
	t.Parallel()
	data := []byte("# c\n\n[jobs.a]\nschedule = \"@daily\"\r\ncommand = [\"x\",\n  \"y\"]\n\n\n[jobs.b]")
	p := &unstable.Parser{}
	p.Reset(data)
	b := newBuilder(p, data)
	for off := range len(data) + 1 {
		want := p.Shape(unstable.Range{Offset: uint32(off)}).Start
		if got := b.pos(uint32(off)); got != (Pos{want.Line, want.Column}) {
			t.Fatalf("offset %d: pos = %v, parser says %d:%d", off, got, want.Line, want.Column)
		}
	}
}

// Parsing grows with the number of jobs in a file: go test -bench Parse ./jobfile/
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		var doc strings.Builder
		for i := range n {
			fmt.Fprintf(&doc, "[jobs.job-%05d]\nschedule = \"%d 3 * * *\"\ncommand = [\"/usr/bin/backup\", \"--fast\"]\n\n", i, i%60)
		}
		data := []byte(doc.String())
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				jobs, errs := Parse("many.toml", data)
				if len(errs) > 0 || len(jobs) != n {
					b.Fatalf("%d jobs, errors %v", len(jobs), errs)
				}
			}
		})
	}
}
