// Command bench measures the real arbiter binary against baselines measured in the same run:
// how late scheduled fires start (dispatch), how many runs a second it executes (throughput),
// what many jobs cost at start and at rest (scale), and what a run flooding its output costs
// (flood). It prints a table per scenario and writes the same figures as JSON.
//
//	go run ./bench                # the full sizes, about 15 minutes
//	go run ./bench -quick         # small sizes, under a minute
//	go run ./bench -only dispatch -n 100 -seconds 30
//	go run ./bench -only dispatch -overlap skip   # arbiter's default policy, not the baseline's
//
// It reports figures and asserts nothing about them: TestQuick checks behaviour only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// scenarios in the order they run.
var scenarios = []string{"dispatch", "throughput", "scale", "flood"}

// config is what one invocation measures.
type config struct {
	only      []string
	outDir    string
	bin       string
	dispatchN []int
	seconds   int
	overlap   string // the dispatch jobs' overlap policy
	k         int
	jobs      []int
	idle      time.Duration
	flood     int64
}

// quickConfig are the sizes of -quick and of TestQuick: every scenario in well under a minute.
func quickConfig() config {
	return config{
		only:      scenarios,
		outDir:    filepath.Join("bench", "results"),
		dispatchN: []int{10},
		seconds:   4,
		overlap:   string(defaultOverlap),
		k:         200,
		jobs:      []int{1000},
		idle:      2 * time.Second,
		flood:     64 << 20,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := shortTempDir("arbbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(stderr, "building binaries...")
	arbiterBin, stampBin, err := buildBinaries(ctx, filepath.Join(tmp, "bin"), cfg.bin)
	if err != nil {
		return err
	}
	h := &harness{arbiter: arbiterBin, stamp: stampBin, tmp: tmp, progress: stderr}

	m := describeMachine(arbiterBin, tmp)
	if err := m.write(stdout); err != nil {
		return err
	}
	if err := writeResult(cfg.outDir, "machine", m); err != nil {
		return err
	}
	for _, name := range cfg.only {
		var rep report
		switch name {
		case "dispatch":
			rep, err = h.dispatch(ctx, cfg.dispatchN, cfg.seconds, cfg.overlap)
		case "throughput":
			rep, err = h.throughput(ctx, cfg.k)
		case "scale":
			rep, err = h.scale(ctx, cfg.jobs, cfg.idle)
		case "flood":
			rep, err = h.flood(ctx, cfg.flood)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, t := range rep.tables() {
			if err := t.write(stdout); err != nil {
				return err
			}
		}
		if err := writeResult(cfg.outDir, name, rep); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "results written to %s\n", cfg.outDir)
	return nil
}

// report is a scenario's result: JSON as it is, and tables for people.
type report interface {
	tables() []*table
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small sizes, for a smoke test (explicit size flags still win)")
	only := fs.String("only", strings.Join(scenarios, ","), "scenarios to run, comma-separated: "+strings.Join(scenarios, ", "))
	outDir := fs.String("out", filepath.Join("bench", "results"), "directory for <scenario>.json and machine.json")
	bin := fs.String("bin", "", "the arbiter binary to measure (default: go build ./cmd/arbiter into a temp dir)")
	n := fs.String("n", "10,100,1000", "dispatch: jobs firing every second")
	seconds := fs.Int("seconds", 60, "dispatch: seconds in the measured window")
	overlap := fs.String("overlap", string(defaultOverlap),
		"dispatch: the jobs' overlap policy (allow gives every fire a run, as the baseline does; skip is arbiter's default)")
	k := fs.Int("k", 5000, "throughput: runs per command")
	jobs := fs.String("jobs", "10000,100000", "scale: job counts")
	idle := fs.Duration("idle", 60*time.Second, "scale: how long the idle CPU is measured")
	floodSize := fs.String("flood", "1GiB", "flood: bytes of output of the run (e.g. 64MiB, 1GiB)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := quickConfig()
	cfg.outDir, cfg.bin, cfg.overlap = *outDir, *bin, *overlap
	var err error
	if cfg.only, err = parseOnly(*only); err != nil {
		return config{}, err
	}
	// -quick keeps its small sizes except where a size flag was given too.
	if !*quick || set["n"] {
		if cfg.dispatchN, err = parseInts("n", *n); err != nil {
			return config{}, err
		}
	}
	if !*quick || set["seconds"] {
		cfg.seconds = *seconds
	}
	if !*quick || set["k"] {
		cfg.k = *k
	}
	if !*quick || set["jobs"] {
		if cfg.jobs, err = parseInts("jobs", *jobs); err != nil {
			return config{}, err
		}
	}
	if !*quick || set["idle"] {
		cfg.idle = *idle
	}
	if !*quick || set["flood"] {
		if cfg.flood, err = parseSize(*floodSize); err != nil {
			return config{}, err
		}
	}
	switch {
	case cfg.seconds < 1:
		return config{}, fmt.Errorf("-seconds must be at least 1")
	case overlapNote(cfg.overlap) == "":
		return config{}, fmt.Errorf("-overlap: %q is not one of allow, skip, queue, replace", cfg.overlap)
	case cfg.k < 1:
		return config{}, fmt.Errorf("-k must be at least 1")
	case cfg.idle <= 0:
		return config{}, fmt.Errorf("-idle must be positive")
	case cfg.flood < 1:
		return config{}, fmt.Errorf("-flood must be positive")
	}
	return cfg, nil
}

func parseOnly(s string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(scenarios, name) {
			return nil, fmt.Errorf("-only: unknown scenario %q; choose from %s", name, strings.Join(scenarios, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	// Run in the documented order whatever order they were given in.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(scenarios, a) - slices.Index(scenarios, b) })
	return out, nil
}

func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive whole number", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSize reads a byte count with an optional binary or decimal unit: 1GiB, 64MiB, 10MB.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("-flood: %q is not a size such as 64MiB or 1GiB", s)
	}
	return n * mult, nil
}

// harness is what every scenario shares.
type harness struct {
	arbiter  string    // the binary measured
	stamp    string    // the job that records when it started
	tmp      string    // scratch space, removed at the end; short, for socket paths
	progress io.Writer // one line per step, so a long run shows it is alive
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// dir makes a fresh directory for one daemon or one baseline.
func (h *harness) dir(prefix string) (string, error) {
	return os.MkdirTemp(h.tmp, prefix)
}

// shortTempDir makes a temporary directory whose path leaves room for a socket name: a Unix
// socket path is limited to 108 bytes.
func shortTempDir(prefix string) (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	return os.MkdirTemp(base, prefix)
}

// buildBinaries builds the stamp job, and arbiter unless bin names one, into dir. Neither is
// built with -race, whatever the harness is built with: the figures are the real binary's.
func buildBinaries(ctx context.Context, dir, bin string) (arbiterBin, stampBin string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", "", err
	}
	stampBin = filepath.Join(dir, "stamp")
	if err := goBuild(ctx, root, stampBin, "./bench/stamp"); err != nil {
		return "", "", err
	}
	if bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", "", fmt.Errorf("-bin: %w", err)
		}
		return abs, stampBin, nil
	}
	arbiterBin = filepath.Join(dir, "arbiter")
	if err := goBuild(ctx, root, arbiterBin, "./cmd/arbiter"); err != nil {
		return "", "", err
	}
	return arbiterBin, stampBin, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the arbiter module: run the harness from the repository")
	}
	return filepath.Dir(gomod), nil
}

func goBuild(ctx context.Context, root, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
