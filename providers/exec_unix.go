//go:build unix

package providers

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// configureProcessGroup starts the command as the leader of a new process
// group, and makes cancellation (timeout, caller's context, output overflow)
// kill that whole group, so that children the command started die with it.
func configureProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}

// killProcessGroup kills whatever is left in the command's process group
// after the command itself has exited. The group's ID stays reserved while
// any member is alive, so a live group is always the command's; an empty
// group makes the call fail with ESRCH, which is ignored.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
