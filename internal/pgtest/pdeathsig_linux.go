package pgtest

import "syscall"

// dieWithTests makes a test binary that is killed not leave a server behind: the kernel sends
// the postmaster SIGQUIT (immediate shutdown) when we die. Go sets the death signal after
// changing the credentials, so the change of user does not clear it.
func dieWithTests(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGQUIT }
