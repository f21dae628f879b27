package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// dotReader streams the data of a multi-line answer (RFC 1939 §3): it
// removes the byte-stuffed leading "." of a line and stops at the line
// that holds only ".". Unlike net/textproto's DotReader it keeps the line
// endings exactly as sent (a message is CRLF text, and a caller that stores
// or hashes it wants its bytes), and it bounds the length of a line, so a
// server that never ends a line cannot make it buffer without limit. The
// terminator must be "." followed by CRLF (a bare LF is tolerated); a "."
// followed by anything else is a stuffed line.
type dotReader struct {
	br      *bufio.Reader
	maxLine int
	cmd     string
	// lineLen counts the octets of the current line read so far; zero at
	// the start of a line.
	lineLen int
	// pending is data of the current chunk not yet returned.
	pending []byte
	// err is returned once pending is empty: io.EOF after the terminator.
	err error
	// onDone, when set, runs once when the reader reaches the terminator
	// or fails.
	onDone func(err error)
}

// Read implements io.Reader.
func (r *dotReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// fill reads the next chunk of the current line into pending, or sets err.
func (r *dotReader) fill() {
	chunk, err := r.br.ReadSlice('\n')
	if r.lineLen == 0 && len(chunk) > 0 && chunk[0] == '.' {
		if err == nil && (string(chunk) == ".\r\n" || string(chunk) == ".\n") {
			r.finish(io.EOF)
			return
		}
		chunk = chunk[1:]
		r.lineLen = 1
	}
	r.lineLen += len(chunk)
	if r.lineLen > r.maxLine {
		r.finish(fmt.Errorf("pop3: %s: %w (more than %d octets)", r.cmd, ErrLineTooLong, r.maxLine))
		return
	}
	switch {
	case err == nil:
		r.lineLen = 0
	case errors.Is(err, bufio.ErrBufferFull):
	case errors.Is(err, io.EOF):
		r.finish(fmt.Errorf("pop3: %s: connection closed before the end of the data: %w", r.cmd, io.ErrUnexpectedEOF))
		return
	default:
		r.finish(fmt.Errorf("pop3: %s: %w", r.cmd, err))
		return
	}
	r.pending = chunk
}

func (r *dotReader) finish(err error) {
	r.err = err
	r.pending = nil
	if r.onDone != nil {
		f := r.onDone
		r.onDone = nil
		f(err)
	}
}

// messageReader is the io.ReadCloser Retr and Top return.
type messageReader struct {
	dr     *dotReader
	closed bool
}

// Read reads the message, dot-unstuffed, with its CRLF line endings.
func (m *messageReader) Read(p []byte) (int, error) {
	if m.closed {
		return 0, fmt.Errorf("pop3: %s: read after Close: %w", m.dr.cmd, ErrClosed)
	}
	return m.dr.Read(p)
}

// Close reads and discards the rest of the message, so the connection is
// ready for the next command; the context given to Retr or Top still
// bounds it. It returns an error when the rest could not be read, and the
// client is then unusable.
func (m *messageReader) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	_, err := io.Copy(io.Discard, m.dr)
	if err != nil {
		return err
	}
	if m.dr.err != io.EOF {
		return m.dr.err
	}
	return nil
}
