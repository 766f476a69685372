package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// table is one scenario's figures for people: a title, optional notes, and rows of a label
// and a value per column. Every scenario prints through it.
type table struct {
	title   string
	columns []string // after the label column
	rows    [][]string
	notes   []string
}

func newTable(title string, columns ...string) *table {
	return &table{title: title, columns: columns}
}

// row adds a row; missing cells print as "-".
func (t *table) row(label string, cells ...string) {
	r := append([]string{label}, cells...)
	for len(r) < len(t.columns)+1 {
		r = append(r, "-")
	}
	for i, c := range r {
		if c == "" {
			r[i] = "-"
		}
	}
	t.rows = append(t.rows, r)
}

// compare adds a baseline/arbiter row with their ratio, formatting both values with f.
func (t *table) compare(label string, base, arb float64, f func(float64) string) {
	t.row(label, f(base), f(arb), fmtRatio(ratio(arb, base)))
}

// compareDur is compare for durations.
func (t *table) compareDur(label string, base, arb dur) {
	t.row(label, fmtDur(time.Duration(base)), fmtDur(time.Duration(arb)), fmtRatio(ratio(float64(arb), float64(base))))
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) write(w io.Writer) error {
	var b strings.Builder
	b.WriteString(t.title + "\n")
	var lines strings.Builder
	tw := tabwriter.NewWriter(&lines, 0, 8, 3, ' ', 0)
	if strings.Join(t.columns, "") != "" {
		fmt.Fprintf(tw, "\t%s\n", strings.Join(t.columns, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\n", strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(lines.String()) {
		b.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	for _, n := range t.notes {
		b.WriteString("  " + n + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtRatio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

func fmtInt(v float64) string { return fmt.Sprintf("%d", int64(v)) }

func fmtRate(v float64) string { return fmt.Sprintf("%.0f/s", v) }

func fmtMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }

func fmtPct(v float64) string { return fmt.Sprintf("%.2f%%", v) }

// fmtBytes prints a size in binary units.
func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// writeResult writes v as indented JSON to dir/name.json.
func writeResult(dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create results dir: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
