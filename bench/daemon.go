package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arbiterd/arbiter/client"
)

// daemonOptions say how to start a daemon. Zero values leave the daemon's defaults.
type daemonOptions struct {
	maxRunning int   // --max-running
	outputCap  int64 // --output-cap
}

// daemonProc is one real `arbiter daemon` process in a directory of its own, which holds its
// data dir, socket, empty config file, home and log.
type daemonProc struct {
	dir     string
	socket  string
	client  *client.Client
	startup time.Duration // from exec until /v1/status answered

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// homeDir makes dir a daemon's home: an empty config file, so that no config file of the
// user or the system is read, and home and XDG dirs inside it.
func homeDir(dir string) error {
	for _, d := range []string{"data", "home/.config", "home/.local/state", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "config.toml"), nil, 0o600)
}

// isolatedEnv is the environment of every arbiter process the harness starts: the harness's
// own without ARBITER_ variables (which would pick another socket, data dir or setting), with
// the config file, home and XDG dirs inside dir.
func isolatedEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "ARBITER_"), k == "HOME", strings.HasPrefix(k, "XDG_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"ARBITER_CONFIG="+filepath.Join(dir, "config.toml"),
		"HOME="+filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "home/.config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "home/.local/state"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
	)
}

// startDaemon starts a daemon whose home is dir (made if need be; a data dir already there is
// reused) and waits until it answers.
func startDaemon(ctx context.Context, bin, dir string, o daemonOptions) (*daemonProc, error) {
	if err := homeDir(dir); err != nil {
		return nil, fmt.Errorf("prepare daemon dir: %w", err)
	}
	d := &daemonProc{
		dir:     dir,
		socket:  filepath.Join(dir, "s.sock"),
		logPath: filepath.Join(dir, "daemon.log"),
		done:    make(chan struct{}),
	}
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{"daemon", "--data-dir", filepath.Join(dir, "data"), "--socket", d.socket}
	if o.maxRunning > 0 {
		args = append(args, "--max-running", strconv.Itoa(o.maxRunning))
	}
	if o.outputCap > 0 {
		args = append(args, "--output-cap", strconv.FormatInt(o.outputCap, 10))
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = isolatedEnv(dir)
	d.cmd.Dir = dir
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.client = client.New(d.socket)

	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start daemon: %w", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	if err := d.waitReady(ctx, start); err != nil {
		d.kill()
		return nil, err
	}
	return d, nil
}

// readyTimeout bounds a daemon's start-up: generous, as a large database is part of what is
// measured.
const readyTimeout = 3 * time.Minute

// waitReady polls /v1/status every 2 ms (the resolution of the start-up figure) until it
// answers.
func (d *daemonProc) waitReady(ctx context.Context, start time.Time) error {
	deadline := start.Add(readyTimeout)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := d.client.Status(callCtx)
		cancel()
		if err == nil {
			d.startup = time.Since(start)
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("daemon exited before it answered: %v\n%s", d.waitErr, d.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon did not answer within %s: %v\n%s", readyTimeout, err, d.logTail())
		}
	}
}

func (d *daemonProc) pid() int { return d.cmd.Process.Pid }

// stopTimeout is how long a stopped daemon may take to exit: its shutdown grace (30 s) and a
// margin.
const stopTimeout = 45 * time.Second

// stop sends SIGTERM and waits for the daemon to exit; it is an error when the daemon had to
// be killed or did not exit cleanly.
func (d *daemonProc) stop() error {
	select {
	case <-d.done:
		return fmt.Errorf("daemon had already exited: %v\n%s", d.waitErr, d.logTail())
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		d.kill()
		return fmt.Errorf("daemon did not exit within %s of SIGTERM; killed\n%s", stopTimeout, d.logTail())
	}
	if d.waitErr != nil {
		return fmt.Errorf("daemon exited with %v\n%s", d.waitErr, d.logTail())
	}
	return nil
}

// kill ends the daemon at once, if it still runs; for error paths.
func (d *daemonProc) kill() {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// logTail is the end of the daemon's log, for error messages.
func (d *daemonProc) logTail() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return "daemon log (tail):\n" + string(b)
}

// cli runs the arbiter CLI against this daemon with stdout going to out.
func (d *daemonProc) cli(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--socket", d.socket}, args...)...)
	cmd.Env = isolatedEnv(d.dir)
	cmd.Dir = d.dir
	return cmd
}

// procMem is a process's memory from /proc/PID/status, in bytes.
type procMem struct {
	RSS int64 `json:"vm_rss"` // resident now
	HWM int64 `json:"vm_hwm"` // peak resident
}

func readMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := bytes.Fields(v) // "12345 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return procMem{}, fmt.Errorf("/proc/%d/status: cannot read %q", pid, line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return procMem{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		*dst = kb << 10
	}
	return m, nil
}

// readCPU is the CPU time a process has used: utime + stime of /proc/PID/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields from
	// the last ')'. utime and stime are fields 14 and 15 of the whole line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks()), nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100 // USER_HZ on every Linux architecture Go supports
})
