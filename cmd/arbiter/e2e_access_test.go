package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A user outside the socket's group is refused by the kernel (the socket is 0660) with a
// message that names the group to join; a member gets in. setpriv (util-linux) runs the built
// CLI as nobody, since the tests run as root, whom no socket refuses.
func TestRefusedOutsideSocketGroup(t *testing.T) {
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv to run the CLI as another user")
	}
	bin := binary(t)
	dir := shortDir(t)
	// nobody must reach the binary and the socket's directory (both made 0700 by MkdirTemp).
	for _, d := range []string{filepath.Dir(bin), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemonWith(t, daemonOpts{socket: filepath.Join(dir, "s.sock"), args: []string{"--socket-group", "daemon"}})

	as := func(gid string) result {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid="+gid, "--clear-groups", bin, "status", "--socket", d.socket)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
	}
	r := as("65534")
	want := "arbiter: permission denied on " + d.socket + `: it belongs to group "daemon"; ask an administrator to add you (sudo usermod -aG daemon $USER), then log in again`
	if r.code != 1 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("as a non-member: %s\nwant stderr %q", r, want)
	}
	if r := as("1"); r.code != 0 { // gid 1 is group daemon
		t.Errorf("as a member of group daemon: %s", r)
	}
}
