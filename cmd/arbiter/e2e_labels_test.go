package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/arbiterd/arbiter/api"
)

// Labels travel the whole way: the CLI, the store, show, ls -o json, export and apply. And a
// single node runs a job whatever its labels: nothing filters on them without a cluster.
func TestE2ELabels(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "train", "--cron", far, "--label", "gpu", "--label", "eu,gpu", "--", "true")

	if out := d.mustArbiter("show", "train").stdout; !regexp.MustCompile(`\nLabels: +eu, gpu\n`).MatchString(out) {
		t.Errorf("show lacks the labels:\n%s", out)
	}
	var shown api.Job
	if err := json.Unmarshal([]byte(d.mustArbiter("show", "train", "-o", "json").stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if want := []string{"eu", "gpu"}; !slices.Equal(shown.Labels, want) {
		t.Errorf("show -o json: labels %q, want %q", shown.Labels, want)
	}
	labelsOf := func(name string) []string {
		t.Helper()
		for _, j := range d.lsJSON() {
			if j.Name == name {
				return j.Labels
			}
		}
		t.Fatalf("ls -o json has no job %s", name)
		return nil
	}
	if got, want := labelsOf("train"), []string{"eu", "gpu"}; !slices.Equal(got, want) {
		t.Errorf("ls -o json: labels %q, want %q", got, want)
	}

	d.mustArbiter("run", "train", "--wait") // exits with the run's status
	if runs := d.runs("train"); len(runs) != 1 || runs[0].State != "succeeded" {
		t.Errorf("a job with labels on the single node: runs %+v, want one that succeeded", runs)
	}

	exported := d.mustArbiter("export", "train").stdout
	if !strings.Contains(exported, "\nlabels = [\"eu\", \"gpu\"]\n") {
		t.Errorf("export lacks the labels:\n%s", exported)
	}
	if r := d.arbiterIn(exported, "apply", "--dry-run", "-"); r.code != 0 || !strings.Contains(r.stdout, "1 unchanged") {
		t.Errorf("export | apply --dry-run -: %s\nexported:\n%s", r, exported)
	}

	// A change of labels in a job file is a change of the plan.
	dir := filepath.Join(shortDir(t), "jobs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "infer.toml")
	writeFile(t, file, "[jobs.infer]\nschedule = \"@daily\"\ncommand = [\"true\"]\nlabels = [\"gpu\"]\n")
	d.mustArbiter("apply", dir, "-y")
	writeFile(t, file, "[jobs.infer]\nschedule = \"@daily\"\ncommand = [\"true\"]\nlabels = [\"gpu\", \"eu\"]\n")
	if r := d.arbiter("diff", dir); r.code != 1 || !strings.Contains(r.stdout, "~ update infer") || !strings.Contains(r.stdout, "labels: gpu -> eu, gpu") {
		t.Errorf("diff after a change of labels: %s", r)
	}
	d.mustArbiter("apply", dir, "-y")
	if got, want := labelsOf("infer"), []string{"eu", "gpu"}; !slices.Equal(got, want) {
		t.Errorf("labels after apply %q, want %q", got, want)
	}

	// A bad label is refused at its place, and nothing changes.
	writeFile(t, file, "[jobs.infer]\nschedule = \"@daily\"\ncommand = [\"true\"]\nlabels = [\"gpu\", \"EU\"]\n")
	if r := d.arbiter("apply", dir, "-y"); r.code != 2 || !strings.Contains(r.stderr, file+`:4:18: labels: "EU" is not a valid label`) {
		t.Errorf("apply of a bad label: %s", r)
	}
	if r := d.arbiter("add", "--name", "bad", "--cron", far, "--label", "GPU", "--", "true"); r.code != 2 || !strings.Contains(r.stderr, `--label: "GPU" is not a valid label`) {
		t.Errorf("add with a bad label: %s", r)
	}
}
