package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// keyMap holds every binding; each view picks the ones that apply to it for the help bar.
type keyMap struct {
	up, down, top, bottom, pageUp, pageDown key.Binding
	open, log, back, filter, search, sort   key.Binding
	next, prev                              key.Binding
	run, pause, cancel, delete              key.Binding
	help, quit                              key.Binding
}

func newKeyMap(readOnly bool) keyMap {
	k := keyMap{
		up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
		bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom")),
		pageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b", "ctrl+u"), key.WithHelp("pgup", "page up")),
		pageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "ctrl+d", "space"), key.WithHelp("pgdn", "page down")),
		open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		log:      key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "log")),
		back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		search:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search")),
		sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		next:     key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "next/prev match")),
		prev:     key.NewBinding(key.WithKeys("N")),
		run:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "run")),
		pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		cancel:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "cancel")),
		delete:   key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete")),
		help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	if readOnly {
		// Disabled bindings neither match nor show in the help.
		for _, b := range []*key.Binding{&k.run, &k.pause, &k.cancel, &k.delete} {
			b.SetEnabled(false)
		}
	}
	return k
}

// shortHelp is the one-line help bar of a view.
func (k keyMap) shortHelp(v view) []key.Binding {
	switch v {
	case viewRuns:
		return []key.Binding{k.open, k.back, k.run, k.cancel, k.help, k.quit}
	case viewLog:
		return []key.Binding{k.up, k.down, k.search, k.next, k.bottom, k.back, k.quit}
	}
	return []key.Binding{k.open, k.log, k.filter, k.sort, k.run, k.pause, k.cancel, k.delete, k.help, k.quit}
}

// fullHelp is the ? screen: every key, in columns.
func (k keyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.up, k.down, k.top, k.bottom, k.pageUp, k.pageDown},
		{k.open, k.log, k.back, k.filter, k.sort, k.next},
		{k.run, k.pause, k.cancel, k.delete, k.help, k.quit},
	}
}

func newHelp(noColor bool) help.Model {
	h := help.New()
	if noColor {
		plain := lipgloss.NewStyle()
		h.Styles = help.Styles{Ellipsis: plain, ShortKey: plain, ShortDesc: plain, ShortSeparator: plain,
			FullKey: plain, FullDesc: plain, FullSeparator: plain}
	}
	return h
}
