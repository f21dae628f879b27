package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is bad usage of a command: exit code 2, with a hint to run
// the command's help.
type usageError struct {
	cmd string // the command, or "" for the program
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.msg
	}
	return e.cmd + ": " + e.msg
}

// exitError makes the program exit with code after printing err (when not
// nil), for commands that document codes of their own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// flagSet is a command's flags, parsed with the standard flag package.
type flagSet struct {
	*flag.FlagSet
	cmd, args, about string
	st               *stdio
}

// newFlagSet returns the flags of command cmd. args names the positional
// arguments in the usage line ("" for none) and about is the description
// printed by -h.
func newFlagSet(st *stdio, cmd, args, about string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(progName+" "+cmd, flag.ContinueOnError), cmd: cmd, args: args, about: about, st: st}
	// Parse errors are reported by parse, with the program's prefix.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args. -h prints the usage to standard output and returns
// flag.ErrHelp; a bad flag returns a *usageError.
func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.printUsage(fs.st.stdout)
		return flag.ErrHelp
	}
	if err != nil {
		return &usageError{cmd: fs.cmd, msg: err.Error()}
	}
	return nil
}

// noArgs fails with a usage error if positional arguments remain.
func (fs *flagSet) noArgs() error {
	if fs.NArg() > 0 {
		return fs.usage("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// usage returns a *usageError for the command.
func (fs *flagSet) usage(format string, a ...any) error {
	return &usageError{cmd: fs.cmd, msg: fmt.Sprintf(format, a...)}
}

func (fs *flagSet) printUsage(w io.Writer) {
	line := progName + " " + fs.cmd + " [flags]"
	if fs.args != "" {
		line += " " + fs.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", line, strings.TrimSpace(fs.about))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// listFlag is a repeatable flag whose values may also be comma-separated:
// --user a --user b,c gives [a b c].
type listFlag struct {
	values []string
	set    bool // false while the values are the defaults
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			return errors.New("empty value")
		}
		l.values = append(l.values, v)
	}
	return nil
}
