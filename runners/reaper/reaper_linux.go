package reaper

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitAll makes wait4 take clone children too, whatever signal they report their end with.
const waitAll = unix.WALL

func setSubreaper(on bool) error {
	v := uintptr(0)
	if on {
		v = 1
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, v, 0, 0, 0)
}

func isSubreaper() (bool, error) {
	var v int32
	// PR_GET_CHILD_SUBREAPER stores through its argument: syscall.Syscall keeps &v valid.
	_, _, errno := syscall.Syscall(syscall.SYS_PRCTL, unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0)
	if errno != 0 {
		return false, errno
	}
	return v != 0, nil
}
