package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// Options configure the dashboard.
type Options struct {
	ReadOnly bool             // --readonly: actions disabled, with a status line saying so
	NoColor  bool             // NO_COLOR set or not a colour terminal: monochrome
	Socket   string           // shown in the header
	Now      func() time.Time // nil = time.Now; tests pass a fixed clock
}

// Run runs the dashboard on the terminal (alternate screen, mouse wheel) until the user quits
// or ctx ends.
func Run(ctx context.Context, src Source, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(ctx, src, opts, time.Local)
	p := tea.NewProgram(m, tea.WithContext(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { newFeed(src, p.Send).run(ctx) })
	_, err := p.Run()
	cancel() // stops the feed and any log stream
	wg.Wait()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // the caller ended ctx: that is a quit, not a failure
	}
	return err
}

// model is the bubbletea glue: it maps keys and the daemon's answers onto state, and turns
// state changes into the reads and actions they need.
type model struct {
	// ctx is the program's lifetime. bubbletea runs commands outside any call chain that could
	// pass one, so the model keeps it to give every read and action a context that ends with Run.
	ctx context.Context
	src Source
	now func() time.Time
	s   state
	// stopLog ends the log view's output stream.
	stopLog context.CancelFunc
}

func newModel(ctx context.Context, src Source, opts Options, loc *time.Location) *model {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &model{ctx: ctx, src: src, now: now, s: newState(opts, now(), loc), stopLog: func() {}}
}

// Messages from commands.
type (
	tickMsg time.Time
	jobMsg  struct {
		name string
		job  api.Job
		err  error
	}
	runMsg struct {
		run api.Run
		err error
	}
	historyMsg struct {
		job  string
		runs []api.Run
		err  error
	}
	runsMsg struct {
		job  string
		runs []api.Run
		err  error
	}
	// logMsg is a piece of a run's output; the next read continues from rc.
	logMsg struct {
		runID int64
		rc    io.ReadCloser
		data  string
		err   error // io.EOF at the end
	}
	// actionMsg is the result of r, p, c or d.
	actionMsg struct {
		text    string
		err     error
		job     *api.Job
		run     *api.Run
		deleted string
	}
)

func (m *model) Init() tea.Cmd { return tick() }

// tick re-renders the countdowns once a second; it reads nothing from the daemon.
func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *model) View() tea.View {
	v := tea.NewView(renderView(&m.s))
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "arbiter top"
	return v
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	s := &m.s
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		s.resize(msg.Width, msg.Height)
	case tickMsg:
		s.now = m.now()
		cmd = tick()
	case snapshotMsg:
		s.now = m.now()
		s.snapshot(msg.status, msg.jobs, msg.active, msg.failed)
		if s.view == viewRuns {
			cmd = m.loadRuns(s.runsJob)
		}
	case lostMsg:
		s.conn = connReconnecting
		if msg.err != nil {
			s.connErr = msg.err.Error()
		}
	case eventMsg:
		cmd = m.onEvent(api.Event(msg))
	case jobMsg:
		switch {
		case errors.Is(msg.err, arbiter.ErrNotFound):
			s.deleteJob(msg.name)
		case msg.err == nil:
			s.putJob(msg.job)
		}
	case runMsg:
		if msg.err == nil {
			s.putRun(msg.run)
		}
	case historyMsg:
		if msg.err == nil {
			s.history[msg.job] = msg.runs
		} else {
			delete(s.asked, msg.job) // ask again when the row is next on screen
		}
	case runsMsg:
		if msg.err != nil {
			s.setFlash(fmt.Sprintf("runs of %s: %v", msg.job, msg.err), true)
		} else {
			s.setRuns(msg.job, msg.runs)
		}
	case logMsg:
		cmd = m.onLog(msg)
	case actionMsg:
		m.onAction(msg)
	case tea.KeyPressMsg:
		cmd = m.onKey(msg)
	case tea.MouseWheelMsg:
		m.onWheel(msg)
	}
	return m, tea.Batch(cmd, m.loadHistories())
}

// onEvent re-reads what an event changed: never the whole list.
func (m *model) onEvent(e api.Event) tea.Cmd {
	switch {
	case e.Kind == "job.deleted":
		m.s.deleteJob(e.Job)
		return nil
	case strings.HasPrefix(e.Kind, "job."):
		return m.getJob(e.Job)
	case strings.HasPrefix(e.Kind, "run."):
		cmds := []tea.Cmd{m.getRun(e.RunID)}
		// A fire moves the job's next fire time.
		switch e.Kind {
		case "run.queued", "run.skipped", "run.missed":
			cmds = append(cmds, m.getJob(e.Job))
		}
		return tea.Batch(cmds...)
	}
	return nil
}

func (m *model) getJob(name string) tea.Cmd {
	return func() tea.Msg {
		j, err := m.src.GetJob(m.ctx, name)
		return jobMsg{name, j, err}
	}
}

func (m *model) getRun(id int64) tea.Cmd {
	return func() tea.Msg {
		r, err := m.src.GetRun(m.ctx, id)
		return runMsg{r, err}
	}
}

// loadHistories asks for the last runs of the jobs on screen that have none yet: history is
// fetched lazily, so 10,000 jobs cost a screenful of reads.
func (m *model) loadHistories() tea.Cmd {
	s := &m.s
	if s.view != viewJobs || s.conn != connConnected {
		return nil
	}
	var cmds []tea.Cmd
	for _, name := range s.visibleJobs() {
		if s.asked[name] {
			continue
		}
		s.asked[name] = true
		cmds = append(cmds, func() tea.Msg {
			runs, err := m.src.ListRuns(m.ctx, api.RunsQuery{Job: name, Limit: historyLen})
			return historyMsg{name, runs, err}
		})
	}
	return tea.Batch(cmds...)
}

// runsPage is how many runs the runs view reads.
const runsPage = 200

func (m *model) loadRuns(job string) tea.Cmd {
	return func() tea.Msg {
		runs, err := m.src.ListRuns(m.ctx, api.RunsQuery{Job: job, Limit: runsPage})
		return runsMsg{job, runs, err}
	}
}

// openLog shows a run's output, following it while the run is active.
func (m *model) openLog(r api.Run) tea.Cmd {
	m.stopLog()
	ctx, cancel := context.WithCancel(m.ctx)
	m.stopLog = cancel
	follow := r.State == "queued" || r.State == "running"
	m.s.openLog(r, follow)
	id := r.ID
	return tea.Batch(m.getRun(id), func() tea.Msg {
		rc, err := m.src.Output(ctx, id, 0, follow)
		if err != nil {
			return logMsg{runID: id, err: err}
		}
		return readLog(id, rc)
	})
}

func readLog(id int64, rc io.ReadCloser) tea.Msg {
	buf := make([]byte, 32<<10)
	n, err := rc.Read(buf)
	return logMsg{runID: id, rc: rc, data: string(buf[:n]), err: err}
}

func (m *model) onLog(msg logMsg) tea.Cmd {
	s := &m.s
	current := s.view == viewLog && s.log.run.ID == msg.runID
	if current && msg.data != "" {
		s.appendLog(msg.data)
	}
	if msg.err != nil || !current {
		if msg.rc != nil {
			msg.rc.Close()
		}
		if current {
			s.log.streaming = false
			if !errors.Is(msg.err, io.EOF) && !errors.Is(msg.err, context.Canceled) {
				s.setFlash(fmt.Sprintf("output of run %d: %v", msg.runID, msg.err), true)
			}
		}
		return nil
	}
	return func() tea.Msg { return readLog(msg.runID, msg.rc) }
}

// closeLog leaves the log view.
func (m *model) closeLog() {
	m.stopLog()
	m.s.view = m.s.logFrom
	m.s.log = logView{}
}

func (m *model) onAction(msg actionMsg) {
	s := &m.s
	if msg.err != nil {
		s.setFlash(msg.text+": "+msg.err.Error(), true)
		return
	}
	s.setFlash(msg.text, false)
	if msg.job != nil {
		s.putJob(*msg.job)
	}
	if msg.run != nil {
		s.putRun(*msg.run)
	}
	if msg.deleted != "" {
		s.deleteJob(msg.deleted)
	}
}

func (m *model) onWheel(msg tea.MouseWheelMsg) {
	const notch = 3
	delta := notch
	switch msg.Button {
	case tea.MouseWheelUp:
		delta = -notch
	case tea.MouseWheelDown:
	default:
		return
	}
	m.move(delta)
}

// move moves the current view's selection (or the log's top line) by delta rows.
func (m *model) move(delta int) {
	switch m.s.view {
	case viewRuns:
		m.s.moveRuns(delta)
	case viewLog:
		m.s.scrollLog(delta)
	default:
		m.s.moveJobs(delta)
	}
}

func (m *model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	s := &m.s
	k := &s.keys
	switch s.input {
	case inputFilter, inputSearch:
		return m.onEdit(msg)
	case inputConfirm:
		name := s.confirm
		s.input, s.confirm = inputNone, ""
		if msg.String() == "y" {
			s.setFlash("deleting "+name+"…", false)
			return m.act("deleted "+name, func(ctx context.Context) (actionMsg, error) {
				return actionMsg{deleted: name}, m.src.DeleteJob(ctx, name, false)
			})
		}
		s.setFlash("kept "+name, false)
		return nil
	}
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	if s.showHelp {
		// The help screen closes on any key but quit.
		if key.Matches(msg, k.quit) {
			return tea.Quit
		}
		s.showHelp = false
		return nil
	}
	s.flash = ""
	rows := s.bodyRows() - 1
	switch {
	case key.Matches(msg, k.quit):
		return tea.Quit
	case key.Matches(msg, k.help):
		s.showHelp = true
	case key.Matches(msg, k.up):
		m.move(-1)
	case key.Matches(msg, k.down):
		m.move(1)
	case key.Matches(msg, k.pageUp):
		m.move(-rows)
	case key.Matches(msg, k.pageDown):
		m.move(rows)
	case key.Matches(msg, k.top):
		m.move(-1 << 30)
	case key.Matches(msg, k.bottom):
		m.move(1 << 30)
	case key.Matches(msg, k.back):
		return m.back()
	case key.Matches(msg, k.open):
		return m.open()
	case key.Matches(msg, k.log):
		return m.openLast()
	case key.Matches(msg, k.filter) && s.view == viewJobs:
		s.input, s.editing = inputFilter, s.filter
	case key.Matches(msg, k.search) && s.view == viewLog:
		s.input, s.editing = inputSearch, ""
	case key.Matches(msg, k.next) && s.view == viewLog:
		s.nextMatch(1)
	case key.Matches(msg, k.prev) && s.view == viewLog:
		s.nextMatch(-1)
	case key.Matches(msg, k.sort) && s.view == viewJobs:
		s.sort = (s.sort + 1) % sortKeys
		s.reorder()
		s.setFlash("sorted by "+s.sort.String(), false)
	case key.Matches(msg, k.run):
		return m.runNow()
	case key.Matches(msg, k.pause):
		return m.pauseResume()
	case key.Matches(msg, k.cancel):
		return m.cancelRun()
	case key.Matches(msg, k.delete):
		if name := m.job(); name != "" {
			s.input, s.confirm = inputConfirm, name
		}
	case s.readOnly && (msg.String() == "r" || msg.String() == "p" || msg.String() == "c" || msg.String() == "d"):
		s.setFlash("read-only: actions are disabled (started with --readonly)", true)
	}
	return nil
}

// onEdit handles keys while a filter or search is typed. The filter applies as it is typed;
// the search when enter is pressed.
func (m *model) onEdit(msg tea.KeyPressMsg) tea.Cmd {
	s := &m.s
	switch msg.String() {
	case "ctrl+c":
		return tea.Quit
	case "esc":
		if s.input == inputFilter {
			s.filter = ""
			s.reorder()
		}
		s.input, s.editing = inputNone, ""
		return nil
	case "enter":
		if s.input == inputSearch {
			s.setSearch(s.editing)
		}
		s.input, s.editing = inputNone, ""
		return nil
	case "backspace":
		if r := []rune(s.editing); len(r) > 0 {
			s.editing = string(r[:len(r)-1])
		}
	case "ctrl+u":
		s.editing = ""
	default:
		if msg.Text == "" {
			return nil
		}
		s.editing += msg.Text
	}
	if s.input == inputFilter {
		s.filter = s.editing
		s.reorder()
	}
	return nil
}

// back is esc: out of the log, out of the runs, or clearing the filter.
func (m *model) back() tea.Cmd {
	s := &m.s
	switch s.view {
	case viewLog:
		m.closeLog()
		if s.view == viewRuns {
			return m.loadRuns(s.runsJob)
		}
	case viewRuns:
		s.view = viewJobs
		s.runs = nil
	default:
		if s.filter != "" {
			s.filter = ""
			s.reorder()
		}
	}
	return nil
}

// open is enter: a job's runs, or a run's output.
func (m *model) open() tea.Cmd {
	s := &m.s
	switch s.view {
	case viewJobs:
		if name := s.selectedName(); name != "" {
			s.openRuns(name)
			return m.loadRuns(name)
		}
	case viewRuns:
		if r, ok := s.selectedRun(); ok {
			return m.openLog(r)
		}
	}
	return nil
}

// openLast is l: the selected run's output, or the selected job's last run's.
func (m *model) openLast() tea.Cmd {
	s := &m.s
	switch s.view {
	case viewJobs:
		j, ok := s.jobs[s.selectedName()]
		if !ok || j.LastRun == nil {
			s.setFlash("no run to show yet", true)
			return nil
		}
		lr := j.LastRun
		return m.openLog(api.Run{ID: lr.ID, Job: j.Name, State: lr.State, ScheduledAt: lr.ScheduledAt,
			StartedAt: lr.StartedAt, FinishedAt: lr.FinishedAt, ExitCode: lr.ExitCode})
	case viewRuns:
		return m.open()
	}
	return nil
}

// job is the job an action applies to: the selected one, or the one whose runs are shown.
func (m *model) job() string {
	switch m.s.view {
	case viewRuns:
		return m.s.runsJob
	case viewLog:
		return m.s.log.run.Job
	}
	return m.s.selectedName()
}

// act runs an action against the daemon and reports its result in the status line.
func (m *model) act(done string, do func(ctx context.Context) (actionMsg, error)) tea.Cmd {
	return func() tea.Msg {
		msg, err := do(m.ctx)
		if msg.text == "" {
			msg.text = done
		}
		if err != nil {
			msg.text = "failed: " + done
		}
		msg.err = err
		return msg
	}
}

func (m *model) runNow() tea.Cmd {
	name := m.job()
	if name == "" {
		return nil
	}
	return m.act("run "+name, func(ctx context.Context) (actionMsg, error) {
		r, err := m.src.TriggerJob(ctx, name)
		return actionMsg{text: fmt.Sprintf("run %d of %s triggered", r.ID, name), run: &r}, err
	})
}

func (m *model) pauseResume() tea.Cmd {
	name := m.job()
	j, ok := m.s.jobs[name]
	if !ok {
		return nil
	}
	if j.Paused {
		return m.act("resumed "+name, func(ctx context.Context) (actionMsg, error) {
			j, err := m.src.ResumeJob(ctx, name, false)
			return actionMsg{job: &j}, err
		})
	}
	return m.act("paused "+name, func(ctx context.Context) (actionMsg, error) {
		j, err := m.src.PauseJob(ctx, name, false)
		return actionMsg{job: &j}, err
	})
}

// cancelRun is c: the selected run in the runs view, the shown one in the log, the job's
// running one in the jobs view.
func (m *model) cancelRun() tea.Cmd {
	s := &m.s
	var r api.Run
	var ok bool
	switch s.view {
	case viewRuns:
		r, ok = s.selectedRun()
	case viewLog:
		r, ok = s.log.run, true
	default:
		r, ok = s.runningRun(s.selectedName())
		if !ok {
			s.setFlash(s.selectedName()+" has no active run", true)
			return nil
		}
	}
	if !ok {
		return nil
	}
	if r.State != "queued" && r.State != "running" {
		s.setFlash(fmt.Sprintf("run %d is %s, not active", r.ID, r.State), true)
		return nil
	}
	return m.act(fmt.Sprintf("cancelling run %d of %s", r.ID, r.Job), func(ctx context.Context) (actionMsg, error) {
		got, err := m.src.CancelRun(ctx, r.ID)
		return actionMsg{run: &got}, err
	})
}
