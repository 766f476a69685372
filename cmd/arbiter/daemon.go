package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/daemon"
	"github.com/arbiterd/arbiter/internal/paths"
)

// daemonConfig is what `arbiter daemon` hands to the daemon once its flags and environment
// are resolved.
type daemonConfig struct {
	DataDir       string        // absolute; holds the database and the secrets key
	Socket        string        // absolute path of the control socket
	SocketGroup   string        // group (name or gid) allowed on the socket besides root and the daemon's uid; "" for none
	ShutdownGrace time.Duration // how long runs may finish after the first signal before they are cancelled
	LogLevel      slog.Level
	KeyFile       string // the secrets master key; "" for the default
	MaxRunning    int    // runs executing at once
	OutputCap     int64  // bytes of output kept per run
	Version       string // this binary's version and commit, for /v1/version and /v1/status
	Commit        string
}

// daemonFlags are the daemon command's own flags, before resolution.
type daemonFlags struct {
	dataDir, socketGroup, logLevel, keyFile string
	shutdownGrace                           time.Duration
	maxRunning                              int
	outputCap                               int64
}

func (a *app) daemonCmd() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the scheduler",
		Long: `Run the scheduler in the foreground, serving the control API on the socket.

The first SIGINT or SIGTERM stops new runs and lets running ones finish for --shutdown-grace;
a second one cancels them at once.`,
		Args:        argsNamed(0),
		Annotations: map[string]string{annSignals: "self"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd, a.socket)
			if err != nil {
				return err
			}
			return runDaemon(cmd.Context(), cfg, a.err)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (default $ARBITER_DATA_DIR, else /var/lib/arbiter for root, else $XDG_STATE_HOME/arbiter)")
	fl.StringVar(&f.socketGroup, "socket-group", "", "group allowed to use the socket, besides root and the daemon's own user")
	fl.DurationVar(&f.shutdownGrace, "shutdown-grace", 30*time.Second, "how long running jobs may finish on shutdown")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.keyFile, "key-file", "", "the secrets master key (default $CREDENTIALS_DIRECTORY/arbiter.key, else secret.key in the data dir)")
	fl.IntVar(&f.maxRunning, "max-running", 64, "runs executing at once; later ones wait, queued")
	fl.Int64Var(&f.outputCap, "output-cap", 1<<20, "bytes of output kept per run: the first and last halves, with a marker where the middle was dropped")
	_ = cmd.RegisterFlagCompletionFunc("log-level",
		cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// config resolves the flags: a flag wins over its environment variable, which wins over the
// default for the user.
func (f daemonFlags) config(cmd *cobra.Command, socket string) (daemonConfig, error) {
	cfg := daemonConfig{
		SocketGroup:   f.socketGroup,
		ShutdownGrace: f.shutdownGrace,
		Version:       version,
		Commit:        commit,
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, usagef(cmd, "--log-level: %q is not one of debug, info, warn, error", f.logLevel)
	}
	if f.shutdownGrace < 0 {
		return cfg, usagef(cmd, "--shutdown-grace must not be negative")
	}
	if f.maxRunning < 1 {
		return cfg, usagef(cmd, "--max-running must be at least 1")
	}
	if f.outputCap < 1024 {
		return cfg, usagef(cmd, "--output-cap must be at least 1024 bytes")
	}
	cfg.MaxRunning, cfg.OutputCap = f.maxRunning, f.outputCap
	var err error
	if f.keyFile != "" {
		if cfg.KeyFile, err = filepath.Abs(f.keyFile); err != nil {
			return cfg, fmt.Errorf("key file: %w", err)
		}
	}
	if cfg.DataDir = f.dataDir; cfg.DataDir == "" {
		if cfg.DataDir, err = paths.DataDir(); err != nil {
			return cfg, err
		}
	}
	if cfg.Socket = socket; cfg.Socket == "" {
		cfg.Socket = paths.Socket(cfg.DataDir)
	}
	// Absolute, so that they still mean the same after the daemon changes directory and so
	// that status reports paths clients can use.
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return cfg, fmt.Errorf("data dir: %w", err)
	}
	if cfg.Socket, err = filepath.Abs(cfg.Socket); err != nil {
		return cfg, fmt.Errorf("socket: %w", err)
	}
	return cfg, nil
}

// runDaemon runs the daemon until ctx is done or it stops on a signal.
func runDaemon(ctx context.Context, cfg daemonConfig, stderr io.Writer) error {
	return daemon.Run(ctx, daemon.Config{
		DataDir:       cfg.DataDir,
		Socket:        cfg.Socket,
		SocketGroup:   cfg.SocketGroup,
		ShutdownGrace: cfg.ShutdownGrace,
		KeyFile:       cfg.KeyFile,
		MaxRunning:    cfg.MaxRunning,
		OutputCap:     cfg.OutputCap,
		Version:       cfg.Version,
		Commit:        cfg.Commit,
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})),
	})
}
