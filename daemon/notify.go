package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// notifier speaks systemd's sd_notify protocol, so a Type=notify (or notify-reload) unit knows
// when the daemon is ready, reloading and stopping. Outside systemd it does nothing.
type notifier struct {
	addr *net.UnixAddr // nil when NOTIFY_SOCKET is unset
	log  *slog.Logger
}

// newNotifier reads NOTIFY_SOCKET and removes it from the environment: jobs inherit the
// daemon's environment, and a job that could reach the socket could tell systemd the daemon is
// ready, reloading or stopping, or give it another MAINPID.
func newNotifier(log *slog.Logger) *notifier {
	path, ok := os.LookupEnv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	n := &notifier{log: log}
	switch {
	case !ok || path == "":
	case path[0] == '/' || path[0] == '@':
		// Go's net package turns a leading '@' into the leading NUL of an abstract socket.
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	default:
		log.Warn("NOTIFY_SOCKET ignored: only Unix socket paths and abstract sockets are supported", "notify_socket", path)
	}
	return n
}

// notify sends the state lines. A failure is logged only: systemd may be gone or the unit
// misconfigured, and neither is a reason to stop scheduling.
func (n *notifier) notify(state ...string) {
	if n.addr == nil {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err == nil {
		_, err = conn.Write([]byte(strings.Join(state, "\n") + "\n"))
		conn.Close()
	}
	if err != nil {
		n.log.Warn("cannot notify systemd", "notify_socket", n.addr.Name, "state", state[0], "err", err)
	}
}

func (n *notifier) ready(status string) {
	n.notify("READY=1", fmt.Sprintf("MAINPID=%d", os.Getpid()), "STATUS="+status)
}

// reloading carries the CLOCK_MONOTONIC time, which systemd needs to tell this reload cycle
// from an earlier one (a Type=notify-reload unit waits for it after sending SIGHUP).
func (n *notifier) reloading() {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail with CLOCK_MONOTONIC
	n.notify("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000), "STATUS=reloading the jobs dir")
}

func (n *notifier) stopping() { n.notify("STOPPING=1", "STATUS=stopping") }

// readyStatus is the STATUS= systemd shows for a ready daemon.
func (d *Daemon) readyStatus() string { return "listening on " + d.cfg.Socket }
