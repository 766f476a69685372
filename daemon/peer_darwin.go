package daemon

import "golang.org/x/sys/unix"

// peerCred reads who is on the other end of a Unix socket connection. macOS spells
// SO_PEERCRED as LOCAL_PEERCRED; its first group is the effective one.
func peerCred(fd int) peer {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil || cred.Ngroups < 1 {
		return peer{}
	}
	return peer{uid: int(cred.Uid), gid: int(cred.Groups[0]), ok: true}
}
