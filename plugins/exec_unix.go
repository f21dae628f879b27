//go:build unix

package plugins

import (
	"os/exec"
	"syscall"
)

// isolate puts the plugin in a process group of its own, so that a
// terminal's signals reach the host only and Close can end the plugin's
// children with it.
func isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	parentDeathSignal(cmd)
}

// killGroup kills every process left in the plugin's process group.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
