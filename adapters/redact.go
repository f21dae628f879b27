package adapters

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// Redacted replaces a secret in a redacted transcript.
const Redacted = "[REDACTED]"

// maxTranscriptLine bounds the partial line RedactWriter holds; a longer
// line is replaced by a marker.
const maxTranscriptLine = 64 << 10

// RedactWriter returns a writer for protocol debug transcripts (go-imap's
// and go-smtp's DebugWriter, the POP3 client's) that passes whole lines to w
// with authentication payloads replaced by Redacted: the initial response
// of IMAP AUTHENTICATE and of SMTP and POP3 AUTH, the arguments of IMAP
// LOGIN and POP3 PASS, and every client response line of a SASL exchange.
// Lines keep their ending (CRLF or LF). It is safe for concurrent use (the
// reading and the writing side of a client write to it at once). A line still incomplete when the connection
// ends is not written.
func RedactWriter(w io.Writer) io.Writer {
	return &redactWriter{w: w}
}

type redactWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	long   bool // discarding the rest of an overlong line
	inSASL bool
}

func (r *redactWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !r.long {
				r.buf = append(r.buf, p...)
				if len(r.buf) > maxTranscriptLine {
					r.buf, r.long = r.buf[:0], true
				}
			}
			return n, nil
		}
		var line, eol string
		if r.long {
			line, eol, r.long = Redacted+" (overlong line)", "\n", false
		} else {
			r.buf = append(r.buf, p[:i]...)
			raw := string(r.buf)
			eol = "\n"
			if strings.HasSuffix(raw, "\r") {
				raw, eol = raw[:len(raw)-1], "\r\n"
			}
			line = r.redact(raw)
		}
		r.buf = r.buf[:0]
		p = p[i+1:]
		if _, err := io.WriteString(r.w, line+eol); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// redact returns line with any credential replaced.
func (r *redactWriter) redact(line string) string {
	f := strings.Fields(line)
	up := strings.ToUpper(line)
	switch {
	case len(f) >= 2 && strings.EqualFold(f[1], "AUTHENTICATE"): // IMAP: tag AUTHENTICATE mech [ir]
		r.inSASL = true
		if len(f) > 3 {
			return strings.Join(f[:3], " ") + " " + Redacted
		}
		return line
	case len(f) >= 1 && strings.EqualFold(f[0], "AUTH"): // SMTP, POP3: AUTH mech [ir]
		r.inSASL = true
		if len(f) > 2 {
			return strings.Join(f[:2], " ") + " " + Redacted
		}
		return line
	case len(f) >= 2 && strings.EqualFold(f[1], "LOGIN"): // IMAP LOGIN user pass
		return strings.Join(f[:2], " ") + " " + Redacted
	case len(f) >= 1 && (strings.EqualFold(f[0], "PASS")): // POP3
		return f[0] + " " + Redacted
	}
	if !r.inSASL {
		return line
	}
	if len(f) == 1 && (f[0] == "*" || isBase64(f[0])) {
		return Redacted
	}
	if strings.HasPrefix(line, "+") && !strings.HasPrefix(up, "+OK") || strings.HasPrefix(line, "334") {
		return line // a challenge
	}
	r.inSASL = false
	return line
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return s != ""
}
