package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/saslkit/saslkit/internal/redact"
)

// DefaultMaxLineLength is the longest server line accepted when
// Options.MaxLineLength is zero, CRLF included. RFC 2449 §4 allows 512
// octets for a status line and RFC 5322 998 for a message line, but real
// messages and SASL challenges can be longer; 64 KiB is generous and still
// bounds memory.
const DefaultMaxLineLength = 64 << 10

// maxCommand is the longest command line, CRLF included (RFC 2449 §4, RFC
// 5034 §4).
const maxCommand = 255

// textConn is the line layer shared by Client and the package-level
// Authenticate: bounded line reads, writes with a redacted transcript, and a
// sticky error once the stream can no longer be trusted.
type textConn struct {
	br      *bufio.Reader
	bw      *bufio.Writer
	maxLine int
	debug   io.Writer
	// broken is set by the first I/O or protocol error; every later use
	// fails with it.
	broken error
}

func newTextConn(br *bufio.Reader, bw *bufio.Writer, maxLine int, debug io.Writer) *textConn {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineLength
	}
	return &textConn{br: br, bw: bw, maxLine: maxLine, debug: debug}
}

// fail records err as the connection's fatal error and returns it.
func (t *textConn) fail(err error) error {
	if t.broken == nil {
		t.broken = err
	}
	return err
}

// readLine reads one line and returns it without its line ending. A line
// ends with CRLF; a bare LF is tolerated, as most clients do. Lines longer
// than maxLine fail with ErrLineTooLong, end of stream with
// io.ErrUnexpectedEOF; both break the connection.
func (t *textConn) readLine(cmd string) (string, error) {
	if t.broken != nil {
		return "", t.broken
	}
	var buf []byte
	for {
		chunk, err := t.br.ReadSlice('\n')
		if len(buf)+len(chunk) > t.maxLine {
			return "", t.fail(fmt.Errorf("pop3: %s: %w (more than %d octets)", cmd, ErrLineTooLong, t.maxLine))
		}
		if err == nil && buf == nil {
			return string(trimEOL(chunk)), nil
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return string(trimEOL(buf)), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return "", t.fail(fmt.Errorf("pop3: %s: connection closed by server: %w", cmd, io.ErrUnexpectedEOF))
		default:
			return "", t.fail(fmt.Errorf("pop3: %s: %w", cmd, err))
		}
	}
}

// trimEOL removes a trailing LF and one CR before it.
func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// readStatus reads a status line and returns it parsed. A -ERR comes back
// as a *Error (which does not break the connection).
func (t *textConn) readStatus(cmd string) (string, error) {
	line, err := t.readLine(cmd)
	if err != nil {
		return "", err
	}
	t.log("S: ", line)
	st, err := parseStatus(cmd, line)
	if err != nil {
		return "", t.fail(err)
	}
	if !st.ok {
		return "", &Error{Command: cmd, Code: st.code, Text: sanitize(st.text)}
	}
	return st.text, nil
}

// readMulti reads the lines of a multi-line answer after its +OK, dot
// unstuffed, up to the terminating ".", at most max lines.
func (t *textConn) readMulti(cmd string, max int) ([]string, error) {
	var lines []string
	for {
		line, err := t.readLine(cmd)
		if err != nil {
			return nil, err
		}
		if line == "." {
			t.log("S: ", ".")
			return lines, nil
		}
		if len(lines) >= max {
			return nil, t.fail(protoErr(cmd, fmt.Sprintf("more than %d lines in the answer", max)))
		}
		t.log("S: ", line)
		lines = append(lines, strings.TrimPrefix(line, "."))
	}
}

// writeLine sends line and CRLF; logAs is what the transcript shows.
func (t *textConn) writeLine(cmd, line, logAs string) error {
	if t.broken != nil {
		return t.broken
	}
	t.log("C: ", logAs)
	t.bw.WriteString(line)
	t.bw.WriteString("\r\n")
	if err := t.bw.Flush(); err != nil {
		return t.fail(fmt.Errorf("pop3: %s: %w", cmd, err))
	}
	return nil
}

// cmd sends a command (which holds no secret) and reads its status.
func (t *textConn) cmd(name, line string) (string, error) {
	if len(line)+2 > maxCommand {
		return "", fmt.Errorf("pop3: %s: command longer than %d octets", name, maxCommand)
	}
	if strings.ContainsAny(line, "\r\n\x00") {
		return "", fmt.Errorf("pop3: %s: argument holds CR, LF or NUL", name)
	}
	if err := t.writeLine(name, line, line); err != nil {
		return "", err
	}
	return t.readStatus(name)
}

// log writes a transcript line; the caller has already redacted it.
func (t *textConn) log(prefix, line string) {
	if t.debug == nil {
		return
	}
	io.WriteString(t.debug, prefix+sanitize(line)+"\n")
}

// redactedChallenge is how the transcript shows a server challenge.
func redactedLine(line string) string {
	if line == "" || line == "*" || line == "+" || line == "+ " {
		return line
	}
	if strings.HasPrefix(line, "+ ") {
		return "+ " + redact.Placeholder
	}
	return redact.Placeholder
}
