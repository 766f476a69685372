package daemon

import "golang.org/x/sys/unix"

// peerCred reads who is on the other end of a Unix socket connection.
func peerCred(fd int) peer {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return peer{}
	}
	return peer{uid: int(cred.Uid), gid: int(cred.Gid), ok: true}
}
