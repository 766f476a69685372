// Package crontab converts crontabs into job files: a user crontab (crontab -e) or a system
// crontab (/etc/crontab, /etc/cron.d/*), whose entries name a user after the five time fields.
//
// Read follows crontab(5) as Debian's cron reads it; Encode writes TOML that jobfile.Parse reads
// back without errors. What arbiter cannot express is never dropped silently: it is kept as a
// comment that says why.
//
//   - NAME=value lines (quoted with ' or " to keep blanks) apply to the entries below them.
//     PATH and other variables go into each job's env; CRON_TZ and TZ become its timezone (TZ
//     also stays in env, as cron passes it to the command); MAILTO and MAILFROM become a
//     comment, since arbiter keeps each run's output instead of mailing it; a SHELL other than
//     /bin/sh becomes a comment on each job, since arbiter runs shell strings with /bin/sh -c.
//   - The five time fields and the macros @yearly, @annually, @monthly, @weekly, @daily,
//     @midnight and @hourly are checked with arbiter.ParseSchedule; @reboot has no
//     equivalent.
//   - The command is a shell string. An unescaped % ends it and the rest is its standard
//     input, further % being newlines; \% is a literal %. arbiter gives jobs no standard
//     input, so the text is piped in with printf, quoted for the shell, byte for byte what
//     cron would have sent.
//   - In a system crontab, a user other than root and the importing user becomes the comment
//     "runs as USER in the original": arbiter has no per-job user yet.
//   - Jobs are named after their program as `arbiter add` names them, made unique with -2,
//     -3, ...; comments stay where they were, so a comment above an entry stays above its table.
package crontab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/jobfile"
)

// Options say how to read a crontab.
type Options struct {
	// Name is the crontab's file name, written in the header; "" leaves it out.
	Name string
	// System reads the user field of system crontabs after the time fields.
	System bool
	// User is the importing user: system entries of other users than this one and root get a
	// comment saying whom they ran as.
	User string
}

// File is a crontab converted to jobs.
type File struct {
	Name    string
	System  bool
	Jobs    []api.JobSpec // in the crontab's order
	Skipped []Skipped     // entries and settings kept as comments
	blocks  []block       // what Encode writes, in the crontab's order
}

// Skipped is a line of the crontab that did not become (part of) a job.
type Skipped struct {
	Line   int // 1-based
	Text   string
	Reason string
}

// block is a run of comment lines ("" for a blank line) and, when job >= 0, the job table
// that follows them.
type block struct {
	lines []string
	job   int
}

// SystemPath reports whether path is where system crontabs live: /etc/crontab or a file under
// /etc/cron.d.
func SystemPath(p string) bool {
	if p == "" || p == "-" {
		return false
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	p = filepath.ToSlash(filepath.Clean(p))
	return p == "/etc/crontab" || strings.HasPrefix(p, "/etc/cron.d/")
}

// macros are the crontab(5) shorthands arbiter's schedules also accept.
var macros = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// reader holds the state that env lines change for the entries below them.
type reader struct {
	opt     Options
	f       *File
	env     map[string]string
	shell   string // SHELL, when not /bin/sh
	zone    string
	zoneErr error // the zone that CRON_TZ or TZ named is unknown
	used    map[string]bool
	pending []string // comment lines waiting for the next job or the end
}

// Read converts the crontab r. It fails only when r cannot be read: every line arbiter
// cannot express is kept in the result as a comment with the reason.
func Read(r io.Reader, opt Options) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read crontab: %w", err)
	}
	rd := &reader{
		opt:  opt,
		f:    &File{Name: opt.Name, System: opt.System},
		env:  map[string]string{},
		used: map[string]bool{},
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		rd.line(n, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read crontab: %w", err)
	}
	rd.flush(-1)
	return rd.f, nil
}

func (rd *reader) line(n int, raw string) {
	text := strings.TrimLeft(raw, " \t")
	switch {
	case text == "":
		if len(rd.pending) > 0 && rd.pending[len(rd.pending)-1] != "" {
			rd.pending = append(rd.pending, "")
		}
	case text[0] == '#':
		rd.pending = append(rd.pending, comment(text))
	default:
		if name, value, ok := envLine(text); ok {
			rd.setenv(n, text, name, value)
			return
		}
		rd.entry(n, text)
	}
}

// skip keeps the line as a comment, with the reason above it.
func (rd *reader) skip(n int, text, reason string) {
	rd.f.Skipped = append(rd.f.Skipped, Skipped{Line: n, Text: text, Reason: reason})
	rd.pending = append(rd.pending, comment("# not imported: "+reason), comment("# "+text))
}

func (rd *reader) flush(job int) {
	for len(rd.pending) > 0 && rd.pending[len(rd.pending)-1] == "" {
		rd.pending = rd.pending[:len(rd.pending)-1]
	}
	if len(rd.pending) > 0 || job >= 0 {
		rd.f.blocks = append(rd.f.blocks, block{lines: rd.pending, job: job})
	}
	rd.pending = nil
}

func (rd *reader) setenv(n int, text, name, value string) {
	switch name {
	case "SHELL":
		rd.shell = ""
		if value == "/bin/sh" {
			rd.note(text, "arbiter runs shell strings with /bin/sh -c too")
			return
		}
		rd.shell = value
		rd.note(text, "arbiter runs shell strings with /bin/sh -c, so the jobs below do not run in "+value)
		return
	case "MAILTO", "MAILFROM":
		rd.note(text, "arbiter keeps each run's output ('arbiter logs') instead of mailing it")
		return
	case "CRON_TZ", "TZ":
		zone := strings.TrimPrefix(value, ":") // POSIX allows TZ=:Area/City
		if _, err := arbiter.LoadZone(zone); err != nil {
			rd.zone, rd.zoneErr = "", err
			rd.skip(n, text, fmt.Sprintf("%s; the entries below that it applies to are not imported either", err))
			return
		}
		rd.zone, rd.zoneErr = zone, nil
		if name == "CRON_TZ" {
			rd.note(text, "the timezone of the jobs below")
			return
		}
	}
	switch {
	case !validEnvName(name):
		rd.skip(n, text, fmt.Sprintf("%q is not a variable name arbiter accepts (letters, digits and '_', not starting with a digit)", name))
		return
	case strings.HasPrefix(value, arbiter.SecretRefPrefix):
		rd.skip(n, text, fmt.Sprintf("arbiter would read the value of %s as a reference to a secret", name))
		return
	case strings.ContainsRune(value, 0):
		rd.skip(n, text, fmt.Sprintf("the value of %s contains a NUL byte", name))
		return
	}
	rd.env[name] = value
	if name == "TZ" {
		rd.note(text, "the timezone of the jobs below, and in their env as cron passes it on")
		return
	}
	rd.note(text, "in the env of the jobs below")
}

// note keeps a setting as a comment that says what became of it.
func (rd *reader) note(text, what string) {
	rd.pending = append(rd.pending, comment("# "+text+": "+what))
}

func (rd *reader) entry(n int, text string) {
	nfields := 5
	if strings.HasPrefix(text, "@") {
		nfields = 1
	}
	if rd.opt.System {
		nfields++
	}
	fields, cmd := splitFields(text, nfields)
	if len(fields) < nfields || cmd == "" {
		want := "5 time fields (or a macro such as @daily)"
		if rd.opt.System {
			want += ", a user"
		}
		rd.skip(n, text, "not a crontab entry: expected "+want+" and a command")
		return
	}
	user := ""
	if rd.opt.System {
		user = fields[len(fields)-1]
		fields = fields[:len(fields)-1]
	}
	schedule := strings.Join(fields, " ")
	if strings.HasPrefix(schedule, "@") {
		switch m := strings.ToLower(schedule); {
		case m == "@reboot":
			rd.skip(n, text, "@reboot runs once when cron starts; arbiter has no schedule for that")
			return
		case !macros[m]:
			rd.skip(n, text, fmt.Sprintf("%s is not a crontab macro; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", schedule))
			return
		default:
			schedule = m
		}
	}
	if rd.zoneErr != nil {
		rd.skip(n, text, rd.zoneErr.Error())
		return
	}
	loc, _ := arbiter.LoadZone(rd.zone) // checked when it was set
	if _, err := arbiter.ParseSchedule(schedule, loc); err != nil {
		rd.skip(n, text, err.Error())
		return
	}

	command, input, hasInput := splitPercent(cmd)
	shell := command
	var notes []string
	if hasInput && input != "" {
		shell = pipeInput(input, command)
		notes = append(notes, "# the unescaped % in the original began the command's standard input (crontab(5)); printf pipes it in")
	}
	if rd.shell != "" {
		notes = append(notes, "# SHELL="+rd.shell+" in the original; arbiter runs this with /bin/sh -c")
	}
	if user != "" && user != "root" && user != rd.opt.User {
		notes = append(notes, "# runs as "+user+" in the original")
	}
	spec := api.JobSpec{
		Name:     rd.name(command),
		Schedule: schedule,
		Timezone: rd.zone,
		Shell:    shell,
	}
	if len(rd.env) > 0 {
		spec.Env = make(map[string]string, len(rd.env))
		for k, v := range rd.env {
			spec.Env[k] = v
		}
	}
	// The daemon's own rules, so that the file always parses: a job they refuse is a comment.
	if err := check(spec); err != nil {
		delete(rd.used, spec.Name)
		rd.skip(n, text, err.Error())
		return
	}
	for _, l := range notes {
		rd.pending = append(rd.pending, comment(l))
	}
	rd.f.Jobs = append(rd.f.Jobs, spec)
	rd.flush(len(rd.f.Jobs) - 1)
}

func check(spec api.JobSpec) error {
	j, err := spec.ToJob()
	if err != nil {
		return err
	}
	j.Normalize()
	return j.Validate()
}

// Encode writes f as a job file: a header, then the crontab's comments, settings and entries
// in its order, each job as jobfile.Encode writes it.
func (f *File) Encode(w io.Writer) error {
	bw := bufio.NewWriter(w)
	kind := "a user crontab"
	if f.System {
		kind = "a system crontab, whose entries name the user they run as"
	}
	from := ""
	if f.Name != "" {
		from = " from " + f.Name
	}
	fmt.Fprintf(bw, "%s\n", comment("# Imported by arbiter"+from+" ("+kind+")."))
	bw.WriteString(`# Each [jobs.NAME] table is one job; 'arbiter validate FILE' checks the file and
# 'arbiter apply FILE' loads it. What arbiter cannot express is kept as a comment saying why.
# Jobs run with /bin/sh -c in the daemon's environment plus their env, not in cron's (PATH,
# HOME, LOGNAME and SHELL as cron sets them); the timezone is the daemon's unless one is given.
`)
	for _, b := range f.blocks {
		bw.WriteString("\n")
		for _, l := range b.lines {
			bw.WriteString(l)
			bw.WriteString("\n")
		}
		if b.job < 0 {
			continue
		}
		table, err := encodeJob(f.Jobs[b.job])
		if err != nil {
			return err
		}
		bw.WriteString(table)
	}
	return bw.Flush()
}

// encodeJob is the [jobs.NAME] table jobfile.Encode writes for spec, without its header.
func encodeJob(spec api.JobSpec) (string, error) {
	var buf bytes.Buffer
	if err := jobfile.Encode(&buf, []api.JobSpec{spec}); err != nil {
		return "", err
	}
	s := buf.String()
	i := strings.Index(s, "\n[jobs.")
	if i < 0 {
		return "", fmt.Errorf("encode job %s: no [jobs.NAME] table in %q", spec.Name, s)
	}
	return s[i+1:], nil
}

// envLine reads a crontab(5) environment setting, `name = value`, as cron's load_env does: the
// blanks around '=' are optional, the value is trimmed, and a value (or name) in matching single
// or double quotes loses them, keeping the blanks inside.
func envLine(s string) (name, value string, ok bool) {
	rest := s
	if q := s[0]; q == '\'' || q == '"' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", "", false
		}
		name, rest = s[1:1+end], s[2+end:]
	} else {
		end := strings.IndexAny(s, "= \t")
		if end < 0 {
			return "", "", false
		}
		name, rest = s[:end], s[end:]
	}
	rest = strings.TrimLeft(rest, " \t")
	if name == "" || !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	value = strings.Trim(rest[1:], " \t")
	if len(value) >= 2 && (value[0] == '\'' || value[0] == '"') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	return name, value, true
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// splitFields takes n blank-separated fields off the front of s and returns them and the rest,
// its leading blanks removed and its spacing otherwise kept.
func splitFields(s string, n int) ([]string, string) {
	var fields []string
	rest := s
	for len(fields) < n {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields = append(fields, rest[:end])
		rest = rest[end:]
	}
	return fields, strings.TrimRight(strings.TrimLeft(rest, " \t"), " \t")
}

// splitPercent splits a crontab command at its first unescaped '%' as cron does: \% is a
// literal % in both parts, any other backslash is kept, and in the input each further
// unescaped % is a newline. hasInput says whether there was a '%'.
func splitPercent(cmd string) (command, input string, hasInput bool) {
	var b strings.Builder
	i := 0
	for ; i < len(cmd); i++ {
		c := cmd[i]
		if c == '\\' && i+1 < len(cmd) && cmd[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if c == '%' {
			hasInput = true
			i++
			break
		}
		b.WriteByte(c)
	}
	command = b.String()
	if !hasInput {
		return command, "", false
	}
	var in strings.Builder
	for ; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\' && i+1 < len(cmd) && cmd[i+1] == '%':
			in.WriteByte('%')
			i++
		case c == '%':
			in.WriteByte('\n')
		default:
			in.WriteByte(c)
		}
	}
	return command, in.String(), true
}

// pipeInput makes a shell string that gives command the standard input input: printf with
// one argument per line, so that every byte arrives as cron would send it (no newline is added
// after the last line unless input ends with one). A command that is more than one simple
// command goes into a subshell on lines of its own, so that all of it reads the input and a
// trailing comment cannot swallow the closing parenthesis.
func pipeInput(input, command string) string {
	lines := strings.Split(input, "\n")
	format := strings.Repeat(`%s\n`, len(lines)-1) + "%s"
	if len(lines) > 1 && lines[len(lines)-1] == "" {
		lines, format = lines[:len(lines)-1], `%s\n` // printf repeats the format for each line
	}
	args := make([]string, len(lines))
	for i, l := range lines {
		args[i] = shellQuote(l)
	}
	target := command
	if !simpleCommand(command) {
		target = "(\n" + command + "\n)"
	}
	return "printf '" + format + "' " + strings.Join(args, " ") + " | " + target
}

// simpleCommand reports whether s is one simple command, one that can follow a '|' as it is.
func simpleCommand(s string) bool {
	t := strings.TrimSpace(s)
	return !strings.ContainsAny(t, ";&|(){}<>`#\n") && !strings.HasPrefix(t, "!") && t != ""
}

// shellQuote quotes s for /bin/sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// comment makes s safe as a TOML comment line: valid UTF-8 and no control characters but tab.
func comment(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, s)
}

// skipWords name no job of their own: in `[ -x /usr/lib/php/sessionclean ] && ...` or
// `cd / && run-parts ...` the program is the word after them.
var skipWords = map[string]bool{
	"[": true, "[[": true, "test": true, "if": true, "!": true, "cd": true, "command": true,
	"exec": true, "nice": true, "ionice": true, "nohup": true, "env": true, "sudo": true,
	"time": true, "then": true,
}

// name is a free job name for command: like `arbiter add`, the base name of its program,
// lowercased, other characters than a-z and 0-9 made '-'; past assignments, options and the
// skipWords; "job" when no word is left. A taken name gets -2, -3, ...
func (rd *reader) name(command string) string {
	base := "job"
	for _, w := range strings.Fields(command) {
		w = strings.Trim(w, `'"(){};`)
		if w == "" || strings.Contains(w, "=") || strings.HasPrefix(w, "-") || skipWords[w] {
			continue
		}
		s := arbiter.NameFrom(path.Base(w))
		if s == "" || strings.Trim(s, "0123456789") == "" {
			continue
		}
		base = s
		break
	}
	name := base
	for n := 2; rd.used[name]; n++ {
		name = withSuffix(base, n)
	}
	rd.used[name] = true
	return name
}

// withSuffix is name-N, shortened so that it stays a valid name.
func withSuffix(name string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	if len(name)+len(suffix) > 63 {
		name = strings.TrimRight(name[:63-len(suffix)], "-._")
	}
	return name + suffix
}
