package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
)

// cleanEnv unsets every variable Load reads, so the tests do not depend on the caller's.
func cleanEnv(t *testing.T) {
	t.Helper()
	names := []string{EnvConfig, "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
		"ARBITER_DATA_DIR", "ARBITER_SOCKET", "CREDENTIALS_DIRECTORY"}
	for _, k := range Keys {
		names = append(names, EnvPrefix+strings.ToUpper(k))
	}
	for _, n := range names {
		t.Setenv(n, "")
	}
}

// writeFile writes a config file in a temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arbiter.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrecedence(t *testing.T) {
	const file = `[daemon]
data_dir = "/file/data"
socket_group = "filegroup"
shutdown_grace = "1m"
max_running = 8
log_level = "warn"
`
	type want struct {
		value  any
		source string // Source.String, with FILE for the file's path
	}
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags []Flag
		want  map[string]want
	}{
		{
			name: "defaults",
			want: map[string]want{
				KeyMaxRunning:    {64, "default"},
				KeyShutdownGrace: {"30s", "default"},
				KeyOutputCap:     {int64(1 << 20), "default"},
				KeyLogLevel:      {"info", "default"},
				KeySocketGroup:   {"", "default"},
			},
		},
		{
			name: "file over defaults",
			file: file,
			want: map[string]want{
				KeyDataDir:       {"/file/data", "file FILE:2"},
				KeySocketGroup:   {"filegroup", "file FILE:3"},
				KeyShutdownGrace: {"1m0s", "file FILE:4"},
				KeyMaxRunning:    {8, "file FILE:5"},
				KeyLogLevel:      {"warn", "file FILE:6"},
				KeyOutputCap:     {int64(1 << 20), "default"},
			},
		},
		{
			name: "env over file",
			file: file,
			env: map[string]string{
				"ARBITER_DAEMON_MAX_RUNNING":    "4",
				"ARBITER_DAEMON_SHUTDOWN_GRACE": "5s",
				"ARBITER_DATA_DIR":              "/env/data",
				"ARBITER_DAEMON_OUTPUT_CAP":     "4096",
			},
			want: map[string]want{
				KeyDataDir:       {"/env/data", "env ARBITER_DATA_DIR"},
				KeyShutdownGrace: {"5s", "env ARBITER_DAEMON_SHUTDOWN_GRACE"},
				KeyMaxRunning:    {4, "env ARBITER_DAEMON_MAX_RUNNING"},
				KeyOutputCap:     {int64(4096), "env ARBITER_DAEMON_OUTPUT_CAP"},
				KeyLogLevel:      {"warn", "file FILE:6"},
			},
		},
		{
			name: "flags over env over file",
			file: file,
			env: map[string]string{
				"ARBITER_DAEMON_MAX_RUNNING": "4",
				"ARBITER_DAEMON_LOG_LEVEL":   "error",
				"ARBITER_DATA_DIR":           "/env/data",
			},
			flags: []Flag{
				{KeyMaxRunning, "--max-running", "2"},
				{KeyDataDir, "--data-dir", "/flag/data"},
				{KeySocketGroup, "--socket-group", ""}, // an empty group clears the file's
			},
			want: map[string]want{
				KeyDataDir:       {"/flag/data", "flag --data-dir"},
				KeyMaxRunning:    {2, "flag --max-running"},
				KeySocketGroup:   {"", "flag --socket-group"},
				KeyLogLevel:      {"error", "env ARBITER_DAEMON_LOG_LEVEL"},
				KeyShutdownGrace: {"1m0s", "file FILE:4"},
			},
		},
		{
			name: "the specific variable wins over its alias",
			env: map[string]string{
				"ARBITER_SOCKET":          "/alias.sock",
				"ARBITER_DAEMON_SOCKET":   "/specific.sock",
				"ARBITER_DATA_DIR":        "/alias",
				"ARBITER_DAEMON_JOBS_DIR": "/jobs",
			},
			want: map[string]want{
				KeySocket:  {"/specific.sock", "env ARBITER_DAEMON_SOCKET"},
				KeyDataDir: {"/alias", "env ARBITER_DATA_DIR"},
				KeyJobsDir: {"/jobs", "env ARBITER_DAEMON_JOBS_DIR"},
			},
		},
		{
			name:  "an empty data dir flag means the default, not an empty path",
			env:   map[string]string{"ARBITER_DATA_DIR": "/env/data"},
			flags: []Flag{{KeyDataDir, "--data-dir", ""}},
			want:  map[string]want{KeyDataDir: {"/env/data", "env ARBITER_DATA_DIR"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			opts := Options{Path: writeFile(t, tt.file), Flags: tt.flags}
			r, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Setting{}
			for _, s := range r.Settings() {
				got[s.Key] = s
			}
			for key, w := range tt.want {
				src := strings.ReplaceAll(w.source, "FILE", opts.Path)
				if g := got[key]; g.Value != w.value || g.Source.String() != src {
					t.Errorf("%s = %#v from %s, want %#v from %s", key, g.Value, g.Source, w.value, src)
				}
			}
		})
	}
}

func TestResolvedDaemon(t *testing.T) {
	cleanEnv(t)
	path := writeFile(t, `[daemon]
data_dir = "data"              # relative to the file
socket = "/run/a.sock"
key_file = "/etc/arbiter/secret.key"
jobs_dir = "jobs"
shutdown_grace = "45s"
max_running = 1_000
output_cap = 0x10000
log_level = "DEBUG"
`)
	t.Setenv("ARBITER_DAEMON_KEY_FILE", "k.key") // relative to the working directory
	cwd := t.TempDir()
	t.Chdir(cwd)
	r, err := Load(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	want := Daemon{
		DataDir: filepath.Join(dir, "data"), Socket: "/run/a.sock", KeyFile: filepath.Join(cwd, "k.key"),
		JobsDir: filepath.Join(dir, "jobs"), ShutdownGrace: 45 * time.Second, MaxRunning: 1000,
		OutputCap: 0x10000, LogLevel: slog.LevelDebug, Roles: arbiter.Roles, NodeLease: 10 * time.Second,
	}
	if !reflect.DeepEqual(r.Daemon, want) {
		t.Errorf("daemon =\n%+v\nwant\n%+v", r.Daemon, want)
	}
	if r.File != path || r.FileFrom != "--config" || r.Searched != "" {
		t.Errorf("file %q from %q, searched %q; want %q from --config", r.File, r.FileFrom, r.Searched, path)
	}
}

func TestSearchOrder(t *testing.T) {
	flagFile := writeFile(t, "[daemon]\nmax_running = 1\n")
	envFile := writeFile(t, "[daemon]\nmax_running = 2\n")
	xdg := t.TempDir()
	xdgFile := filepath.Join(xdg, "arbiter", "config.toml")
	if err := os.MkdirAll(filepath.Dir(xdgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(xdgFile, []byte("[daemon]\nmax_running = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	tests := []struct {
		name     string
		flag     string
		env      map[string]string
		euid     int
		file     string // read
		from     string
		searched string // looked for, missing
		max      int
	}{
		{"--config first", flagFile, map[string]string{EnvConfig: envFile, "XDG_CONFIG_HOME": xdg}, 1000, flagFile, "--config", "", 1},
		{"then $ARBITER_CONFIG", "", map[string]string{EnvConfig: envFile, "XDG_CONFIG_HOME": xdg}, 1000, envFile, "$ARBITER_CONFIG", "", 2},
		{"then XDG_CONFIG_HOME for a user", "", map[string]string{"XDG_CONFIG_HOME": xdg}, 1000, xdgFile, "default", "", 3},
		{"then ~/.config", "", map[string]string{"HOME": home}, 1000, "", "", filepath.Join(home, ".config", "arbiter", "config.toml"), 64},
		{"relative XDG_CONFIG_HOME is ignored", "", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": home}, 1000, "", "", filepath.Join(home, ".config", "arbiter", "config.toml"), 64},
		{"root reads the system file", "", map[string]string{"XDG_CONFIG_HOME": xdg}, 0, "", "", SystemFile, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.euid == 0 {
				if _, err := os.Stat(SystemFile); err == nil {
					t.Skip(SystemFile + " exists on this machine")
				}
			}
			r, err := load(Options{Path: tt.flag}, tt.euid)
			if err != nil {
				t.Fatal(err)
			}
			if r.File != tt.file || r.FileFrom != tt.from || r.Searched != tt.searched || r.MaxRunning != tt.max {
				t.Errorf("file %q from %q, searched %q, max_running %d; want %q from %q, searched %q, %d",
					r.File, r.FileFrom, r.Searched, r.MaxRunning, tt.file, tt.from, tt.searched, tt.max)
			}
		})
	}
}

func TestMissingNamedFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	tests := []struct {
		name string
		flag string
		env  string
		want string
	}{
		{"--config", missing, "", "config file " + missing + ": no such file (named by --config)"},
		{"$ARBITER_CONFIG", "", missing, "config file " + missing + ": no such file (named by $ARBITER_CONFIG)"},
		{"a directory", "", filepath.Dir(missing), "config file " + filepath.Dir(missing) + ": is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv(EnvConfig, tt.env)
			_, err := Load(Options{Path: tt.flag})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %s", err, tt.want)
			}
			if !errors.Is(err, arbiter.ErrInvalid) {
				t.Errorf("%v does not match arbiter.ErrInvalid", err)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // FILE is the file's path
	}{
		{
			name: "misspelt key",
			file: "[daemon]\nmax_runing = 3\n",
			want: []string{`FILE:2:1: unknown key "max_runing" (did you mean "max_running"?)`},
		},
		{
			name: "flag spelling",
			file: "[daemon]\n  data-dir = \"/x\"\n",
			want: []string{`FILE:2:3: unknown key "data-dir" (did you mean "data_dir"?)`},
		},
		{
			name: "alias",
			file: "[daemon]\nconcurrency = 3\n",
			want: []string{`FILE:2:1: unknown key "concurrency" (did you mean "max_running"?)`},
		},
		{
			name: "nothing close",
			file: "[daemon]\nfrobnicate = true\n",
			want: []string{`FILE:2:1: unknown key "frobnicate"; the keys are data_dir, socket, socket_group, key_file, jobs_dir, shutdown_grace, max_running, output_cap, log_level`},
		},
		{
			name: "misspelt table, its contents not reported",
			file: "[deamon]\nmax_runing = 3\n",
			want: []string{`FILE:1:2: unknown key "deamon" (did you mean "daemon"?)`},
		},
		{
			name: "setting outside the table",
			file: "max_running = 3\n[daemon]\n",
			want: []string{`FILE:1:1: max_running: put the settings in the [daemon] table`},
		},
		{
			name: "other table",
			file: "[jobs.backup]\nschedule = \"@daily\"\n",
			want: []string{`FILE:1:2: unknown key "jobs"; the settings go in the [daemon] table`},
		},
		{
			name: "wrong types, all reported",
			file: "[daemon]\nmax_running = \"8\"\nshutdown_grace = 30\nsocket = 1\noutput_cap = 1.5\nlog_level = true\n",
			want: []string{
				`FILE:2:15: max_running: expected an integer, got a string`,
				`FILE:3:18: shutdown_grace: expected a duration string such as "30s" or "1m30s", got an integer`,
				`FILE:4:10: socket: expected a string, got an integer`,
				`FILE:5:14: output_cap: expected an integer, got a float`,
				`FILE:6:13: log_level: expected a string, got a boolean`,
			},
		},
		{
			name: "bad values",
			file: "[daemon]\nshutdown_grace = \"soon\"\nmax_running = 0\noutput_cap = 10\nlog_level = \"loud\"\n",
			want: []string{
				`FILE:2:18: shutdown_grace: "soon" is not a duration such as "30s" or "1m30s"`,
				`FILE:3:15: max_running must be at least 1`,
				`FILE:4:14: output_cap must be at least 1024 bytes`,
				`FILE:5:13: log_level: "loud" is not one of debug, info, warn, error`,
			},
		},
		{
			name: "cluster settings, bad values",
			file: "[daemon]\nstore = \"mysql://u:hunter2@db/x\"\nroles = \"cook,worker\"\nlabels = \"gpu,GPU!\"\nnode_name = \"Node 1\"\nnode_lease = \"500ms\"\n",
			want: []string{
				`FILE:2:9: store: "mysql://u:xxxxx@db/x" is not a store: leave it out for the SQLite file in the data dir, or give a URL such as postgres://arbiter@db.example.com/arbiter`,
				`FILE:3:9: roles: "cook" is not a role: use a comma-separated list of scheduler, worker and api`,
				`FILE:4:10: labels: "GPU!" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`,
				`FILE:5:13: node_name: "Node 1" is not a valid node name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`,
				`FILE:6:14: node_lease must be at least 1s: a node sends a heartbeat every fifth of it`,
			},
		},
		{
			name: "cluster settings without a Postgres store",
			file: "[daemon]\nroles = \"worker\"\nlabels = \"gpu\"\n",
			want: []string{
				`FILE:2:9: roles is a setting of a node of a cluster, which needs a Postgres store: set store too (--store postgres://user@host/db)`,
				`FILE:3:10: labels is a setting of a node of a cluster, which needs a Postgres store: set store too (--store postgres://user@host/db)`,
			},
		},
		{
			name: "dotted keys are checked too",
			file: "daemon.max_runing = 1\n",
			want: []string{`FILE:1:8: unknown key "max_runing" (did you mean "max_running"?)`},
		},
		{
			name: "inline table",
			file: "daemon = { max_running = 2, sockte = \"/s\" }\n",
			want: []string{`FILE:1:29: unknown key "sockte" (did you mean "socket"?)`},
		},
		{
			name: "nested table",
			file: "[daemon.socket]\npath = \"/s\"\n",
			want: []string{`FILE:1:9: socket: expected a string, got a table`},
		},
		{
			name: "array of tables",
			file: "[[daemon]]\nmax_running = 2\n",
			want: []string{`FILE:1:3: daemon: use one [daemon] table, not [[daemon]]`},
		},
		{
			name: "syntax",
			file: "[daemon]\nmax_running = = 3\n",
			want: []string{`FILE:2:15: `},
		},
		{
			name: "duplicate key",
			file: "[daemon]\nmax_running = 3\nmax_running = 4\n",
			want: []string{`FILE:3:1: `},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			path := writeFile(t, tt.file)
			_, err := Load(Options{Path: path})
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant %d", err, len(tt.want))
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", path)
				if !strings.HasPrefix(got[i], w) || strings.HasSuffix(w, " ") && len(got[i]) == len(w) {
					t.Errorf("error %d = %q, want %q", i, got[i], w)
				}
			}
			if !errors.Is(err, arbiter.ErrInvalid) {
				t.Errorf("%v does not match arbiter.ErrInvalid", err)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name, env, value, want string
	}{
		{"not a number", "ARBITER_DAEMON_MAX_RUNNING", "x", `ARBITER_DAEMON_MAX_RUNNING: "x" is not a whole number`},
		{"too small", "ARBITER_DAEMON_MAX_RUNNING", "0", `ARBITER_DAEMON_MAX_RUNNING must be at least 1`},
		{"cap", "ARBITER_DAEMON_OUTPUT_CAP", "1k", `ARBITER_DAEMON_OUTPUT_CAP: "1k" is not a whole number`},
		{"grace", "ARBITER_DAEMON_SHUTDOWN_GRACE", "30", `ARBITER_DAEMON_SHUTDOWN_GRACE: "30" is not a duration such as "30s" or "1m30s"`},
		{"negative grace", "ARBITER_DAEMON_SHUTDOWN_GRACE", "-1s", `ARBITER_DAEMON_SHUTDOWN_GRACE must not be negative`},
		{"level", "ARBITER_DAEMON_LOG_LEVEL", "loud", `ARBITER_DAEMON_LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv(tt.env, tt.value)
			// The file is fine; the error names the variable, not the file.
			_, err := Load(Options{Path: writeFile(t, "[daemon]\nmax_running = 3\n")})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %s", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Source.Origin != FromEnv || ce.Source.Name != tt.env {
				t.Errorf("error source = %+v, want env %s", ce, tt.env)
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	cleanEnv(t)
	_, err := Load(Options{Path: writeFile(t, ""), Flags: []Flag{
		{KeyMaxRunning, "--max-running", "0"},
		{KeyLogLevel, "--log-level", "loud"},
	}})
	want := "--max-running must be at least 1\n--log-level: \"loud\" is not one of debug, info, warn, error"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"max_runing": KeyMaxRunning, "MaxRunning": KeyMaxRunning, "data-dir": KeyDataDir, "datadir": KeyDataDir,
		"scoket": KeySocket, "log-level": KeyLogLevel, "workers": KeyMaxRunning, "grace": KeyShutdownGrace,
		"zzz": "",
	} {
		if got := suggest(key, Keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
