//go:build !unix

package providers

import "os/exec"

// configureProcessGroup leaves the default cancellation (killing the command
// itself) on systems without Unix process groups; children the command
// started are not tracked there.
func configureProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup does nothing on systems without Unix process groups.
func killProcessGroup(cmd *exec.Cmd) {}
