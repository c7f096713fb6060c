package redistest

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill redis-server if the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL), so a failed
// run leaves no server behind.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
