package tui

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/bubbles/v2/help"
	"github.com/charmbracelet/x/ansi"

	"github.com/arbiterd/arbiter/api"
)

// historyLen is how many of a job's runs its history bar shows.
const historyLen = 20

type view int

const (
	viewJobs view = iota
	viewRuns
	viewLog
)

type sortKey int

const (
	sortNext sortKey = iota
	sortName
	sortState
	sortDuration
	sortKeys // the count, for cycling
)

func (k sortKey) String() string {
	return [...]string{"next fire", "name", "last state", "duration"}[k]
}

// input is what typed keys go to: the views' commands, or a line being edited.
type input int

const (
	inputNone input = iota
	inputFilter
	inputSearch
	inputConfirm // y/n for a delete
)

type conn int

const (
	connConnecting conn = iota
	connConnected
	connReconnecting
)

// state is everything the screen shows. Render functions read it and nothing else; the
// methods below change it and know nothing of bubbletea, so both are tested without a terminal.
type state struct {
	now           time.Time
	loc           *time.Location
	st            styles
	keys          keyMap
	help          help.Model
	width, height int
	readOnly      bool
	socket        string

	conn    conn
	connErr string
	status  api.Status

	jobs   map[string]api.Job
	paused int      // how many jobs are paused
	order  []string // the names shown, filtered and sorted: rebuilt by reorder, never by render
	sort   sortKey
	filter string
	cursor int // index into order
	top    int // first row of order on screen

	history  map[string][]api.Run // a job's last runs, newest first; present once fetched
	asked    map[string]bool      // history fetches sent, so a row on screen asks only once
	active   map[int64]api.Run    // queued and running runs
	failures map[int64]time.Time  // failed, timed-out and lost runs, by when they ended

	view     view
	logFrom  view // where esc in the log goes back to
	showHelp bool

	runsJob    string
	runs       []api.Run // newest first
	runsLoaded bool
	runsCursor int
	runsTop    int

	log logView

	input   input
	editing string // the filter or search being typed
	confirm string // the job a delete waits on
	flash   string // the status line: the result of the last action
	isErr   bool
}

// logView is the output of one run.
type logView struct {
	run       api.Run
	lines     []string // the last one is the line still being written
	top       int
	follow    bool // keep the newest line on screen as output arrives
	streaming bool
	search    string
	matches   []int // lines holding search
	match     int   // index into matches of the current one
}

func newState(opts Options, now time.Time, loc *time.Location) state {
	return state{
		now:      now,
		loc:      loc,
		st:       newStyles(opts.NoColor),
		keys:     newKeyMap(opts.ReadOnly),
		help:     newHelp(opts.NoColor),
		width:    80,
		height:   24,
		readOnly: opts.ReadOnly,
		socket:   opts.Socket,
		jobs:     map[string]api.Job{},
		history:  map[string][]api.Run{},
		asked:    map[string]bool{},
		active:   map[int64]api.Run{},
		failures: map[int64]time.Time{},
	}
}

// bodyRows is how many table rows fit: the screen less two header lines, the column header,
// the status line and the help bar.
func (s *state) bodyRows() int { return max(s.height-5, 1) }

// snapshot replaces what is known with a fresh read of the daemon, after (re)connecting.
func (s *state) snapshot(st api.Status, jobs []api.Job, active, failed []api.Run) {
	s.status = st
	s.conn, s.connErr = connConnected, ""
	s.jobs = make(map[string]api.Job, len(jobs))
	for _, j := range jobs {
		s.jobs[j.Name] = j
	}
	// Histories may have moved on while we were away: ask again for the rows on screen.
	s.history, s.asked = map[string][]api.Run{}, map[string]bool{}
	s.active = make(map[int64]api.Run, len(active))
	for _, r := range active {
		s.active[r.ID] = r
	}
	s.failures = map[int64]time.Time{}
	for _, r := range failed {
		s.noteFailure(r)
	}
	s.reorder()
}

func (s *state) noteFailure(r api.Run) {
	switch r.State {
	case "failed", "timed_out", "lost":
		if r.FinishedAt != nil {
			s.failures[r.ID] = *r.FinishedAt
		}
	}
}

// failures24h counts the failures that ended in the last 24 hours.
func (s *state) failures24h() int {
	n := 0
	for _, at := range s.failures {
		if s.now.Sub(at) < 24*time.Hour {
			n++
		}
	}
	return n
}

// counts returns how many runs are running and queued.
func (s *state) counts() (running, queued int) {
	for _, r := range s.active {
		if r.State == "running" {
			running++
		} else {
			queued++
		}
	}
	return running, queued
}

// putJob records a job's fresh state.
func (s *state) putJob(j api.Job) {
	if old, ok := s.jobs[j.Name]; ok && old.Paused {
		s.paused--
	}
	if j.Paused {
		s.paused++
	}
	s.jobs[j.Name] = j
	s.place(j.Name)
}

func (s *state) deleteJob(name string) {
	if j, ok := s.jobs[name]; ok && j.Paused {
		s.paused--
	}
	delete(s.jobs, name)
	delete(s.history, name)
	delete(s.asked, name)
	s.place(name)
}

// putRun folds a run's fresh state into every place that shows it.
func (s *state) putRun(r api.Run) {
	if r.State == "queued" || r.State == "running" {
		s.active[r.ID] = r
	} else {
		delete(s.active, r.ID)
	}
	s.noteFailure(r)
	if j, ok := s.jobs[r.Job]; ok && (j.LastRun == nil || r.ID >= j.LastRun.ID) {
		j.LastRun = &api.RunRef{ID: r.ID, State: r.State, ScheduledAt: r.ScheduledAt,
			StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ExitCode: r.ExitCode}
		s.jobs[r.Job] = j
		if s.sort == sortState || s.sort == sortDuration {
			s.place(r.Job)
		}
	}
	if h, ok := s.history[r.Job]; ok {
		s.history[r.Job] = upsertRun(h, r, historyLen)
	}
	if s.runsJob == r.Job && s.runsLoaded {
		s.runs = upsertRun(s.runs, r, 0)
	}
	if s.log.run.ID == r.ID {
		s.log.run = r
	}
}

// upsertRun replaces r in runs (newest first) or inserts it in its place, keeping at most
// limit runs when limit > 0.
func upsertRun(runs []api.Run, r api.Run, limit int) []api.Run {
	i, found := slices.BinarySearchFunc(runs, r.ID, func(x api.Run, id int64) int { return cmp.Compare(id, x.ID) })
	if found {
		runs[i] = r
		return runs
	}
	runs = slices.Insert(slices.Clip(runs), i, r)
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	return runs
}

// runningRun is the job's newest running (or else queued) run, for cancelling from the jobs view.
func (s *state) runningRun(job string) (api.Run, bool) {
	var best api.Run
	for _, r := range s.active {
		if r.Job == job && (best.ID == 0 || r.State == "running" && best.State != "running" ||
			r.State == best.State && r.ID > best.ID) {
			best = r
		}
	}
	return best, best.ID != 0
}

// reorder rebuilds the shown list after the jobs, the filter or the sort changed, keeping the
// selected job selected.
func (s *state) reorder() {
	selected := s.selectedName()
	s.order, s.paused = s.order[:0], 0
	for name, j := range s.jobs {
		if j.Paused {
			s.paused++
		}
		if s.shown(name) {
			s.order = append(s.order, name)
		}
	}
	slices.SortFunc(s.order, s.compare)
	s.cursor = 0
	if i := slices.Index(s.order, selected); i >= 0 {
		s.cursor = i
	}
	s.scrollJobs()
}

// place moves one job to its place in order, or out of it when it is gone or filtered out,
// leaving the others where they are: each fire re-reads its job, and with 10,000 jobs sorting
// them all again took 20 ms an event.
func (s *state) place(name string) {
	selected := s.selectedName()
	if i := slices.Index(s.order, name); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
	if _, ok := s.jobs[name]; ok && s.shown(name) {
		i, _ := slices.BinarySearchFunc(s.order, name, s.compare)
		s.order = slices.Insert(s.order, i, name)
	}
	s.cursor = max(0, min(s.cursor, len(s.order)-1))
	if i := slices.Index(s.order, selected); i >= 0 {
		s.cursor = i
	}
	s.scrollJobs()
}

// shown reports whether the filter lets a job through: its name or one of its labels holds it.
func (s *state) shown(name string) bool {
	if s.filter == "" {
		return true
	}
	f := strings.ToLower(s.filter)
	return strings.Contains(name, f) ||
		slices.ContainsFunc(s.jobs[name].Labels, func(l string) bool { return strings.Contains(l, f) })
}

func (s *state) compare(a, b string) int {
	ja, jb := s.jobs[a], s.jobs[b]
	var c int
	switch s.sort {
	case sortNext:
		// Jobs that never fire again (paused, done) go last.
		switch {
		case ja.NextRun == nil && jb.NextRun == nil:
		case ja.NextRun == nil:
			c = 1
		case jb.NextRun == nil:
			c = -1
		default:
			c = ja.NextRun.Compare(*jb.NextRun)
		}
	case sortState:
		c = cmp.Compare(severity(ja.LastRun), severity(jb.LastRun))
	case sortDuration:
		c = cmp.Compare(lastDuration(jb.LastRun, s.now), lastDuration(ja.LastRun, s.now))
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// severity ranks last states for sorting, most in need of a look first.
func severity(r *api.RunRef) int {
	if r == nil {
		return 9
	}
	switch r.State {
	case "failed", "timed_out", "lost":
		return 0
	case "running":
		return 1
	case "queued":
		return 2
	case "cancelled", "missed", "skipped":
		return 3
	}
	return 4
}

func lastDuration(r *api.RunRef, now time.Time) time.Duration {
	if r == nil || r.StartedAt == nil {
		return -1
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt)
}

func runDuration(r api.Run, now time.Time) time.Duration {
	return lastDuration(&api.RunRef{StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}, now)
}

func (s *state) selectedName() string {
	if s.cursor < 0 || s.cursor >= len(s.order) {
		return ""
	}
	return s.order[s.cursor]
}

func (s *state) selectedRun() (api.Run, bool) {
	if s.runsCursor < 0 || s.runsCursor >= len(s.runs) {
		return api.Run{}, false
	}
	return s.runs[s.runsCursor], true
}

// moveJobs moves the selection by delta rows, clamped to the list.
func (s *state) moveJobs(delta int) {
	s.cursor = clamp(s.cursor+delta, 0, len(s.order)-1)
	s.scrollJobs()
}

func (s *state) scrollJobs() { s.top = follow(s.cursor, s.top, s.bodyRows(), len(s.order)) }

func (s *state) moveRuns(delta int) {
	s.runsCursor = clamp(s.runsCursor+delta, 0, len(s.runs)-1)
	s.runsTop = follow(s.runsCursor, s.runsTop, s.bodyRows(), len(s.runs))
}

// follow returns the first row to show so that cursor is on screen, moving as little as it can.
func follow(cursor, top, rows, n int) int {
	if cursor < top {
		top = cursor
	}
	if cursor >= top+rows {
		top = cursor - rows + 1
	}
	return clamp(top, 0, max(n-rows, 0))
}

func clamp(v, lo, hi int) int {
	if hi < lo {
		return lo
	}
	return min(max(v, lo), hi)
}

// visibleJobs is the names on screen, the only rows rendered or given a history.
func (s *state) visibleJobs() []string {
	end := min(s.top+s.bodyRows(), len(s.order))
	if s.top >= end {
		return nil
	}
	return s.order[s.top:end]
}

// openRuns switches to the runs of a job; they arrive with setRuns.
func (s *state) openRuns(job string) {
	s.view = viewRuns
	s.runsJob, s.runs, s.runsLoaded, s.runsCursor, s.runsTop = job, nil, false, 0, 0
}

func (s *state) setRuns(job string, runs []api.Run) {
	if job != s.runsJob {
		return
	}
	s.runs, s.runsLoaded = runs, true
	s.moveRuns(0)
}

// openLog switches to a run's output; streaming says whether it follows the live run.
func (s *state) openLog(r api.Run, streaming bool) {
	if s.view != viewLog {
		s.logFrom = s.view
	}
	s.view = viewLog
	s.log = logView{run: r, lines: []string{""}, follow: true, streaming: streaming}
}

// logRows is how many output lines fit under the log's title line.
func (s *state) logRows() int { return max(s.bodyRows(), 1) }

// The log view keeps the newest maxLogLines lines (up to a quarter more between trims) of at
// most maxLogLine bytes each: following a run that floods its output (the daemon keeps its
// tail, again and again) must not grow the dashboard without bound, nor make every append copy
// one ever longer line.
const (
	maxLogLines = 10_000
	maxLogLine  = 4 << 10
)

// appendLog adds output, made safe for the screen: a job's escape codes must not move our
// cursor or recolour the dashboard, and tabs are expanded so widths stay true.
func (s *state) appendLog(data string) {
	data = strings.ReplaceAll(ansi.Strip(data), "\r\n", "\n")
	parts := strings.Split(data, "\n")
	l := &s.log
	for i, p := range parts {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "\t", "    "), "\r", "")
		if i > 0 {
			l.lines = append(l.lines, "")
		}
		last := &l.lines[len(l.lines)-1]
		if room := maxLogLine - len(*last); room > 0 {
			*last += cutUTF8(p, room)
		}
	}
	// Trimmed a quarter at a time, so that a flood does not copy every line at every chunk.
	if len(l.lines) > maxLogLines+maxLogLines/4 {
		over := len(l.lines) - maxLogLines
		l.lines = append(l.lines[:0:0], l.lines[over:]...) // a copy, so the dropped lines are freed
		l.top = max(l.top-over, 0)
	}
	if l.search != "" {
		l.matches = findLines(l.lines, l.search)
	}
	if l.follow {
		l.top = max(s.logLines()-s.logRows(), 0)
	}
}

// cutUTF8 is the longest prefix of s of at most n bytes that does not split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// logLines is the number of output lines, not counting an empty one after the last newline.
func (s *state) logLines() int {
	n := len(s.log.lines)
	if n > 0 && s.log.lines[n-1] == "" {
		n--
	}
	return n
}

func (s *state) scrollLog(delta int) {
	maxTop := max(s.logLines()-s.logRows(), 0)
	s.log.top = clamp(s.log.top+delta, 0, maxTop)
	s.log.follow = s.log.top == maxTop
}

// setSearch finds q in the output and shows its first match at or after the top line.
func (s *state) setSearch(q string) {
	l := &s.log
	l.search, l.matches, l.match = q, nil, 0
	if q == "" {
		return
	}
	l.matches = findLines(l.lines, q)
	if len(l.matches) == 0 {
		s.setFlash("no match for "+q, true)
		return
	}
	l.match, _ = slices.BinarySearch(l.matches, l.top)
	if l.match == len(l.matches) {
		l.match = 0
	}
	s.showMatch()
}

// nextMatch moves to the next (dir 1) or previous (dir -1) match, wrapping around.
func (s *state) nextMatch(dir int) {
	n := len(s.log.matches)
	if n == 0 {
		return
	}
	s.log.match = (s.log.match + dir + n) % n
	s.showMatch()
}

func (s *state) showMatch() {
	line := s.log.matches[s.log.match]
	rows := s.logRows()
	if line < s.log.top || line >= s.log.top+rows {
		s.log.top = clamp(line-rows/2, 0, max(s.logLines()-rows, 0))
	}
	s.log.follow = false
}

func findLines(lines []string, q string) []int {
	q = strings.ToLower(q)
	var out []int
	for i, l := range lines {
		if strings.Contains(strings.ToLower(l), q) {
			out = append(out, i)
		}
	}
	return out
}

func (s *state) setFlash(msg string, isErr bool) { s.flash, s.isErr = msg, isErr }

// resize adapts to a new terminal size, keeping the selections on screen.
func (s *state) resize(w, h int) {
	s.width, s.height = w, h
	s.help.SetWidth(w)
	s.scrollJobs()
	s.moveRuns(0)
	s.scrollLog(0)
}
