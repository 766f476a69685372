package arbiter

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Overlap says what a fire does while the job's previous run is still active.
type Overlap string

const (
	OverlapSkip    Overlap = "skip" // record the fire as skipped (the default)
	OverlapQueue   Overlap = "queue"
	OverlapAllow   Overlap = "allow"
	OverlapReplace Overlap = "replace"
)

// Sources of a job besides a job file's path.
const SourceCLI = "cli"

// Defaults of a job's fields.
const (
	DefaultKillGrace  = 10 * time.Second // between SIGTERM and SIGKILL
	DefaultCatchup    = 5 * time.Minute
	DefaultRetryDelay = 10 * time.Second
	MaxRetryDelay     = time.Hour // the backoff stops doubling here
	MaxRetries        = 100
	MaxLabels         = 16 // labels a job may require
)

// Job is a named command and the schedule it runs on.
type Job struct {
	Name     string
	Schedule string // cron expression (5 or 6 fields), macro, or "@every DURATION"
	Timezone string // IANA zone the schedule is evaluated in; "" means the daemon's zone

	// The shell runner's spec: exactly one of Command (argv, no shell) and Shell (a string
	// for /bin/sh -c) is set.
	Command []string
	Shell   string
	Dir     string
	Env     map[string]string

	// Labels are the node labels the job requires: once several nodes share a store, only a
	// node started with every one of them runs it. Normalize sorts them and drops duplicates;
	// nil when there are none. A single node runs every job whatever its labels.
	Labels []string

	Timeout   time.Duration // 0: no limit
	KillGrace time.Duration // 0: DefaultKillGrace
	Overlap   Overlap       // "": OverlapSkip
	// Catchup is how far back fires missed while the daemon was down (or the clock jumped) are
	// still run, once; older ones become one missed record. 0 disables catch-up. Callers that
	// build jobs from user input apply DefaultCatchup when the user gave none.
	Catchup    time.Duration
	Retries    int           // extra attempts after a failed, timed-out or lost run
	RetryDelay time.Duration // backoff before the first retry, doubling per attempt; 0: DefaultRetryDelay
	Jitter     time.Duration // each fire starts after a random delay up to this
	Paused     bool
	Source     string // SourceCLI, or the job file it came from
	// Drifted marks a file-managed job changed from the CLI with --force; applying its file
	// again clears it.
	Drifted bool

	CreatedAt time.Time
	UpdatedAt time.Time
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateName checks a job name against [a-z0-9][a-z0-9._-]{0,62}.
func ValidateName(name string) error {
	if name == "" {
		return Invalidf("name", "must not be empty")
	}
	if !nameRE.MatchString(name) {
		return Invalidf("name", "%q is not a valid job name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// NameFrom turns any text (a program's name, a file's) into a valid job name: lowercase, with
// each run of characters other than a-z and 0-9 made one '-', at most 63 characters. It is ""
// when nothing usable is left.
func NameFrom(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// ValidateLabel checks a label against the rule of job names, [a-z0-9][a-z0-9._-]{0,62}.
func ValidateLabel(label string) error {
	if !nameRE.MatchString(label) {
		return Invalidf("labels", "%q is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", label)
	}
	return nil
}

// normalLabels is labels sorted, without duplicates, nil when empty. It copies rather than
// sorting in place: the slice is often the caller's (a spec's, a flag's).
func normalLabels(labels []string) []string {
	if len(labels) == 0 {
		return nil
	}
	if slices.IsSorted(labels) && !hasAdjacentDup(labels) {
		return labels
	}
	return slices.Compact(slices.Sorted(slices.Values(labels)))
}

func hasAdjacentDup(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return true
		}
	}
	return false
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Normalize fills the defaults of unset fields.
func (j *Job) Normalize() {
	if j.Overlap == "" {
		j.Overlap = OverlapSkip
	}
	if j.KillGrace == 0 {
		j.KillGrace = DefaultKillGrace
	}
	if j.RetryDelay == 0 {
		j.RetryDelay = DefaultRetryDelay
	}
	if j.Source == "" {
		j.Source = SourceCLI
	}
	j.Labels = normalLabels(j.Labels)
}

// Validate checks every field of the job and returns the first problem as an *InvalidError.
func (j *Job) Validate() error {
	if err := ValidateName(j.Name); err != nil {
		return err
	}
	loc, err := LoadZone(j.Timezone)
	if err != nil {
		return err
	}
	if _, err := ParseSchedule(j.Schedule, loc); err != nil {
		return err
	}
	switch {
	case len(j.Command) == 0 && j.Shell == "":
		return Invalidf("command", "give a command to run")
	case len(j.Command) > 0 && j.Shell != "":
		return Invalidf("command", "give either a command or a shell string, not both")
	case len(j.Command) > 0 && j.Command[0] == "":
		return Invalidf("command", "the program name must not be empty")
	case j.Shell != "" && strings.TrimSpace(j.Shell) == "":
		return Invalidf("shell", "the shell string must not be blank")
	}
	for _, arg := range append(append([]string(nil), j.Command...), j.Shell, j.Dir) {
		if strings.ContainsRune(arg, 0) {
			return Invalidf("command", "arguments must not contain NUL bytes")
		}
	}
	for k, v := range j.Env {
		if !envKeyRE.MatchString(k) {
			return Invalidf("env", "%q is not a valid variable name: use letters, digits and '_', not starting with a digit", k)
		}
		if strings.ContainsRune(v, 0) {
			return Invalidf("env", "the value of %s must not contain NUL bytes", k)
		}
		if name, ok := strings.CutPrefix(v, SecretRefPrefix); ok {
			if err := ValidateName(name); err != nil {
				return Invalidf("env", "%s=%s: %q is not a valid secret name", k, v, name)
			}
		}
	}
	for _, l := range j.Labels {
		if err := ValidateLabel(l); err != nil {
			return err
		}
	}
	// Counted as Normalize leaves them: a label given twice is one.
	if n := len(normalLabels(j.Labels)); n > MaxLabels {
		return Invalidf("labels", "%d labels; a job may require at most %d", n, MaxLabels)
	}
	if j.Timeout < 0 {
		return Invalidf("timeout", "must not be negative")
	}
	if j.KillGrace < 0 {
		return Invalidf("kill_grace", "must not be negative")
	}
	switch j.Overlap {
	case "", OverlapSkip, OverlapQueue, OverlapAllow, OverlapReplace:
	default:
		return Invalidf("overlap", "%q is not one of skip, queue, allow, replace", j.Overlap)
	}
	if j.Catchup < 0 {
		return Invalidf("catchup", "must not be negative; use 0 to turn catch-up off")
	}
	if j.Retries < 0 || j.Retries > MaxRetries {
		return Invalidf("retries", "%d is out of range 0-%d", j.Retries, MaxRetries)
	}
	if j.RetryDelay < 0 {
		return Invalidf("retry_delay", "must not be negative")
	}
	if j.Jitter < 0 {
		return Invalidf("jitter", "must not be negative")
	}
	return nil
}

// Argv is the process the shell runner starts for the job.
func (j *Job) Argv() []string {
	if j.Shell != "" {
		return []string{"/bin/sh", "-c", j.Shell}
	}
	return j.Command
}
