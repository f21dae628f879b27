package main

import (
	"io"
	"os"
)

// stdio is where a command writes, and whether it may use colour.
type stdio struct {
	stdout, stderr io.Writer
	// color is true when standard output is a terminal that takes ANSI
	// colour (and NO_COLOR is not set).
	color bool
}

// newStdio wraps the program's output streams, deciding on colour.
func newStdio(stdout, stderr io.Writer) *stdio {
	return &stdio{stdout: stdout, stderr: stderr, color: colorTerminal(stdout)}
}

// colorTerminal reports whether w is a terminal that should get colour:
// a character device, TERM not "dumb", NO_COLOR unset (no-color.org).
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	if t := os.Getenv("TERM"); t == "" || t == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ANSI styles.
const (
	styleBold  = "\x1b[1m"
	styleDim   = "\x1b[2m"
	styleGreen = "\x1b[32m"
	styleCyan  = "\x1b[36m"
	styleReset = "\x1b[0m"
)

// style wraps s in an ANSI style when colour is on.
func (st *stdio) style(style, s string) string {
	if !st.color || s == "" {
		return s
	}
	return style + s + styleReset
}
