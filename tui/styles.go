package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// styles are the few looks of the dashboard. Monochrome styles are empty: lipgloss renders
// them as the bare text, so NO_COLOR output carries no escape codes at all, and every state
// stays readable by its symbol and word alone.
type styles struct {
	title, header, dim, selected, good, bad, busy, warn, match, errLine lipgloss.Style
	// sgr holds each state style's opening and closing codes: the history bars paint hundreds
	// of one-cell glyphs a frame, and a lipgloss Render each would be most of the frame's cost.
	sgr map[string][2]string
}

func newStyles(noColor bool) styles {
	if noColor {
		return styles{}
	}
	st := styles{
		title:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		header:   lipgloss.NewStyle().Bold(true),
		dim:      lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		selected: lipgloss.NewStyle().Background(lipgloss.Color("237")).Bold(true),
		good:     lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		bad:      lipgloss.NewStyle().Foreground(lipgloss.Color("1")),
		busy:     lipgloss.NewStyle().Foreground(lipgloss.Color("14")),
		warn:     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		match:    lipgloss.NewStyle().Background(lipgloss.Color("3")).Foreground(lipgloss.Color("0")),
		errLine:  lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		sgr:      map[string][2]string{},
	}
	for _, state := range []string{"queued", "running", "succeeded", "failed", "timed_out", "cancelled", "lost", "skipped", "missed"} {
		open, close, _ := strings.Cut(st.stateStyle(state).Render("\x00"), "\x00")
		st.sgr[state] = [2]string{open, close}
	}
	for key, style := range map[string]lipgloss.Style{dimmed: st.dim, warned: st.warn} {
		open, close, _ := strings.Cut(style.Render("\x00"), "\x00")
		st.sgr[key] = [2]string{open, close}
	}

	return st
}

// Paint keys of the styles that are not a run state's.
const (
	dimmed = "dim"
	warned = "warn"
)

// paint is text in the colour of state (or dimmed); unknown keys, and every key in
// monochrome, leave text as it is.
func (st styles) paint(state, text string) string {
	c := st.sgr[state]
	return c[0] + text + c[1]
}

// symbol is a run state's one-cell mark, distinct enough to read without colour.
func symbol(state string) string {
	switch state {
	case "queued":
		return "…"
	case "running":
		return "●"
	case "succeeded":
		return "✓"
	case "failed", "timed_out", "lost":
		return "✗"
	case "cancelled":
		return "⊘"
	case "skipped":
		return "↷"
	case "missed":
		return "∅"
	}
	return "?"
}

// stateStyle colours a state: green done, red failed, cyan busy, yellow for the fires that did
// not run.
func (st styles) stateStyle(state string) lipgloss.Style {
	switch state {
	case "succeeded":
		return st.good
	case "failed", "timed_out", "lost":
		return st.bad
	case "queued", "running":
		return st.busy
	case "cancelled", "skipped", "missed":
		return st.warn
	}
	return st.dim
}
