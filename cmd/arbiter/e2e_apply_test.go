package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestE2EApplyJobFiles(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	dir := filepath.Join(shortDir(t), "jobs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.toml")
	writeFile(t, backup, `
[jobs.backup]
schedule = "0 3 * * *"
timezone = "Europe/Berlin"
command = ["true"]
timeout = "30m"
retries = 2
`)
	writeFile(t, filepath.Join(dir, "probe.toml"), `
[jobs.probe]
schedule = "*/30 * * * * *"
shell = "test -w /tmp"
`)
	d.mustArbiter("add", "--name", "by-hand", "--cron", far, "--", "true")

	r := d.mustArbiter("apply", dir, "-y")
	for _, want := range []string{"+ create backup (" + backup + ")", "+ create probe", "plan: 2 to create, 0 to update, 0 to delete, 0 unchanged", "applied: 2 created"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, j := range d.lsJSON() {
		if j.Name == "backup" && (j.Source != backup || j.Retries != 2 || j.Timezone != "Europe/Berlin") {
			t.Errorf("applied job = %+v", j)
		}
	}
	if r := d.arbiter("diff", dir); r.code != 0 || !strings.Contains(r.stdout, "2 unchanged") {
		t.Errorf("diff when in sync: %s", r)
	}

	// A change in the file shows as a field-level update.
	writeFile(t, backup, strings.Replace(mustRead(t, backup), `"0 3 * * *"`, `"30 4 * * *"`, 1))
	r = d.arbiter("diff", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "~ update backup") || !strings.Contains(r.stdout, "schedule: 0 3 * * * -> 30 4 * * *") {
		t.Errorf("diff after an edit: %s", r)
	}
	d.mustArbiter("apply", dir, "-y")

	// The CLI may not change a file's job without --force, which marks it as drifted.
	if r := d.arbiter("rm", "backup"); r.code != 1 || !strings.Contains(r.stderr, backup) {
		t.Errorf("rm of a file's job: %s", r)
	}
	if r := d.arbiter("pause", "backup"); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("pause of a file's job: %s", r)
	}
	d.mustArbiter("pause", "backup", "--force")
	r = d.arbiter("diff", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "paused: true -> false") || !strings.Contains(r.stdout, "drifted: true -> false") {
		t.Errorf("diff of a drifted job: %s", r)
	}
	d.mustArbiter("apply", dir, "-y")

	// --prune deletes a file's job that left its file, never a job made from the CLI.
	if err := os.Remove(filepath.Join(dir, "probe.toml")); err != nil {
		t.Fatal(err)
	}
	if r := d.mustArbiter("apply", dir, "-y"); strings.Contains(r.stdout, "- delete") {
		t.Errorf("apply without --prune deleted: %s", r.stdout)
	}
	r = d.mustArbiter("apply", dir, "--prune", "-y")
	if !strings.Contains(r.stdout, "- delete probe") || strings.Contains(r.stdout, "by-hand") {
		t.Errorf("apply --prune: %s", r.stdout)
	}
	var names []string
	for _, j := range d.lsJSON() {
		names = append(names, j.Name)
	}
	if strings.Join(names, ",") != "backup,by-hand" {
		t.Errorf("jobs after prune = %v", names)
	}

	// export writes TOML that round-trips: applying it back changes nothing.
	exported := d.mustArbiter("export").stdout
	if r := d.arbiterIn(exported, "apply", "--dry-run", "-"); r.code != 0 || !strings.Contains(r.stdout, "plan: 0 to create, 0 to update, 0 to delete, 2 unchanged") {
		t.Errorf("export | apply --dry-run -: %s\nexported:\n%s", r, exported)
	}

	// A broken file is refused with every error at its place, and nothing changes.
	bad := filepath.Join(dir, "bad.toml")
	writeFile(t, bad, "[jobs.broken]\nscheduel = \"* * * * *\"\ncommand = [\"true\"]\n")
	r = d.arbiter("apply", dir, "-y")
	if r.code != 2 || !strings.Contains(r.stderr, bad+":2:1") || !strings.Contains(r.stderr, `did you mean "schedule"`) {
		t.Errorf("apply of a broken file: %s", r)
	}
	if len(d.lsJSON()) != 2 {
		t.Errorf("a refused apply changed the jobs")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestE2EJobsDirAtStartAndOnReload(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(shortDir(t), "jobs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob("../../examples/*.toml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, f := range examples {
		writeFile(t, filepath.Join(dir, filepath.Base(f)), mustRead(t, f))
	}
	d := startDaemon(t, "--jobs", dir)
	eventually(t, 30*time.Second, "the example jobs", func() bool { return len(d.lsJSON()) == len(examples) })
	for _, j := range d.lsJSON() {
		if !strings.HasPrefix(j.Source, dir+"/") {
			t.Errorf("job %s has source %q, want a file in %s", j.Name, j.Source, dir)
		}
	}

	// A broken file: reload reports it at its place and changes nothing.
	writeFile(t, filepath.Join(dir, "zz-broken.toml"), "[jobs.broken]\nschedule = \"61 * * * *\"\ncommand = [\"true\"]\n")
	if r := d.arbiter("reload"); r.code != 2 || !strings.Contains(r.stderr, "zz-broken.toml:2:12") {
		t.Errorf("reload with a broken file: %s", r)
	}
	if len(d.lsJSON()) != len(examples) {
		t.Error("a failed reload changed the jobs")
	}

	// A new file is created by reload; a removed one is pruned on SIGHUP.
	if err := os.Remove(filepath.Join(dir, "zz-broken.toml")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "extra.toml"), "[jobs.extra]\nschedule = \"@daily\"\ncommand = [\"true\"]\n")
	if r := d.mustArbiter("reload"); !strings.Contains(r.stdout, "+ create extra") {
		t.Errorf("reload: %s", r)
	}
	if err := os.Remove(filepath.Join(dir, "extra.toml")); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the removed file's job to be pruned", func() bool {
		for _, j := range d.lsJSON() {
			if j.Name == "extra" {
				return false
			}
		}
		return true
	})
}
