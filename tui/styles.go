package tui

import (
	"charm.land/lipgloss/v2"
)

// styles are the few looks of the dashboard. Monochrome styles are empty: lipgloss renders
// them as the bare text, so NO_COLOR output carries no escape codes at all, and every state
// stays readable by its symbol and word alone.
type styles struct {
	title, header, dim, selected, good, bad, busy, warn, match, errLine, key lipgloss.Style
}

func newStyles(noColor bool) styles {
	if noColor {
		return styles{}
	}
	return styles{
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
		key:      lipgloss.NewStyle().Bold(true),
	}
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
