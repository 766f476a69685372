package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// arbiter events prints the log's newest events, filters by job, and follows it live until
// interrupted.
func TestEventsCommand(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.mustArbiter("add", "--name", "hello", "--cron", "0 3 * * *", "--", "echo", "hi")
	d.mustArbiter("add", "--name", "other", "--cron", "0 4 * * *", "--", "true")
	d.mustArbiter("run", "--wait", "hello")

	kinds := func(out string) []string {
		var k []string
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) > 3 {
				k = append(k, f[2]+" "+f[3]) // after the date and the time: kind and job
			}
		}
		return k
	}
	got := kinds(d.mustArbiter("events").stdout)
	want := []string{"job.created hello", "job.created other", "run.queued hello", "run.running hello", "run.succeeded hello"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("arbiter events: %q, want %q", got, want)
	}
	if got := kinds(d.mustArbiter("events", "--job", "other").stdout); len(got) != 1 || got[0] != "job.created other" {
		t.Errorf("arbiter events --job other: %q", got)
	}
	if got := kinds(d.mustArbiter("events", "-n", "2").stdout); len(got) != 2 || got[1] != "run.succeeded hello" {
		t.Errorf("arbiter events -n 2: %q, want the newest two", got)
	}
	for line := range strings.Lines(d.mustArbiter("events", "-o", "json").stdout) {
		var e api.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.ID == 0 || e.Kind == "" {
			t.Errorf("-o json line %q: %+v, %v", line, e, err)
		}
	}
	for _, args := range [][]string{{"events", "-n", "0"}, {"events", "--job", "no/such"}} {
		if r := d.arbiter(args...); r.code != 2 {
			t.Errorf("arbiter %s: %s; want exit 2", strings.Join(args, " "), r)
		}
	}

	// -f prints what happens next, and an interrupt ends it cleanly.
	cmd := exec.Command(binary(t), "events", "-f", "-n", "1", "--job", "hello")
	cmd.Env = append(os.Environ(), "TZ=UTC", "ARBITER_SOCKET="+d.socket)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("arbiter events -f printed nothing for 20s")
			return ""
		}
	}
	if l := next(); !strings.Contains(l, "run.succeeded") {
		t.Fatalf("first line %q, want the newest event of hello", l)
	}
	d.mustArbiter("run", "hello")
	d.mustArbiter("run", "other")
	for _, want := range []string{"run.queued", "run.running", "run.succeeded"} {
		if l := next(); !strings.Contains(l, want) || !strings.Contains(l, " hello ") {
			t.Errorf("followed line %q, want %s of hello (and nothing of other)", l, want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("arbiter events -f after an interrupt: %v, want exit 0", err)
	}
}
