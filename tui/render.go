package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/arbiterd/arbiter/api"
)

// renderView is the whole screen: two header lines, the view's body, the status line and the
// help bar, exactly s.height lines of at most s.width cells.
func renderView(s *state) string {
	w, h := s.width, s.height
	var b strings.Builder
	b.WriteString(renderHeader(s, w))
	b.WriteByte('\n')
	body := h - 4
	switch {
	case s.showHelp:
		b.WriteString(renderHelp(s, w, body))
	case s.view == viewRuns:
		b.WriteString(renderRuns(s, w, body))
	case s.view == viewLog:
		b.WriteString(renderLog(s, w, body))
	default:
		b.WriteString(renderJobs(s, w, body))
	}
	b.WriteByte('\n')
	b.WriteString(renderStatus(s, w))
	b.WriteByte('\n')
	b.WriteString(fit(s.help.ShortHelpView(s.keys.shortHelp(s.view)), w))
	return b.String()
}

// renderHeader is the daemon's vital signs on the first line and the counters on the second.
func renderHeader(s *state, w int) string {
	st := s.st
	left := st.title.Render("arbiter top")
	if s.status.Version != "" {
		left += " " + s.status.Version
		if !s.status.StartedAt.IsZero() {
			left += " · up " + countdown(s.now.Sub(s.status.StartedAt))
		}
		if s.status.Store != "" {
			left += " · " + s.status.Store
		}
	}
	if s.socket != "" {
		left += " · " + st.dim.Render(s.socket)
	}
	var right string
	switch s.conn {
	case connConnected:
		right = st.good.Render("● connected")
	case connConnecting:
		right = st.warn.Render("◌ connecting…")
	default:
		right = st.bad.Render("◌ reconnecting…")
		if s.connErr != "" {
			right += " " + st.dim.Render(s.connErr)
		}
	}
	running, queued := s.counts()
	failed := s.failures24h()
	counters := fmt.Sprintf("jobs %d · paused %d · running %d · queued %d · ", len(s.jobs), s.paused, running, queued)
	fails := fmt.Sprintf("failed (24h) %d", failed)
	if failed > 0 {
		fails = st.bad.Render(fails)
	}
	crumb := "jobs"
	switch s.view {
	case viewRuns:
		crumb = "jobs › " + s.runsJob
	case viewLog:
		crumb = fmt.Sprintf("jobs › %s › run %d", s.log.run.Job, s.log.run.ID)
	}
	return spread(left, right, w) + "\n" + spread(counters+fails, st.dim.Render(crumb), w)
}

// spread puts left and right on one line of width w, cutting left when both do not fit.
func spread(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw >= w {
		return fit(right, w)
	}
	left = fit(left, w-rw-1)
	return left + strings.Repeat(" ", w-ansi.StringWidth(left)-rw) + right
}

// fit cuts s to at most w cells, marking the cut.
func fit(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, max(w, 0), "…")
}

// cell is s cut or padded to exactly w cells.
func cell(s string, w int) string {
	s = fit(s, w)
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// column is one column of a table: its title and width.
type column struct {
	title string
	width int
}

// table renders a header and the rows [top, top+n) of a table, marking the selected one. Only
// those rows are ever built, so a list of 10,000 jobs costs what a screenful does.
// paintOf names the paint (see styles.paint) of cell c of row i.
func table(st styles, cols []column, rows, top, selected, width int, row func(i int) []string, paintOf func(i, c int) string) []string {
	var hdr strings.Builder
	hdr.WriteString("  ")
	for c, col := range cols {
		if c > 0 {
			hdr.WriteByte(' ')
		}
		hdr.WriteString(cell(col.title, col.width))
	}
	out := []string{st.header.Render(fit(strings.TrimRight(hdr.String(), " "), width))}
	for i := top; i < top+rows; i++ {
		cells := row(i)
		var line strings.Builder
		if i == selected {
			line.WriteString("▸ ")
		} else {
			line.WriteString("  ")
		}
		for c, col := range cols {
			if c > 0 {
				line.WriteByte(' ')
			}
			text := cell(cells[c], col.width)
			if i == selected {
				// The selected row takes one style end to end; inner colours would cut it.
				line.WriteString(text)
			} else {
				line.WriteString(st.paint(paintOf(i, c), text))
			}
		}
		text := line.String()
		if i == selected {
			text = st.selected.Render(cell(text, width))
		} else {
			text = strings.TrimRight(text, " ")
		}
		out = append(out, text)
	}
	return out
}

// jobColumns sizes the jobs table: the fixed columns first, the name takes what is left. Wide
// screens get the schedule in words, a longer history and a flags column.
func jobColumns(width int) (cols []column, wide bool) {
	wide = width >= 110
	sched, hist := 14, 10
	if wide {
		sched, hist = 22, historyLen
	}
	cols = []column{{"NAME", 0}, {"SCHEDULE", sched}, {"NEXT", 9}, {"LAST", 12}, {"DURATION", 8}, {"HISTORY", hist}}
	if wide {
		cols = append(cols, column{"FLAGS", 14})
	}
	used := 2
	for _, c := range cols[1:] {
		used += c.width + 1
	}
	cols[0].width = clamp(width-used, 10, 48)
	return cols, wide
}

// renderJobs is the jobs table in height lines.
func renderJobs(s *state, width, height int) string {
	cols, wide := jobColumns(width)
	rows := min(height-1, len(s.order)-s.top)
	lines := table(s.st, cols, rows, s.top, s.cursor, width, func(i int) []string {
		j := s.jobs[s.order[i]]
		name, sched := j.Name, j.Schedule
		if wide {
			sched = describe(j.Schedule)
		} else if j.Drifted {
			name += " ≠"
		}
		cells := []string{name, sched, next(j, s.now), last(j.LastRun), "—", historyBar(s.st, s.history[j.Name], cols[5].width, s.now, i == s.cursor)}
		if d := lastDuration(j.LastRun, s.now); d >= 0 {
			cells[4] = duration(d)
		}
		if wide {
			var flags []string
			if j.Paused {
				flags = append(flags, "paused")
			}
			if j.Drifted {
				flags = append(flags, "drifted")
			}
			cells = append(cells, strings.Join(flags, ","))
		}
		return cells
	}, func(i, c int) string {
		j := s.jobs[s.order[i]]
		switch c {
		case 2:
			if j.NextRun == nil {
				return dimmed
			}
		case 3:
			if j.LastRun != nil {
				return j.LastRun.State
			}
			return dimmed
		case 6:
			return warned
		}
		return ""
	})
	if len(s.order) == 0 {
		msg := "no jobs yet: add one with `arbiter add`"
		switch {
		case s.conn != connConnected:
			msg = "waiting for the daemon…"
		case s.filter != "":
			msg = "no job name or label contains " + strconv.Quote(s.filter)
		}
		lines = append(lines, "  "+s.st.dim.Render(msg))
	}
	return pad(lines, height)
}

// pad makes lines exactly height lines long.
func pad(lines []string, height int) string {
	if len(lines) > height {
		lines = lines[:height]
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func next(j api.Job, now time.Time) string {
	switch {
	case j.NextRun != nil:
		if d := j.NextRun.Sub(now); d >= time.Second {
			return "in " + countdown(d)
		}
		return "due"
	case j.Paused:
		return "paused"
	}
	return "—"
}

func last(r *api.RunRef) string {
	if r == nil {
		return "—"
	}
	return symbol(r.State) + " " + strings.ReplaceAll(r.State, "_", " ")
}

var bars = []rune("▁▂▃▄▅▆▇█")

// historyBar draws a job's last runs, oldest on the left: a finished good run is a bar as tall
// as its duration relative to the others, every other state its symbol, so failures stand out
// in colour and without it. plain skips the colours (for the selected row).
func historyBar(st styles, runs []api.Run, width int, now time.Time, plain bool) string {
	if len(runs) > width {
		runs = runs[:width]
	}
	var longest time.Duration
	for _, r := range runs {
		longest = max(longest, runDuration(r, now))
	}
	var b strings.Builder
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		g := symbol(r.State)
		if r.State == "succeeded" {
			level := 0
			if longest > 0 {
				level = int(int64(len(bars)-1) * int64(runDuration(r, now)) / int64(longest))
			}
			g = string(bars[level])
		}
		if plain {
			b.WriteString(g)
		} else {
			b.WriteString(st.paint(r.State, g))
		}
	}
	return b.String()
}

// renderRuns is the runs of one job in height lines.
func renderRuns(s *state, width, height int) string {
	cols := []column{{"ID", 7}, {"STATE", 12}, {"TRIGGER", 8}, {"TRY", 3}, {"STARTED", 11}, {"DURATION", 8}, {"EXIT", 7}, {"REASON", 0}}
	used := 2
	for _, c := range cols[:len(cols)-1] {
		used += c.width + 1
	}
	cols[len(cols)-1].width = max(width-used, 6)
	rows := min(height-1, len(s.runs)-s.runsTop)
	lines := table(s.st, cols, rows, s.runsTop, s.runsCursor, width, func(i int) []string {
		r := s.runs[i]
		started, dur := "—", "—"
		if r.StartedAt != nil {
			started = clock(*r.StartedAt, s.now, s.loc)
			dur = duration(runDuration(r, s.now))
		}
		exit := "—"
		switch {
		case r.Signal != "":
			exit = r.Signal
		case r.ExitCode != nil:
			exit = strconv.Itoa(*r.ExitCode)
		}
		reason := r.Reason
		if r.State == "missed" && r.MissedCount > 0 && reason == "" {
			reason = fmt.Sprintf("%d fires missed", r.MissedCount)
		}
		return []string{strconv.FormatInt(r.ID, 10), symbol(r.State) + " " + strings.ReplaceAll(r.State, "_", " "),
			r.Trigger, strconv.Itoa(r.Attempt), started, dur, exit, reason}
	}, func(i, c int) string {
		if c == 1 {
			return s.runs[i].State
		}
		return ""
	})
	if len(s.runs) == 0 {
		msg := "loading runs…"
		if s.runsLoaded {
			msg = s.runsJob + " has not run yet"
		}
		lines = append(lines, "  "+s.st.dim.Render(msg))
	}
	return pad(lines, height)
}

// renderLog is a run's output under a title line, in height lines; lines holding the search
// are marked in the gutter (› and ▸ for the current one), and in colour highlighted too.
func renderLog(s *state, width, height int) string {
	l := &s.log
	r := l.run
	title := fmt.Sprintf("run %d of %s · %s", r.ID, r.Job, last(&api.RunRef{State: r.State}))
	if r.ExitCode != nil {
		title += " · exit " + strconv.Itoa(*r.ExitCode)
	}
	if d := runDuration(r, s.now); d >= 0 {
		title += " · " + duration(d)
	}
	if l.streaming {
		title += " · following"
	}
	if l.search != "" {
		title += fmt.Sprintf(" · /%s %d/%d", l.search, min(l.match+1, len(l.matches)), len(l.matches))
	}
	lines := []string{s.st.header.Render(fit(title, width))}
	n := s.logLines()
	current := -1
	if len(l.matches) > 0 {
		current = l.matches[l.match]
	}
	mi := 0
	for i := l.top; i < n && len(lines) < height; i++ {
		gutter := "  "
		for mi < len(l.matches) && l.matches[mi] < i {
			mi++
		}
		matched := mi < len(l.matches) && l.matches[mi] == i
		text := fit(l.lines[i], width-2)
		switch {
		case i == current:
			gutter = "▸ "
		case matched:
			gutter = "› "
		}
		if matched {
			text = highlight(text, l.search, s.st.match)
		}
		lines = append(lines, gutter+text)
	}
	if n == 0 {
		msg := "no output"
		if l.streaming {
			msg = "waiting for output…"
		}
		lines = append(lines, "  "+s.st.dim.Render(msg))
	}
	return pad(lines, height)
}

// highlight styles each case-insensitive occurrence of q in plain text; with an empty style
// (monochrome) it changes nothing.
func highlight(text, q string, st lipgloss.Style) string {
	if q == "" || st.Render("x") == "x" {
		return text
	}
	lower, lq := strings.ToLower(text), strings.ToLower(q)
	if len(lower) != len(text) {
		return text // case folding changed byte offsets; do not cut runes in half
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lq)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		b.WriteString(st.Render(text[i : i+len(q)]))
		text, lower = text[i+len(q):], lower[i+len(q):]
	}
}

// renderStatus is the line under the body: what is being typed, a question, the last action's
// result, or the read-only notice.
func renderStatus(s *state, w int) string {
	switch s.input {
	case inputFilter:
		return fit("filter: "+s.editing+"█", w)
	case inputSearch:
		return fit("search: "+s.editing+"█", w)
	case inputConfirm:
		return fit(s.st.warn.Render("delete job "+s.confirm+"? its run history is kept. y/n"), w)
	}
	if s.flash != "" {
		if s.isErr {
			return fit(s.st.errLine.Render(s.flash), w)
		}
		return fit(s.flash, w)
	}
	var parts []string
	if s.readOnly {
		parts = append(parts, "read-only: actions are disabled")
	}
	if s.view == viewJobs {
		// The selected job's schedule in words: the narrow table has room only for the expression.
		if j, ok := s.jobs[s.selectedName()]; ok {
			about := j.Name + ": " + describe(j.Schedule)
			if j.Timezone != "" {
				about += " (" + j.Timezone + ")"
			}
			if j.NextRun != nil {
				about += ", next " + clock(*j.NextRun, s.now, s.loc)
			}
			parts = append(parts, about)
		}
		parts = append(parts, "sort: "+s.sort.String())
		if s.filter != "" {
			parts = append(parts, "filter: "+s.filter)
		}
	}
	return fit(s.st.dim.Render(strings.Join(parts, " · ")), w)
}

// renderHelp is the ? screen: every key, then what the symbols mean.
func renderHelp(s *state, w, height int) string {
	lines := strings.Split(s.help.FullHelpView(s.keys.fullHelp()), "\n")
	lines = append([]string{s.st.header.Render("Keys")}, lines...)
	lines = append(lines, "",
		s.st.header.Render("Symbols"),
		"✓ succeeded  ✗ failed, timed out or lost  ● running  … queued",
		"⊘ cancelled  ↷ skipped (overlap)  ∅ missed (daemon down)",
		"HISTORY: the last runs, oldest first; a good run's bar is as tall as its duration",
		"≠ / drifted: changed with --force away from its job file",
		"",
		"/ filters by job name or label. Mouse wheel scrolls. esc closes.")
	for i := range lines {
		lines[i] = fit(lines[i], w)
	}
	return pad(lines, height)
}
