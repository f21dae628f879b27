package plugins

import (
	"os"
	"os/exec"
	"syscall"
)

// parentDeathSignal asks the kernel to kill the plugin when the thread that
// started it exits (PR_SET_PDEATHSIG). The host starts plugins from a
// goroutine locked to its own OS thread that lives as long as the plugin,
// so the signal means "the host is gone", never "a thread ended".
func parentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// pinnedThread reports whether plugins must be started from a locked
// thread for parentDeathSignal to be sound.
const pinnedThread = true

// execOpened makes cmd run the file f that the host opened and hashed,
// rather than whatever path names by the time it runs: the child execs
// /proc/self/fd/3, its copy of f. Scripts (#!) are run by path instead,
// because their interpreter must open the script by a name it can read and
// resolve imports from; for them the window between hashing and running
// stays open (see docs/plugins.md).
func execOpened(cmd *exec.Cmd, f *os.File, elf bool) {
	if !elf {
		return
	}
	cmd.Path = "/proc/self/fd/3"
	cmd.ExtraFiles = []*os.File{f}
}
