package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// secretRef says where a secret comes from: an environment variable or a
// command that prints it. The accounts file never holds the secret itself.
type secretRef struct {
	env string
	cmd []string
}

func (r secretRef) set() bool { return r.env != "" || len(r.cmd) > 0 }

// secretTimeout bounds a secret command; a password manager prompting for
// its passphrase gets this long.
const secretTimeout = 2 * time.Minute

// maxSecretOutput bounds what a secret command may print.
const maxSecretOutput = 64 << 10

// secretError is a secret that could not be obtained. It never holds the
// secret, nor the command's output.
type secretError struct {
	what string // "client_secret_env", "password_cmd", ...
	msg  string
	err  error
}

func (e *secretError) Error() string {
	if e.err != nil {
		return e.what + ": " + e.msg + ": " + e.err.Error()
	}
	return e.what + ": " + e.msg
}

func (e *secretError) Unwrap() error { return e.err }

// resolve returns the secret. what is the key's prefix ("client_secret",
// "password") for messages. A command's standard error goes to stderr
// when that is a terminal (a password manager's prompt or complaint), and
// is dropped otherwise, since it could echo the secret into a log.
//
// providers.Exec runs token helpers, but parses their output as a token
// (printable, no spaces, or JSON); a password may hold spaces, so secret
// commands run here and keep the first line as it is.
func (r secretRef) resolve(ctx context.Context, what string, stderr io.Writer) (string, error) {
	if r.env != "" {
		v, ok := os.LookupEnv(r.env)
		if !ok || v == "" {
			return "", &secretError{what: what + "_env", msg: "$" + r.env + " is not set"}
		}
		return v, nil
	}
	if len(r.cmd) == 0 {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, secretTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cmd[0], r.cmd[1:]...)
	cmd.Stdin = nil
	var out limitedBuffer
	out.limit = maxSecretOutput
	cmd.Stdout = &out
	if isTerminal(stderr) {
		cmd.Stderr = stderr
	}
	cmd.WaitDelay = 5 * time.Second
	name := filepath.Base(r.cmd[0])
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return "", &secretError{what: what + "_cmd", msg: fmt.Sprintf("%s did not finish", name), err: ctx.Err()}
		case errors.As(err, &ee):
			return "", &secretError{what: what + "_cmd", msg: fmt.Sprintf("%s exited with status %d", name, ee.ExitCode())}
		default:
			return "", &secretError{what: what + "_cmd", msg: "running " + name, err: err}
		}
	}
	if out.over {
		return "", &secretError{what: what + "_cmd", msg: fmt.Sprintf("%s printed more than %d bytes", name, maxSecretOutput)}
	}
	line, _, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	s := strings.TrimSuffix(string(line), "\r")
	if s == "" {
		return "", &secretError{what: what + "_cmd", msg: fmt.Sprintf("%s printed nothing on its first line", name)}
	}
	return s, nil
}

// limitedBuffer keeps at most limit bytes and notes that more came.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
