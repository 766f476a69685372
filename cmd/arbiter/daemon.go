package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/daemon"
	"github.com/arbiterd/arbiter/internal/config"
)

// daemonConfig is what `arbiter daemon` hands to the daemon once its flags, environment and
// config file are resolved.
type daemonConfig struct {
	DataDir       string        // absolute; holds the database and the secrets key
	Socket        string        // absolute path of the control socket
	SocketGroup   string        // group (name or gid) allowed on the socket besides root and the daemon's uid; "" for none
	ShutdownGrace time.Duration // how long runs may finish after the first signal before they are cancelled
	LogLevel      slog.Level
	KeyFile       string // the secrets master key; "" for the default
	JobsDir       string // job files applied at start and on reload; "" for none
	MaxRunning    int    // runs executing at once
	OutputCap     int64  // bytes of output kept per run
	Store         string // "" for SQLite in the data dir, or a postgres:// URL
	NodeName      string
	Roles         []arbiter.Role
	Labels        []string
	NodeLease     time.Duration
	Version       string // this binary's version and commit, for /v1/version and /v1/status
	Commit        string
}

// settingFlags maps the flags that set daemon settings to their config keys. --socket is the
// root's persistent flag, which means the daemon's socket here.
var settingFlags = []struct{ flag, key string }{
	{"data-dir", config.KeyDataDir},
	{"socket", config.KeySocket},
	{"socket-group", config.KeySocketGroup},
	{"key-file", config.KeyKeyFile},
	{"jobs", config.KeyJobsDir},
	{"shutdown-grace", config.KeyShutdownGrace},
	{"max-running", config.KeyMaxRunning},
	{"output-cap", config.KeyOutputCap},
	{"log-level", config.KeyLogLevel},
	{"store", config.KeyStore},
	{"node-name", config.KeyNodeName},
	{"roles", config.KeyRoles},
	{"label", config.KeyLabels},
	{"node-lease", config.KeyNodeLease},
}

func (a *app) daemonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the scheduler",
		Long: `Run the scheduler in the foreground, serving the control API on the socket.

Settings come from the flags, else the environment (ARBITER_DAEMON_<KEY>, such as
ARBITER_DAEMON_MAX_RUNNING; ARBITER_DATA_DIR and ARBITER_SOCKET too), else the config file,
else the defaults. The config file is --config, else $ARBITER_CONFIG, else
/etc/arbiter/arbiter.toml for root, else $XDG_CONFIG_HOME/arbiter/config.toml
(~/.config/arbiter/config.toml); 'arbiter config' shows the result.

The first SIGINT or SIGTERM stops new runs and lets running ones finish for --shutdown-grace;
a second one cancels them at once.`,
		Args:        argsNamed(0),
		Annotations: map[string]string{annSignals: "self"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := daemonSettings(cmd)
			if err != nil {
				return err
			}
			if path, _ := cmd.Flags().GetString("cpu-profile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runDaemon(cmd.Context(), cfg, a.err)
		},
	}
	// The flags' defaults are only shown in the help: a flag counts only when it is given,
	// so that it does not hide the environment and the config file.
	d := config.Defaults()
	fl := cmd.Flags()
	configFlag(cmd)
	fl.String("data-dir", "", "data directory (default $ARBITER_DATA_DIR, else /var/lib/arbiter for root, else $XDG_STATE_HOME/arbiter)")
	fl.String("socket-group", "", "group allowed to use the socket, besides root and the daemon's own user")
	fl.String("jobs", "", "directory of job files applied at start and on reload")
	fl.Duration("shutdown-grace", d.ShutdownGrace, "how long running jobs may finish on shutdown")
	fl.String("log-level", "info", "log level: debug, info, warn or error")
	fl.String("key-file", "", "the secrets master key (default $CREDENTIALS_DIRECTORY/arbiter.key, else secret.key in the data dir)")
	fl.Int("max-running", d.MaxRunning, "runs executing at once; later ones wait, queued")
	fl.Int64("output-cap", d.OutputCap, "bytes of output kept per run: the first and last halves, with a marker where the middle was dropped")
	fl.String("store", "", "a postgres://user@host/db URL shared by the nodes of a cluster (default: the SQLite file in the data dir)")
	fl.String("node-name", "", "this node's name in a cluster (default: from the host name)")
	fl.String("roles", "scheduler,worker,api", "what this node of a cluster does: scheduler (stands for election), worker (runs jobs), api (serves the socket)")
	fl.StringSlice("label", nil, "a label of this node of a cluster, for jobs that require it (repeatable, or comma-separated)")
	fl.Duration("node-lease", d.NodeLease, "how long a node of a cluster counts as alive after its last heartbeat; its runs are then lost and retried elsewhere")
	// For BENCHMARKS.md and for reports of a slow daemon: `go tool pprof FILE` reads it.
	fl.String("cpu-profile", "", "write a CPU profile of the daemon's whole life to this file")
	_ = fl.MarkHidden("cpu-profile")
	_ = cmd.MarkFlagDirname("jobs")
	_ = cmd.RegisterFlagCompletionFunc("log-level",
		cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// configFlag adds --config to cmd.
func configFlag(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "the daemon's config file (default $ARBITER_CONFIG, else /etc/arbiter/arbiter.toml for root, else $XDG_CONFIG_HOME/arbiter/config.toml)")
	_ = cmd.MarkFlagFilename("config", "toml")
}

// loadConfig resolves the daemon's settings from the flags of cmd that were given, the
// environment and the config file. A bad flag is a usage error; a bad variable or file
// matches arbiter.ErrInvalid.
func loadConfig(cmd *cobra.Command) (*config.Resolved, error) {
	configPath, _ := cmd.Flags().GetString("config")
	var flags []config.Flag
	for _, sf := range settingFlags {
		// Changed: a flag left at its default must not win over the environment or the file.
		if f := cmd.Flags().Lookup(sf.flag); f != nil && f.Changed {
			value := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				value = strings.Join(sv.GetSlice(), ",") // String() would bracket the list
			}
			flags = append(flags, config.Flag{Key: sf.key, Name: "--" + sf.flag, Value: value})
		}
	}
	r, err := config.Load(config.Options{Path: configPath, Flags: flags})
	if err != nil && blamesFlag(err) {
		return nil, &usageError{cmd: cmd.CommandPath(), err: err}
	}
	return r, err
}

// blamesFlag reports whether any of the errors err joins is about a command-line flag.
func blamesFlag(err error) bool {
	var ce *config.Error
	if errors.As(err, &ce) && ce.Source.Origin == config.FromFlag {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return slices.ContainsFunc(j.Unwrap(), blamesFlag)
	}
	return false
}

// daemonSettings is the daemon's configuration for cmd.
func daemonSettings(cmd *cobra.Command) (daemonConfig, error) {
	r, err := loadConfig(cmd)
	if err != nil {
		return daemonConfig{}, err
	}
	return daemonConfig{
		DataDir:       r.DataDir,
		Socket:        r.Socket,
		SocketGroup:   r.SocketGroup,
		ShutdownGrace: r.ShutdownGrace,
		LogLevel:      r.LogLevel,
		KeyFile:       r.KeyFile,
		JobsDir:       r.JobsDir,
		MaxRunning:    r.MaxRunning,
		OutputCap:     r.OutputCap,
		Store:         r.Store,
		NodeName:      r.NodeName,
		Roles:         r.Roles,
		Labels:        r.Labels,
		NodeLease:     r.NodeLease,
		Version:       version,
		Commit:        commit,
	}, nil
}

// runDaemon runs the daemon until ctx is done or it stops on a signal.
func runDaemon(ctx context.Context, cfg daemonConfig, stderr io.Writer) error {
	return daemon.Run(ctx, daemon.Config{
		DataDir:       cfg.DataDir,
		Socket:        cfg.Socket,
		SocketGroup:   cfg.SocketGroup,
		ShutdownGrace: cfg.ShutdownGrace,
		KeyFile:       cfg.KeyFile,
		JobsDir:       cfg.JobsDir,
		MaxRunning:    cfg.MaxRunning,
		OutputCap:     cfg.OutputCap,
		Store:         cfg.Store,
		NodeName:      cfg.NodeName,
		Roles:         cfg.Roles,
		Labels:        cfg.Labels,
		NodeLease:     cfg.NodeLease,
		Heartbeat:     cfg.NodeLease / 5,
		Version:       cfg.Version,
		Commit:        cfg.Commit,
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})),
	})
}

// startCPUProfile profiles the process into path until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
