package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiterd/arbiter/api"
)

// listenNotify stands in for systemd: a unixgram socket at addr, named in NOTIFY_SOCKET.
func listenNotify(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	return conn
}

// nextNotify returns the next datagram's fields, failing the test after a deadline.
func nextNotify(t *testing.T, conn *net.UnixConn) map[string]string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("waiting for a notification: %v", err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(string(buf[:n])) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		fields[k] = v
	}
	return fields
}

// The unit is Type=notify: systemd starts dependent units and `systemctl start` returns when
// READY=1 arrives, so it must not come before the socket answers.
func TestNotifySystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "arbn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sd := listenNotify(t, filepath.Join(dir, "notify"))

	hc, stop := startAt(t, dir, Config{ShutdownGrace: time.Second})
	ready := nextNotify(t, sd)
	if ready["READY"] != "1" || ready["MAINPID"] != strconv.Itoa(os.Getpid()) {
		t.Fatalf("first notification = %v, want READY=1 and MAINPID=%d", ready, os.Getpid())
	}
	resp, err := hc.Get("http://arbiter/v1/status")
	if err != nil {
		t.Fatalf("socket does not answer after READY=1: %v", err)
	}
	resp.Body.Close()
	if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Errorf("NOTIFY_SOCKET=%q still in the daemon's environment", v)
	}

	// A job must not inherit the socket: it could notify systemd on the daemon's behalf.
	body := `{"name":"env","schedule":"0 0 1 1 *","command":["sh","-c","echo ${NOTIFY_SOCKET-unset}"]}`
	resp, err = hc.Post("http://arbiter/v1/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = hc.Post("http://arbiter/v1/jobs/env/trigger", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run api.Run
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(fmt.Sprintf("http://arbiter/v1/runs/%d/output?follow=1", run.ID))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(out) != "unset\n" {
		t.Errorf("job saw NOTIFY_SOCKET %q (%v), want it unset", out, err)
	}

	// SIGHUP reloads: RELOADING=1 with the monotonic time, then READY=1 again. The daemon
	// catches SIGHUP from before its first READY=1, so this does not kill the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := nextNotify(t, sd); got["RELOADING"] != "1" || got["MONOTONIC_USEC"] == "" {
		t.Errorf("after SIGHUP: %v, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if got := nextNotify(t, sd); got["READY"] != "1" {
		t.Errorf("after the reload: %v, want READY=1", got)
	}
	// So does POST /v1/reload, which `arbiter reload` (the unit's ExecReload) sends; here it
	// fails, as the daemon has no jobs dir, and systemd still hears the daemon is ready again.
	resp, err = hc.Post("http://arbiter/v1/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := nextNotify(t, sd); got["RELOADING"] != "1" {
		t.Errorf("at POST /v1/reload: %v, want RELOADING=1", got)
	}
	if got := nextNotify(t, sd); got["READY"] != "1" || got["STATUS"] != "listening on "+filepath.Join(dir, "s.sock") {
		t.Errorf("after POST /v1/reload: %v, want READY=1 and the socket in STATUS", got)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := nextNotify(t, sd); got["STOPPING"] != "1" {
		t.Errorf("at stop: %v, want STOPPING=1", got)
	}
}

func TestNotifierAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@arbiter-test-%d", os.Getpid())
	sd := listenNotify(t, name)
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.stopping()
	if got := nextNotify(t, sd); got["STOPPING"] != "1" {
		t.Errorf("got %v, want STOPPING=1", got)
	}
}

func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.ready("ok") // nothing to send to, and nothing to fail
	if n.addr != nil {
		t.Errorf("addr = %v without NOTIFY_SOCKET", n.addr)
	}
}
