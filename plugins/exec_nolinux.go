//go:build !linux

package plugins

import (
	"os"
	"os/exec"
)

func parentDeathSignal(*exec.Cmd) {}

const pinnedThread = false

// execOpened runs the plugin by path: outside Linux there is no portable
// way to execute an open file, so the window between hashing the file and
// running it stays open (see docs/plugins.md).
func execOpened(*exec.Cmd, *os.File, bool) {}
