package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes common to every command (see the package documentation).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// progName is the program's name in messages, whatever os.Args[0] is.
const progName = "saslkit"

func main() {
	os.Exit(realMain())
}

// realMain runs the program with the process's arguments and streams, and
// stops it on SIGINT, SIGTERM or SIGHUP (its terminal closed). It returns
// the exit code.
func realMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		// After the first signal, a second one kills the program at once
		// should a clean shutdown hang.
		<-ctx.Done()
		stop()
	}()
	defer stop()
	return run(ctx, newStdio(os.Stdout, os.Stderr), os.Args[1:])
}

// command is one subcommand of the program. Each lives in a file of its
// own and is listed in commands.
type command struct {
	// name is the word that selects the command.
	name string
	// summary is the one-line description in the command list.
	summary string
	// run runs the command with the arguments after its name; ctx ends
	// when the program is asked to stop. It returns
	// nil on success, a *usageError for bad usage, an *exitError for a
	// specific exit code, or any other error for a failure (exit 1).
	run func(ctx context.Context, io *stdio, args []string) error
}

// commands lists the subcommands in the order help shows them.
var commands = []*command{
	demoCommand,
	sandboxCommand,
	authorizeCommand,
	tokenCommand,
	checkCommand,
	mechsCommand,
	configCommand,
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the program: it dispatches args to a command and returns the exit
// code. ctx ends when the program is asked to stop (SIGINT, SIGTERM).
func run(ctx context.Context, st *stdio, args []string) int {
	if len(args) == 0 {
		printMainUsage(st.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				return reportError(st, &usageError{msg: fmt.Sprintf("unknown command %q", args[1])})
			}
			return reportError(st, c.run(ctx, st, []string{"-h"}))
		}
		printMainUsage(st.stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		return reportError(st, &usageError{msg: fmt.Sprintf("unknown command %q", name)})
	}
	return reportError(st, c.run(ctx, st, args[1:]))
}

// reportError prints err, if any, to standard error and returns the exit
// code it stands for.
func reportError(st *stdio, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(st.stderr, "%s: %s\n", progName, ue.Error())
		if ue.cmd != "" {
			fmt.Fprintf(st.stderr, "Run '%s %s -h' for usage.\n", progName, ue.cmd)
		} else {
			fmt.Fprintf(st.stderr, "Run '%s help' for usage.\n", progName)
		}
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(st.stderr, "%s: %s\n", progName, ee.err.Error())
		}
		return ee.code
	}
	fmt.Fprintf(st.stderr, "%s: %s\n", progName, err.Error())
	return exitFailure
}

func printMainUsage(w io.Writer) {
	fmt.Fprintf(w, "%s: SASL and OAuth 2.0 tools for mail\n\n", progName)
	fmt.Fprintf(w, "Usage:\n\n\t%s COMMAND [flags]\n\t%s help [COMMAND]\n\nCommands:\n\n", progName, progName)
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nExit codes: 0 success, 1 failure, 2 usage error.\n")
}
