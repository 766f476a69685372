// Package config resolves the daemon's settings from four layers: command-line flags, the
// environment, the config file (arbiter.toml) and the built-in defaults, in that order of
// precedence. It remembers where every value came from, so that `arbiter config` can say why
// the daemon would run the way it does, and so that every error names the flag, variable or
// file:line:col it is about.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/internal/dsn"
	"github.com/arbiterd/arbiter/internal/paths"
)

// Environment variables that choose the config file.
const (
	EnvConfig = "ARBITER_CONFIG"
	// EnvPrefix followed by a key in upper case overrides that key: ARBITER_DAEMON_MAX_RUNNING.
	EnvPrefix = "ARBITER_DAEMON_"
)

// SystemFile is the config file of a daemon running as root.
const SystemFile = "/etc/arbiter/arbiter.toml"

// The keys of the [daemon] table, which are also the names of Settings.
const (
	KeyDataDir       = "data_dir"
	KeySocket        = "socket"
	KeySocketGroup   = "socket_group"
	KeyKeyFile       = "key_file"
	KeyJobsDir       = "jobs_dir"
	KeyShutdownGrace = "shutdown_grace"
	KeyMaxRunning    = "max_running"
	KeyOutputCap     = "output_cap"
	KeyLogLevel      = "log_level"
	KeyStore         = "store"
	KeyNodeName      = "node_name"
	KeyRoles         = "roles"
	KeyLabels        = "labels"
	KeyNodeLease     = "node_lease"
)

// Keys are the keys of the [daemon] table, in the order they are documented and printed.
var Keys = []string{
	KeyDataDir, KeySocket, KeySocketGroup, KeyKeyFile, KeyJobsDir,
	KeyShutdownGrace, KeyMaxRunning, KeyOutputCap, KeyLogLevel,
	KeyStore, KeyNodeName, KeyRoles, KeyLabels, KeyNodeLease,
}

// clusterKeys are the settings of a node of a cluster: they need a Postgres store.
var clusterKeys = []string{KeyNodeName, KeyRoles, KeyLabels, KeyNodeLease}

// aliasEnv are the older variables that DESIGN.md names and clients read too. They keep
// working; when both are set, the ARBITER_DAEMON_ variable wins.
var aliasEnv = map[string]string{
	KeyDataDir: paths.EnvDataDir,
	KeySocket:  paths.EnvSocket,
}

// Daemon is the daemon's effective configuration.
type Daemon struct {
	DataDir       string        // absolute
	Socket        string        // absolute
	SocketGroup   string        // "" for none
	KeyFile       string        // absolute; "" for the daemon's default
	JobsDir       string        // absolute; "" for none
	ShutdownGrace time.Duration // >= 0
	MaxRunning    int           // >= 1
	OutputCap     int64         // >= MinOutputCap
	LogLevel      slog.Level
	Store         string         // "" for the SQLite file in the data dir, or a postgres:// URL
	NodeName      string         // "" for one made from the host name
	Roles         []arbiter.Role // in the order of arbiter.Roles
	Labels        []string       // sorted, unique
	NodeLease     time.Duration  // how long a node counts as alive after a heartbeat
}

// MinOutputCap is the smallest output cap accepted: less would not keep a useful head and tail.
const MinOutputCap = 1024

// Defaults are the built-in values of the settings that do not depend on the user or the
// system; DataDir and Socket are resolved by Load.
func Defaults() Daemon {
	return Daemon{ShutdownGrace: 30 * time.Second, MaxRunning: 64, OutputCap: 1 << 20, LogLevel: slog.LevelInfo,
		Roles: arbiter.Roles, NodeLease: 10 * time.Second}
}

// Origin is the layer a value came from.
type Origin int

const (
	FromDefault Origin = iota
	FromFile
	FromEnv
	FromFlag
)

func (o Origin) String() string {
	return [...]string{"default", "file", "env", "flag"}[o]
}

// Source says where a value came from.
type Source struct {
	Origin Origin
	Name   string // the flag ("--max-running"), the variable or the file; "" for a default
	Line   int    // in the file
	Col    int
}

// String is "default", "flag --max-running", "env ARBITER_DAEMON_MAX_RUNNING" or
// "file /etc/arbiter/arbiter.toml:7".
func (s Source) String() string {
	switch s.Origin {
	case FromDefault:
		return "default"
	case FromFile:
		return fmt.Sprintf("file %s:%d", s.Name, s.Line)
	}
	return s.Origin.String() + " " + s.Name
}

// where is how an error names the place of a value of key.
func (s Source) where(key string) string {
	if s.Origin == FromFile {
		return fmt.Sprintf("%s:%d:%d: %s", s.Name, s.Line, s.Col, key)
	}
	return s.Name
}

// Error is a bad setting: a value that does not parse or breaks a rule, an unknown key, or a
// config file that cannot be read. It matches arbiter.ErrInvalid.
type Error struct {
	Source Source
	Key    string // "" when the error is not about one setting
	Msg    string // the whole message, starting with the place
	Err    error  // the cause, if any
}

func (e *Error) Error() string        { return e.Msg }
func (e *Error) Unwrap() error        { return e.Err }
func (e *Error) Is(target error) bool { return target == arbiter.ErrInvalid }

// Flag is a command-line flag the user gave, as text.
type Flag struct {
	Key   string // the setting it sets
	Name  string // as typed, with dashes: "--max-running"
	Value string
}

// Options are the inputs of Load besides the environment.
type Options struct {
	// Path is --config; "" searches $ARBITER_CONFIG, then the default file.
	Path  string
	Flags []Flag // only the flags given on the command line
}

// Setting is one resolved value and its origin.
type Setting struct {
	Key    string
	Value  any // string, int or int64; durations and log levels as strings
	Source Source
}

// Resolved is the effective configuration and where it came from.
type Resolved struct {
	Daemon
	// File is the config file that was read, absolute; "" when there was none.
	File string
	// FileFrom says how the file was chosen: "--config", "$ARBITER_CONFIG" or "default".
	FileFrom string
	// Searched is the default file that was looked for when none existed; "" otherwise.
	Searched string
	Sources  map[string]Source // by key
}

// Settings lists the values in the order of Keys.
func (r *Resolved) Settings() []Setting {
	d := r.Daemon
	values := map[string]any{
		KeyDataDir: d.DataDir, KeySocket: d.Socket, KeySocketGroup: d.SocketGroup,
		KeyKeyFile: d.KeyFile, KeyJobsDir: d.JobsDir, KeyShutdownGrace: d.ShutdownGrace.String(),
		KeyMaxRunning: d.MaxRunning, KeyOutputCap: d.OutputCap, KeyLogLevel: levelText(d.LogLevel),
		KeyStore: dsn.Redact(d.Store), KeyNodeName: d.NodeName, KeyRoles: arbiter.RolesString(d.Roles),
		KeyLabels: strings.Join(d.Labels, ","), KeyNodeLease: d.NodeLease.String(),
	}
	out := make([]Setting, len(Keys))
	for i, k := range Keys {
		out[i] = Setting{Key: k, Value: values[k], Source: r.Sources[k]}
	}
	return out
}

func levelText(l slog.Level) string { return strings.ToLower(l.String()) }

// Load resolves the daemon's configuration: flags over the environment over the config file
// over the defaults. Every bad value is reported; the error joins *Error values.
func Load(opts Options) (*Resolved, error) { return load(opts, os.Geteuid()) }

func load(opts Options, euid int) (*Resolved, error) {
	r := &Resolved{Daemon: Defaults(), Sources: map[string]Source{}}
	for _, k := range Keys {
		r.Sources[k] = Source{Origin: FromDefault}
	}
	var errs []error

	path, from, required, err := findFile(opts.Path, euid)
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(path); err == nil {
		if r.File, err = filepath.Abs(path); err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		r.FileFrom = from
		for _, v := range parseFile(r.File, data, &errs) {
			errs = appendErr(errs, r.set(v.key, v.src, v.val))
		}
	} else if required || !errors.Is(err, fs.ErrNotExist) {
		return nil, fileError(path, from, err)
	} else {
		r.Searched = path
	}

	for _, k := range Keys {
		// The alias first, so that the ARBITER_DAEMON_ variable wins when both are set.
		for _, name := range []string{aliasEnv[k], EnvPrefix + strings.ToUpper(k)} {
			if v := os.Getenv(name); name != "" && v != "" {
				errs = appendErr(errs, r.set(k, Source{Origin: FromEnv, Name: name}, text(v)))
			}
		}
	}
	for _, f := range opts.Flags {
		errs = appendErr(errs, r.set(f.Key, Source{Origin: FromFlag, Name: f.Name}, text(f.Value)))
	}
	if r.Store == "" {
		for _, k := range clusterKeys {
			if src := r.Sources[k]; src.Origin != FromDefault {
				errs = append(errs, &Error{Source: src, Key: k, Msg: src.where(k) +
					" is a setting of a node of a cluster, which needs a Postgres store: set store too (--store postgres://user@host/db)"})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := r.defaultPaths(euid); err != nil {
		return nil, err
	}
	return r, nil
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}

// findFile picks the config file: --config, else $ARBITER_CONFIG, else the system file for
// root, else the user's. required is false for the default file, which may be missing.
func findFile(flag string, euid int) (path, from string, required bool, err error) {
	switch {
	case flag != "":
		return flag, "--config", true, nil
	case os.Getenv(EnvConfig) != "":
		return os.Getenv(EnvConfig), "$" + EnvConfig, true, nil
	case euid == 0:
		return SystemFile, "default", false, nil
	}
	// Relative XDG paths are invalid and ignored, as paths does.
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "arbiter", "config.toml"), "default", false, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", false, errors.New("cannot find the config file: set --config, ARBITER_CONFIG, XDG_CONFIG_HOME or HOME")
	}
	return filepath.Join(home, ".config", "arbiter", "config.toml"), "default", false, nil
}

func fileError(path, from string, err error) error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		msg = "no such file (named by " + from + ")"
	}
	return &Error{Source: Source{Origin: FromFile, Name: path}, Msg: "config file " + path + ": " + msg, Err: err}
}

// value is a setting's raw value as one layer gave it: text from flags and the environment,
// typed from the file.
type value struct {
	kind string // kindString, kindInteger, or how the file's parser describes another kind
	str  string
	num  int64
}

const (
	kindString  = "a string"
	kindInteger = "an integer"
)

func text(s string) value { return value{kind: kindString, str: s} }

// set parses v for key and records it with its source, or returns why it cannot.
func (r *Resolved) set(key string, src Source, v value) error {
	where := src.where(key)
	bad := func(format string, args ...any) error {
		return &Error{Source: src, Key: key, Msg: where + fmt.Sprintf(format, args...)}
	}
	fromText := src.Origin != FromFile
	d := &r.Daemon
	switch key {
	case KeyDataDir, KeySocket, KeyKeyFile, KeyJobsDir, KeySocketGroup:
		if v.kind != kindString {
			return bad(": expected a string, got %s", v.kind)
		}
		s := v.str
		if key != KeySocketGroup && s != "" {
			var err error
			if s, err = absPath(s, src); err != nil {
				return bad(": %v", err)
			}
		}
		dst := map[string]*string{KeyDataDir: &d.DataDir, KeySocket: &d.Socket, KeyKeyFile: &d.KeyFile,
			KeyJobsDir: &d.JobsDir, KeySocketGroup: &d.SocketGroup}[key]
		if s == "" && (key == KeyDataDir || key == KeySocket) {
			return nil // an empty path means the default: leave what a lower layer said
		}
		*dst = s
	case KeyShutdownGrace, KeyNodeLease:
		if v.kind != kindString {
			return bad(`: expected a duration string such as "30s" or "1m30s", got %s`, v.kind)
		}
		g, err := time.ParseDuration(v.str)
		if err != nil {
			return bad(`: %q is not a duration such as "30s" or "1m30s"`, v.str)
		}
		if g < 0 {
			return bad(" must not be negative")
		}
		if key == KeyNodeLease {
			if g < time.Second {
				return bad(" must be at least 1s: a node sends a heartbeat every fifth of it")
			}
			d.NodeLease = g
		} else {
			d.ShutdownGrace = g
		}
	case KeyStore:
		if v.kind != kindString {
			return bad(": expected a string, got %s", v.kind)
		}
		if v.str != "" && !dsn.IsPostgres(v.str) {
			return bad(": %q is not a store: leave it out for the SQLite file in the data dir, or give a URL such as postgres://arbiter@db.example.com/arbiter", dsn.Redact(v.str))
		}
		d.Store = v.str
	case KeyNodeName:
		if v.kind != kindString {
			return bad(": expected a string, got %s", v.kind)
		}
		if err := arbiter.ValidateNodeName(v.str); err != nil {
			return bad(": %v", invalidMsg(err))
		}
		d.NodeName = v.str
	case KeyRoles:
		if v.kind != kindString {
			return bad(`: expected a string such as "scheduler,worker,api", got %s`, v.kind)
		}
		roles, err := arbiter.ParseRoles(v.str)
		if err != nil {
			return bad(": %v", invalidMsg(err))
		}
		d.Roles = roles
	case KeyLabels:
		if v.kind != kindString {
			return bad(`: expected a string such as "gpu,eu", got %s`, v.kind)
		}
		var labels []string
		for f := range strings.SplitSeq(v.str, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			if err := arbiter.ValidateLabel(f); err != nil {
				return bad(": %v", invalidMsg(err))
			}
			labels = append(labels, f)
		}
		slices.Sort(labels)
		d.Labels = slices.Compact(labels)
	case KeyMaxRunning, KeyOutputCap:
		n, err := whole(v, fromText)
		if err != nil {
			return bad(": %v", err)
		}
		if key == KeyMaxRunning {
			if n < 1 {
				return bad(" must be at least 1")
			}
			if n != int64(int(n)) {
				return bad(": %d is too large", n)
			}
			d.MaxRunning = int(n)
		} else {
			if n < MinOutputCap {
				return bad(" must be at least %d bytes", MinOutputCap)
			}
			d.OutputCap = n
		}
	case KeyLogLevel:
		if v.kind != kindString {
			return bad(": expected a string, got %s", v.kind)
		}
		if err := d.LogLevel.UnmarshalText([]byte(v.str)); err != nil {
			return bad(": %q is not one of debug, info, warn, error", v.str)
		}
	default:
		return bad(": unknown setting")
	}
	r.Sources[key] = src
	return nil
}

// invalidMsg is the message of an arbiter.Invalidf error without its field prefix.
func invalidMsg(err error) string {
	var ie *arbiter.InvalidError
	if errors.As(err, &ie) {
		return ie.Message
	}
	return err.Error()
}

// whole is v as an integer: a TOML integer from the file, decimal text from elsewhere.
func whole(v value, fromText bool) (int64, error) {
	switch {
	case v.kind == kindInteger:
		return v.num, nil
	case fromText:
		n, err := strconv.ParseInt(strings.TrimSpace(v.str), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", v.str)
		}
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", v.kind)
}

// absPath makes a path absolute: one from the file is relative to the file's directory, so
// that the file means the same wherever the daemon is started; others to the working directory.
func absPath(p string, src Source) (string, error) {
	if src.Origin == FromFile && !filepath.IsAbs(p) {
		return filepath.Join(filepath.Dir(src.Name), p), nil
	}
	return filepath.Abs(p)
}

// defaultPaths fills in the data dir and socket that no layer set, as paths resolves them
// for clients.
func (r *Resolved) defaultPaths(euid int) error {
	var err error
	if r.DataDir == "" {
		r.DataDir = paths.SystemDataDir
		if euid != 0 {
			if r.DataDir, err = paths.DataDir(); err != nil {
				return err
			}
		}
		if r.DataDir, err = filepath.Abs(r.DataDir); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	if r.Socket == "" {
		r.Socket = paths.SystemSocket
		if euid != 0 {
			r.Socket = paths.Socket(r.DataDir)
		}
		if r.Socket, err = filepath.Abs(r.Socket); err != nil {
			return fmt.Errorf("socket: %w", err)
		}
	}
	return nil
}
