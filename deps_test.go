package arbiter_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/arbiterd/arbiter"

// denied lists, for each area of the module, the areas it must not import: the arrows of
// DESIGN.md (cmd → daemon | client | tui; tui → api; client → api; daemon → store | runners |
// api; everything may use the root package; store and runners import neither daemon nor api;
// jobfile turns job files into api.JobSpec for cmd and the daemon).
// Nothing imports cmd.
var denied = map[string][]string{
	"":         {"api", "client", "daemon", "internal", "jobfile", "runners", "store", "tui", "cmd"},
	"api":      {"client", "daemon", "jobfile", "runners", "store", "tui", "cmd"},
	"client":   {"daemon", "jobfile", "runners", "store", "tui", "cmd"},
	"daemon":   {"client", "tui", "cmd"},
	"internal": {"api", "client", "daemon", "jobfile", "runners", "store", "tui", "cmd"},
	"jobfile":  {"client", "daemon", "runners", "store", "tui", "cmd"}, // job files ↔ api.JobSpec
	"runners":  {"api", "client", "daemon", "jobfile", "store", "tui", "cmd"},
	"store":    {"api", "client", "daemon", "jobfile", "runners", "tui", "cmd"},
	"tui":      {"client", "daemon", "jobfile", "runners", "store", "cmd"},
	"cmd":      {},
	// The benchmark harness drives the real binary from outside, as any client would.
	"bench": {"daemon", "internal", "jobfile", "runners", "store", "tui", "cmd"},
}

// area is the top-level directory of a module package ("" for the root package).
func area(pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	first, _, _ := strings.Cut(rest, "/")
	return first
}

func TestDependencyArrows(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	packages := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		packages++
		from := area(p.ImportPath)
		bans, known := denied[from]
		if !known {
			t.Errorf("%s is in an area the dependency rules do not know; add it to denied", p.ImportPath)
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				// The root package is the domain: the standard library and gronx only.
				if from == "" && strings.Contains(strings.Split(imp, "/")[0], ".") && imp != "github.com/adhocore/gronx" {
					t.Errorf("the root package imports %s; it may use only the standard library and gronx", imp)
				}
				continue
			}
			if to := area(imp); to != from && slices.Contains(bans, to) {
				t.Errorf("%s imports %s, against the dependency arrows of DESIGN.md", p.ImportPath, imp)
			}
		}
	}
	if packages < 8 {
		t.Fatalf("go list found only %d packages", packages)
	}
}
