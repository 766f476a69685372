// Package paths resolves where arbiter keeps its data and its control socket, so that the
// daemon and every client agree on them without talking to each other first.
package paths

import (
	"errors"
	"os"
	"path/filepath"
)

// Environment variables that override the defaults. Command-line flags override these.
const (
	EnvDataDir = "ARBITER_DATA_DIR"
	EnvSocket  = "ARBITER_SOCKET"
)

// System-wide locations, used when running as root.
const (
	SystemDataDir = "/var/lib/arbiter"
	SystemSocket  = "/run/arbiter/arbiter.sock"
)

// DataDir is $ARBITER_DATA_DIR, else /var/lib/arbiter for root, else $XDG_STATE_HOME/arbiter
// (~/.local/state/arbiter when XDG_STATE_HOME is unset).
func DataDir() (string, error) { return dataDir(os.Geteuid()) }

func dataDir(euid int) (string, error) {
	if d := os.Getenv(EnvDataDir); d != "" {
		return d, nil
	}
	if euid == 0 {
		return SystemDataDir, nil
	}
	if d := xdg("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "arbiter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("cannot find a data directory: set ARBITER_DATA_DIR, XDG_STATE_HOME or HOME")
	}
	return filepath.Join(home, ".local", "state", "arbiter"), nil
}

// Socket is $ARBITER_SOCKET, else /run/arbiter/arbiter.sock for root, else
// $XDG_RUNTIME_DIR/arbiter/arbiter.sock, else arbiter.sock in dataDir. It returns "" only when
// it needs dataDir and dataDir is "", so callers that could not resolve the data dir can
// still use a socket given some other way.
func Socket(dataDir string) string { return socket(os.Geteuid(), dataDir) }

func socket(euid int, dataDir string) string {
	if s := os.Getenv(EnvSocket); s != "" {
		return s
	}
	if euid == 0 {
		return SystemSocket
	}
	if d := xdg("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "arbiter", "arbiter.sock")
	}
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "arbiter.sock")
}

// xdg reads an XDG base directory variable. The XDG spec says relative paths are invalid and
// must be ignored; honouring one would put the socket wherever the caller happens to be.
func xdg(name string) string {
	if d := os.Getenv(name); filepath.IsAbs(d) {
		return d
	}
	return ""
}
