package interop

import (
	"os/exec"
	"syscall"
)

// stopWithParent makes the kernel send Dovecot's master SIGTERM if the test
// binary dies without running TestMain's cleanup (a -timeout panic).
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
