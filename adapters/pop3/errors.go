package pop3

import (
	"errors"
	"strings"
)

// Errors a caller can branch on with errors.Is. Every error this package
// returns starts with "pop3: ".
var (
	// ErrProtocol reports a server answer that breaks the protocol: a
	// status line that is neither +OK nor -ERR, a malformed listing, a
	// continuation that is not strict base64. The connection is unusable
	// afterwards.
	ErrProtocol = errors.New("pop3: protocol violation")
	// ErrLineTooLong reports a server line longer than
	// Options.MaxLineLength. The connection is unusable afterwards.
	ErrLineTooLong = errors.New("pop3: line too long")
	// ErrBusy reports a command issued while the reader returned by Retr
	// or Top is still open: close it (or read it to the end) first.
	ErrBusy = errors.New("pop3: a message reader is still open")
	// ErrClosed reports a command on a client that was closed, that has
	// quit, or whose connection broke (the cause is in the error chain).
	ErrClosed = errors.New("pop3: connection closed")
	// ErrState reports a command not valid in the session's state: STLS
	// after authentication or under TLS, a mail command before
	// authentication.
	ErrState = errors.New("pop3: command not valid in this state")
	// ErrNoSTLS reports that the server does not offer STLS.
	ErrNoSTLS = errors.New("pop3: server does not offer STLS")
)

// Error is a POP3 negative answer, "-ERR [CODE] text". Code is the RFC 2449
// response code without brackets (AUTH, SYS/TEMP, SYS/PERM, IN-USE,
// LOGIN-DELAY, ...), empty when the server sent none.
type Error struct {
	// Command is the verb the server answered (USER, AUTH, RETR, ...).
	Command string
	// Code is the response code, upper case, without brackets.
	Code string
	// Text is the human-readable text after the code, with control
	// characters replaced.
	Text string
}

// Error formats the answer as "pop3: CMD: -ERR [CODE] text".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pop3: ")
	if e.Command != "" {
		b.WriteString(e.Command + ": ")
	}
	b.WriteString("-ERR")
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Text != "" {
		b.WriteString(" " + e.Text)
	}
	return b.String()
}

// Temporary reports whether the server says the failure is temporary
// (RFC 3206 SYS/TEMP and IN-USE, RFC 2449 LOGIN-DELAY): trying again later
// may succeed with the same credentials.
func (e *Error) Temporary() bool {
	return e.hasCode("SYS/TEMP") || e.hasCode("IN-USE") || e.hasCode("LOGIN-DELAY")
}

// Credentials reports whether the server blames the credentials (RFC 3206
// AUTH).
func (e *Error) Credentials() bool { return e.hasCode("AUTH") }

// hasCode reports whether Code is want or a hierarchical child of it.
func (e *Error) hasCode(want string) bool {
	return e.Code == want || strings.HasPrefix(e.Code, want+"/")
}

// protoErr returns an ErrProtocol for cmd with a reason.
func protoErr(cmd, reason string) error {
	if cmd == "" {
		return &wrapped{msg: "pop3: protocol violation: " + reason, err: ErrProtocol}
	}
	return &wrapped{msg: "pop3: " + cmd + ": protocol violation: " + reason, err: ErrProtocol}
}

// wrapped is an error with its own text that unwraps to a sentinel.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
