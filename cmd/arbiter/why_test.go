package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// whyDaemon answers /why for job flaky with goldenWhy and records the at of each request.
type whyDaemon struct {
	mu  sync.Mutex
	ats []string
}

func (d *whyDaemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs/{name}/why", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.ats = append(d.ats, r.URL.Query().Get("at"))
		d.mu.Unlock()
		switch r.PathValue("name") {
		case "flaky":
			reply(w, 200, goldenWhy())
		case "quiet":
			reply(w, 200, api.Why{Job: "quiet", Explanation: "Nothing to say."}) // runs: null
		default:
			replyError(w, 404, "not_found", `no job named "`+r.PathValue("name")+`"`)
		}
	})
	return mux
}

func (d *whyDaemon) lastAt() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ats) == 0 {
		return ""
	}
	return d.ats[len(d.ats)-1]
}

func TestWhy(t *testing.T) {
	d := &whyDaemon{}
	sock := fakeDaemon(t, d.mux())
	local := time.Date(2026, 11, 22, 14, 0, 0, 0, time.Local).UTC().Format(time.RFC3339)

	tests := []struct {
		name       string
		args       []string
		wantAt     string // "" skips the check
		wantOut    string // a part of stdout
		wantStderr string
		wantCode   int
	}{
		{"local time", []string{"flaky", "--at", "2026-11-22 14:00"}, local, "The fire at 17:58:00 (Europe/Berlin) started run 45", "", 0},
		{"local time with T", []string{"flaky", "--at", "2026-11-22T14:00"}, local, "retry 2 of 3 after exit 1; backoff 20s", "", 0},
		{"RFC 3339 goes as UTC", []string{"flaky", "--at", "2026-11-22T14:00:00+01:00"}, "2026-11-22T13:00:00Z", "ID  STATE   TRIGGER   ATTEMPT", "", 0},
		{"no runs, no table", []string{"quiet"}, "", "Nothing to say.\n", "", 0},
		{"unknown job", []string{"nope"}, "", "", "arbiter: no job named \"nope\"\n", 1},
	}
	for _, tt := range tests {
		stdout, stderr, code := cli(t, append(append([]string{"why"}, tt.args...), "--socket", sock)...)
		if code != tt.wantCode || stderr != tt.wantStderr || !strings.Contains(stdout, tt.wantOut) {
			t.Errorf("%s: exit %d, stderr %q, stdout:\n%s\nwant exit %d, stderr %q, stdout with %q",
				tt.name, code, stderr, stdout, tt.wantCode, tt.wantStderr, tt.wantOut)
		}
		if tt.wantCode == 0 && tt.name == "no runs, no table" && stdout != tt.wantOut {
			t.Errorf("%s: stdout %q, want only the explanation", tt.name, stdout)
		}
		if tt.wantAt != "" && d.lastAt() != tt.wantAt {
			t.Errorf("%s: at=%q, want %q", tt.name, d.lastAt(), tt.wantAt)
		}
	}
}

func TestWhyDefaultsToNow(t *testing.T) {
	d := &whyDaemon{}
	sock := fakeDaemon(t, d.mux())
	if _, stderr, code := cli(t, "why", "flaky", "--socket", sock); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// No time is sent: the daemon's own now decides, so the fire of the current second,
	// already past, is never mistaken for the next one.
	if d.lastAt() != "" {
		t.Errorf("at=%q, want none", d.lastAt())
	}
}

func TestWhyJSON(t *testing.T) {
	t.Parallel()
	sock := fakeDaemon(t, (&whyDaemon{}).mux())
	stdout, stderr, code := cli(t, "why", "flaky", "-o", "json", "--socket", sock)
	want, _ := json.MarshalIndent(goldenWhy(), "", "  ")
	if code != 0 || stdout != string(want)+"\n" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	// No runs are [] as the daemon would send them, never null.
	stdout, _, _ = cli(t, "why", "quiet", "-o", "json", "--socket", sock)
	if !strings.Contains(stdout, `"runs": []`) {
		t.Errorf("no runs: %s", stdout)
	}
}

func TestWhyBadInputNeedsNoDaemon(t *testing.T) {
	t.Parallel()
	sock := deadSocket(t) // a request would fail with exit 1
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not a time", []string{"flaky", "--at", "soon"}, `arbiter: --at: "soon" is not a time; use RFC 3339`},
		{"date only", []string{"flaky", "--at", "2026-11-22"}, `--at: "2026-11-22" is not a time`},
		{"no job", nil, "missing JOB"},
		{"two jobs", []string{"a", "b"}, `unexpected argument "b"`},
		{"bad format", []string{"flaky", "-o", "yaml"}, `"yaml" is not an output format`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := cli(t, append(append([]string{"why"}, tt.args...), "--socket", sock)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		text  string
		width int
		want  string
	}{
		{"fits", "one two three", 20, "one two three\n"},
		{"exact", "one two", 7, "one two\n"},
		{"breaks at spaces", "one two three", 7, "one two\nthree\n"},
		{"long word alone", "a verylongword b", 5, "a\nverylongword\nb\n"},
		{"keeps line breaks", "first line\nsecond\n", 80, "first line\nsecond\n"},
		{"collapses spaces", "  a   b  ", 80, "a b\n"},
		{"controls become spaces", "a\tb\x1b[31mc", 80, "a b [31mc\n"},
		{"counts runes", "äää ööö", 7, "äää ööö\n"},
		{"empty", "", 80, "\n"},
	}
	for _, tt := range tests {
		if got := wrap(tt.text, tt.width); got != tt.want {
			t.Errorf("%s: wrap(%q, %d) = %q, want %q", tt.name, tt.text, tt.width, got, tt.want)
		}
	}
}
