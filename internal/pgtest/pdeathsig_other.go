//go:build !linux

package pgtest

import "syscall"

// dieWithTests does nothing where there is no parent-death signal: a killed test binary leaves
// its server running, and the next Start removes only its files (see removeStale).
func dieWithTests(*syscall.SysProcAttr) {}
