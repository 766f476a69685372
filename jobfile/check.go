package jobfile

import (
	"github.com/arbiterd/arbiter/internal/tomlhint"

	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// The keys of a [jobs.NAME] table, in the order Encode writes them.
var jobKeys = []string{
	"schedule", "timezone", "command", "shell", "dir", "env", "labels", "timeout", "kill_grace",
	"overlap", "catchup", "retries", "retry_delay", "jitter", "paused",
}

// notYet are keys of the design that the domain does not have yet. They are refused rather
// than ignored, so that a file that uses them does not silently mean something else.
var notYet = map[string]string{
	"user": "running a job as another user is not supported yet",
}

// aliases suggest the key a user coming from the CLI or from other schedulers may have meant.
var aliases = map[string]string{
	"tz": "timezone", "zone": "timezone", "cron": "schedule", "at": "schedule", "every": "schedule",
	"cmd": "command", "args": "command", "argv": "command", "run": "command",
	"cwd": "dir", "workdir": "dir", "directory": "dir", "environment": "env",
	"retry": "retries", "pause": "paused", "disabled": "paused",
	"label": "labels", "tags": "labels", "node_labels": "labels",
}

// checker collects the errors of one file while it turns the tree into jobs.
type checker struct {
	file string
	errs []*Error
	bad  map[string]bool // the keys of the current job whose values had the wrong type
	// meant are the keys that unknown keys of the current job were taken for: a misspelt
	// schedule is not also reported missing.
	meant map[string]bool
}

func (c *checker) errorf(at Pos, cause error, format string, args ...any) {
	c.keyErrorf("", at, cause, format, args...)
}

// keyErrorf records an error about the value of key.
func (c *checker) keyErrorf(key string, at Pos, cause error, format string, args ...any) {
	if key != "" {
		c.bad[key] = true
	}
	c.errs = append(c.errs, &Error{File: c.file, Pos: at, Msg: fmt.Sprintf(format, args...), Err: cause})
}

func (c *checker) document(root *node) []Job {
	for _, k := range root.keys {
		if k != "jobs" {
			c.unknownKey(root.kids[k].keyPos, k, []string{"jobs"})
		}
	}
	jobsNode, ok := root.kids["jobs"]
	switch {
	case !ok:
		c.errorf(Pos{1, 1}, nil, "no jobs: define each job in a [jobs.NAME] table")
		return nil
	case jobsNode.kind == unstable.ArrayTable:
		c.errorf(jobsNode.keyPos, nil, "jobs: use one [jobs.NAME] table per job, not [[jobs]]")
		return nil
	case !jobsNode.isTable():
		c.errorf(jobsNode.pos, nil, "jobs: expected a table of jobs, got %s", tomlhint.Kind(jobsNode.kind))
		return nil
	case len(jobsNode.keys) == 0:
		c.errorf(jobsNode.keyPos, nil, "no jobs: define each job in a [jobs.NAME] table")
		return nil
	}
	var jobs []Job
	for _, name := range jobsNode.keys {
		if j, ok := c.job(name, jobsNode.kids[name]); ok {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// job checks one [jobs.NAME] table; ok is false when it had errors.
func (c *checker) job(name string, t *node) (Job, bool) {
	before := len(c.errs)
	c.bad, c.meant = map[string]bool{}, map[string]bool{}
	if t.kind == unstable.ArrayTable {
		c.errorf(t.keyPos, nil, "jobs.%s: use a [jobs.%s] table, not [[jobs.%s]]", name, name, name)
		return Job{}, false
	}
	if !t.isTable() {
		c.errorf(t.pos, nil, "jobs.%s: expected a table of the job's settings, got %s", name, tomlhint.Kind(t.kind))
		return Job{}, false
	}
	j := Job{Spec: api.JobSpec{Name: name, Source: c.file}, Source: c.file, Pos: t.keyPos, Values: map[string]Pos{}}
	if err := arbiter.ValidateName(name); err != nil {
		c.errorf(t.keyPos, err, "%s", err)
	}
	s := &j.Spec
	for _, key := range t.keys {
		v := t.kids[key]
		j.Values[key] = v.pos
		switch key {
		case "schedule":
			c.str(key, v, &s.Schedule)
		case "timezone":
			c.str(key, v, &s.Timezone)
		case "shell":
			c.str(key, v, &s.Shell)
		case "dir":
			c.str(key, v, &s.Dir)
		case "overlap":
			c.str(key, v, &s.Overlap)
		case "timeout":
			c.duration(key, v, &s.Timeout)
		case "kill_grace":
			c.duration(key, v, &s.KillGrace)
		case "catchup":
			c.duration(key, v, &s.Catchup)
		case "retry_delay":
			c.duration(key, v, &s.RetryDelay)
		case "jitter":
			c.duration(key, v, &s.Jitter)
		case "command":
			c.command(v, s)
		case "env":
			c.env(v, &j)
		case "labels":
			c.labels(v, s)
		case "retries":
			c.retries(v, s)
		case "paused":
			if v.kind != unstable.Bool {
				c.keyErrorf("paused", v.pos, nil, "paused: expected true or false, got %s", tomlhint.Kind(v.kind))
				continue
			}
			s.Paused = v.data == "true"
		default:
			if msg, ok := notYet[key]; ok {
				c.errorf(v.keyPos, nil, "%s: %s", key, msg)
				continue
			}
			c.unknownKey(v.keyPos, key, jobKeys)
		}
	}
	// Keys whose values had the wrong type are left out of the rules: their values are
	// missing, and the rules would only add noise about them.
	c.validate(&j, t, len(c.errs) > before)
	return j, len(c.errs) == before
}

func (c *checker) unknownKey(at Pos, key string, known []string) {
	if s := suggest(key, known); s != "" {
		if c.meant != nil {
			c.meant[s] = true
		}
		c.errorf(at, nil, "unknown key %q (did you mean %q?)", key, s)
		return
	}
	c.errorf(at, nil, "unknown key %q; the keys of a job are %s", key, strings.Join(known, ", "))
}

func (c *checker) str(key string, v *node, dst *string) bool {
	if v.kind != unstable.String {
		c.keyErrorf(key, v.pos, nil, "%s: expected a string, got %s", key, tomlhint.Kind(v.kind))
		return false
	}
	*dst = v.data
	return true
}

func (c *checker) duration(key string, v *node, dst *string) {
	if v.kind != unstable.String {
		c.keyErrorf(key, v.pos, nil, "%s: expected a duration string such as \"30s\" or \"1h30m\", got %s", key, tomlhint.Kind(v.kind))
		return
	}
	*dst = v.data
}

func (c *checker) command(v *node, s *api.JobSpec) {
	if v.kind == unstable.String {
		c.keyErrorf("command", v.pos, nil, `command: expected an array such as ["prog", "arg"], got a string; use shell = "..." for a shell string`)
		return
	}
	if v.kind != unstable.Array {
		c.keyErrorf("command", v.pos, nil, "command: expected an array of strings, got %s", tomlhint.Kind(v.kind))
		return
	}
	argv := make([]string, 0, len(v.elems))
	ok := true
	for i, e := range v.elems {
		if e.kind != unstable.String {
			c.keyErrorf("command", e.pos, nil, "command[%d]: expected a string, got %s", i, tomlhint.Kind(e.kind))
			ok = false
			continue
		}
		argv = append(argv, e.data)
	}
	if ok {
		s.Command = argv
	}
}

func (c *checker) env(v *node, j *Job) {
	if !v.isTable() {
		c.keyErrorf("env", v.pos, nil, `env: expected a table such as { NAME = "value" }, got %s`, tomlhint.Kind(v.kind))
		return
	}
	env := make(map[string]string, len(v.keys))
	for _, k := range v.keys {
		e := v.kids[k]
		if e.kind != unstable.String {
			c.keyErrorf("env."+k, e.pos, nil, "env.%s: expected a string, got %s", k, tomlhint.Kind(e.kind))
			continue
		}
		env[k] = e.data
		j.Values["env."+k] = e.pos
	}
	j.Spec.Env = env
}

func (c *checker) labels(v *node, s *api.JobSpec) {
	switch {
	case v.kind == unstable.String:
		c.keyErrorf("labels", v.pos, nil, `labels: expected an array such as ["gpu", "eu"], got a string`)
		return
	case v.isTable():
		c.keyErrorf("labels", v.pos, nil, `labels: expected an array such as ["gpu", "eu"], got a table; a label is a name such as "eu", not a key = value pair`)
		return
	case v.kind != unstable.Array:
		c.keyErrorf("labels", v.pos, nil, `labels: expected an array of strings such as ["gpu", "eu"], got %s`, tomlhint.Kind(v.kind))
		return
	}
	labels := make([]string, 0, len(v.elems))
	ok := true
	for i, e := range v.elems {
		if e.kind != unstable.String {
			c.keyErrorf("labels", e.pos, nil, "labels[%d]: expected a string, got %s", i, tomlhint.Kind(e.kind))
			ok = false
			continue
		}
		labels = append(labels, e.data)
	}
	if ok && len(labels) > 0 { // labels = [] is no labels
		s.Labels = labels
	}
}

func (c *checker) retries(v *node, s *api.JobSpec) {
	if v.kind != unstable.Integer {
		c.keyErrorf("retries", v.pos, nil, "retries: expected an integer, got %s", tomlhint.Kind(v.kind))
		return
	}
	n, err := strconv.ParseInt(v.data, 0, 64)
	if err != nil || n != int64(int(n)) {
		c.keyErrorf("retries", v.pos, nil, "retries: %s is out of range 0-%d", v.data, arbiter.MaxRetries)
		return
	}
	s.Retries = int(n)
}

// check runs spec through the daemon's rules: ToJob, Normalize, Validate.
func check(spec api.JobSpec) error {
	j, err := spec.ToJob()
	if err != nil {
		return err
	}
	j.Normalize()
	return j.Validate()
}

// validate applies the daemon's rules to the job. Validate stops at the first problem, so
// each group of fields is checked on its own, over a baseline job known to be valid: that
// finds every problem, places it at the value it is about, and keeps the rules in one place.
// Keys in c.bad had values of the wrong type and are left out; mistyped says whether there
// were any.
func (c *checker) validate(j *Job, t *node, mistyped bool) {
	s := j.Spec
	if !mistyped && check(s) == nil {
		return
	}
	has := func(key string) bool { _, ok := j.Values[key]; return ok }
	at := func(key string) Pos {
		if p, ok := j.Values[key]; ok {
			return p
		}
		return t.keyPos
	}
	found := false
	report := func(p Pos, err error) {
		if err != nil {
			found = true
			c.errorf(p, err, "%s", err)
		}
	}
	// with is the baseline job with the fields that edit sets.
	with := func(edit func(b *api.JobSpec)) error {
		b := api.JobSpec{Name: "x", Schedule: "@daily", Timezone: "UTC", Command: []string{"true"}}
		edit(&b)
		return check(b)
	}

	// The name was checked when the job was read.
	zoneErr := with(func(b *api.JobSpec) { b.Timezone = s.Timezone })
	report(at("timezone"), zoneErr)

	scheduleErr := with(func(b *api.JobSpec) {
		if zoneErr == nil {
			b.Timezone = s.Timezone
		}
		b.Schedule = s.Schedule
	})
	switch {
	case c.bad["schedule"] || c.meant["schedule"] && !has("schedule"):
	case !has("schedule"):
		found = true
		c.errorf(t.keyPos, nil, `schedule is missing: give a cron expression such as schedule = "0 3 * * *", a macro such as "@daily", "@every 90s" or "@at TIME"`)
	default:
		report(at("schedule"), scheduleErr)
	}

	commandErr := with(func(b *api.JobSpec) { b.Command, b.Shell = s.Command, s.Shell })
	switch {
	case c.bad["command"] || c.bad["shell"]:
	case !has("command") && !has("shell") && (c.meant["command"] || c.meant["shell"]):
	case !has("command") && !has("shell"):
		found = true
		c.errorf(t.keyPos, nil, `command is missing: give command = ["prog", "arg"], or shell = "a string for /bin/sh -c"`)
	case has("command") && has("shell"):
		later := at("command") // the second of the two is the one in the way
		if p := at("shell"); p.Line > later.Line || p.Line == later.Line && p.Col > later.Col {
			later = p
		}
		report(later, commandErr)
	case has("shell"):
		report(at("shell"), commandErr)
	default:
		report(at("command"), commandErr)
	}

	report(at("dir"), with(func(b *api.JobSpec) { b.Dir = s.Dir }))

	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if err := with(func(b *api.JobSpec) { b.Env = map[string]string{k: ""} }); err != nil {
			report(t.kids["env"].kids[k].keyPos, err) // the variable's name
			continue
		}
		report(at("env."+k), with(func(b *api.JobSpec) { b.Env = map[string]string{k: s.Env[k]} }))
	}

	if !c.bad["labels"] {
		var valid []string
		for i, l := range s.Labels {
			err := with(func(b *api.JobSpec) { b.Labels = []string{l} })
			report(t.kids["labels"].elems[i].pos, err) // the label itself
			if err == nil {
				valid = append(valid, l)
			}
		}
		// What is left to break is how many there are.
		report(at("labels"), with(func(b *api.JobSpec) { b.Labels = valid }))
	}

	report(at("timeout"), with(func(b *api.JobSpec) { b.Timeout = s.Timeout }))
	report(at("kill_grace"), with(func(b *api.JobSpec) { b.KillGrace = s.KillGrace }))
	report(at("overlap"), with(func(b *api.JobSpec) { b.Overlap = s.Overlap }))
	report(at("catchup"), with(func(b *api.JobSpec) { b.Catchup = s.Catchup }))
	report(at("retries"), with(func(b *api.JobSpec) { b.Retries = s.Retries }))
	report(at("retry_delay"), with(func(b *api.JobSpec) { b.RetryDelay = s.RetryDelay }))
	report(at("jitter"), with(func(b *api.JobSpec) { b.Jitter = s.Jitter }))

	if !found && !mistyped {
		// A rule across fields that the groups above do not cover.
		err := check(s)
		var ie *arbiter.InvalidError
		if errors.As(err, &ie) && has(ie.Field) {
			report(at(ie.Field), err)
			return
		}
		report(t.keyPos, err)
	}
}
