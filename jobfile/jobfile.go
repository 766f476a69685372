// Package jobfile reads and writes job files: TOML files that define jobs as code.
//
// A file holds one or more [jobs.NAME] tables whose keys are the flags of `arbiter add`:
//
//	[jobs.backup]
//	schedule = "0 3 * * *"            # cron (5 or 6 fields), a macro, "@every 90s" or "@at TIME"
//	timezone = "Europe/Berlin"
//	command = ["/usr/local/bin/backup.sh", "--full"]   # or shell = "a string for /bin/sh -c"
//	env = { PGPASSWORD = "secret:pg" }
//	labels = ["eu"]                    # only nodes started with --label eu run it
//	timeout = "2h"
//	retries = 2
//
// Reading is strict: an unknown key, a value of the wrong type and every rule the daemon
// applies to a job is an error at the position of the key or value it is about, and every
// error of a file is reported, not only the first. The rules are the daemon's own: each job
// goes through api.JobSpec.ToJob, Normalize and Validate.
package jobfile

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/arbiterd/arbiter/api"
)

// StdinName is how Load names standard input ("-") in sources and messages.
const StdinName = "<stdin>"

// Job is a job read from a file.
type Job struct {
	Spec   api.JobSpec // Spec.Source is Source
	Source string      // the file it came from, as given to Parse or Load (StdinName for "-")
	Pos    Pos         // the job's name in its [jobs.NAME] header
	// Values holds where each key's value is, by key ("schedule", "env.PGPASSWORD").
	Values map[string]Pos
}

// Error is one problem in a job file. It prints as `file:line:col: message`.
type Error struct {
	File string
	Pos  Pos // zero when the problem is the whole file (it cannot be read)
	Msg  string
	Err  error // the cause, when there is one (an *arbiter.InvalidError, an *fs.PathError)
}

func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// ParseFile reads and parses the job file at path.
func ParseFile(path string) ([]Job, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{&Error{File: path, Msg: pathErrorText(err), Err: err}}
	}
	return Parse(path, data)
}

// Parse parses the job file data, naming it name in its jobs' Spec.Source and in errors. It
// returns the jobs without errors, and every error found, sorted by position.
func Parse(name string, data []byte) ([]Job, []error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, []error{decodeError(name, err)}
	}
	root, err := build(data)
	if err != nil { // the decoder accepted the document, so this is not expected
		return nil, []error{&Error{File: name, Pos: Pos{1, 1}, Msg: err.Error(), Err: err}}
	}
	c := &checker{file: name}
	jobs := c.document(root)
	slices.SortStableFunc(c.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	errs := make([]error, len(c.errs))
	for i, e := range c.errs {
		errs[i] = e
	}
	return jobs, errs
}

// decodeError places an error of the go-toml decoder.
func decodeError(name string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return &Error{File: name, Pos: Pos{line, col}, Msg: strings.TrimPrefix(de.Error(), "toml: "), Err: err}
	}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		return &Error{File: name, Pos: Pos{1, 1}, Msg: pe.Message, Err: err}
	}
	return &Error{File: name, Pos: Pos{1, 1}, Msg: err.Error(), Err: err}
}

// Load reads job files: each path is a file, a directory (its *.toml files, sorted, not its
// subdirectories) or "-" for standard input. A job defined twice is an error naming both
// places. It returns the jobs without errors, in the order read, and every error.
func Load(paths ...string) ([]Job, []error) {
	return LoadFrom(os.Stdin, paths...)
}

// LoadFrom is Load reading "-" from stdin.
func LoadFrom(stdin io.Reader, paths ...string) ([]Job, []error) {
	var jobs []Job
	var errs []error
	seen := map[string]Job{}
	add := func(js []Job, es []error) {
		errs = append(errs, es...)
		for _, j := range js {
			if first, dup := seen[j.Spec.Name]; dup {
				errs = append(errs, &Error{File: j.Source, Pos: j.Pos,
					Msg: fmt.Sprintf("job %q is also defined at %s:%d:%d", j.Spec.Name, first.Source, first.Pos.Line, first.Pos.Col)})
				continue
			}
			seen[j.Spec.Name] = j
			jobs = append(jobs, j)
		}
	}
	for _, path := range paths {
		if path == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, &Error{File: StdinName, Msg: err.Error(), Err: err})
				continue
			}
			add(Parse(StdinName, data))
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			errs = append(errs, &Error{File: path, Msg: pathErrorText(err), Err: err})
			continue
		}
		if !info.IsDir() {
			add(ParseFile(path))
			continue
		}
		files, err := filepath.Glob(filepath.Join(globEscape(path), "*.toml"))
		if err != nil {
			errs = append(errs, &Error{File: path, Msg: err.Error(), Err: err})
			continue
		}
		slices.Sort(files)
		found := 0
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.IsDir() {
				continue
			}
			found++
			add(ParseFile(f))
		}
		if found == 0 {
			errs = append(errs, &Error{File: path, Msg: "no *.toml files in this directory"})
		}
	}
	return jobs, errs
}

// pathErrorText is err without the path, which the message already starts with.
func pathErrorText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// globEscape quotes the glob metacharacters of a directory name.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
