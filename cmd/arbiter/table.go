package main

import (
	"bytes"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// table is the one printer of human output: lists with a header and detail views without
// one look alike. Columns are two spaces apart, lines carry no trailing spaces, and every
// cell stays on one line.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds a line; empty cells are left blank.
func (t *table) row(cells ...string) {
	clean := make([]string, len(cells))
	for i, c := range cells {
		clean[i] = oneLine(c)
	}
	io.WriteString(t.tw, strings.Join(clean, "\t")+"\n")
}

// flush writes the aligned table.
func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(t.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// oneLine replaces control characters (tabs and newlines would break the columns; escape
// sequences from a job's text could drive the terminal) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
