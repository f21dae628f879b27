package adapters

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"github.com/saslkit/saslkit/internal/wire"
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
// LOGIN (literals included) and POP3 PASS, every client response line of a
// SASL exchange, and the server challenges that could help an attacker
// (SCRAM's salt, nonces and server signature; see redactChallenge).
// Capability lines that list LOGIN (SMTP's "250-AUTH LOGIN PLAIN", POP3's
// "SASL LOGIN", IMAP's "AUTH=LOGIN") pass unchanged.
// Lines keep their ending (CRLF or LF). It is safe for concurrent use (the
// reading and the writing side of a client write to it at once). A line
// still incomplete when the connection ends is not written.
func RedactWriter(w io.Writer) io.Writer {
	return &redactWriter{w: w}
}

type redactWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	long   bool // discarding the rest of an overlong line
	inSASL bool
	// lit follows an IMAP LOGIN whose arguments continue in literals;
	// litTag is its tag.
	lit    literalState
	litTag string
	capa   bool // inside a POP3 CAPA listing
}

// literalState is where an IMAP LOGIN sent with literals stands.
type literalState int

const (
	litNone    literalState = iota
	litGoAhead              // a synchronizing literal awaits the server's "+"
	litData                 // the next client line continues the arguments
)

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
//
// IMAP LOGIN is "tag LOGIN user pass" with any tag in any case; these lines
// also have "LOGIN" as their second word and are server capability lists,
// never commands, so they pass: an SMTP multi-line reply ("250-AUTH LOGIN
// PLAIN"), whose first word is three digits and a hyphen; an untagged or
// continuation line ("* ...", "+ ..."), since neither "*" nor "+" can
// start a tag; and a line of a POP3 CAPA listing ("SASL LOGIN PLAIN").
// When LOGIN's arguments continue in literals ({n} or {n+} at the end of
// the line), the client lines that carry them are redacted as well.
func (r *redactWriter) redact(line string) string {
	f := strings.Fields(line)
	up := strings.ToUpper(line)
	capaLine := r.capa && len(f) >= 1 && strings.EqualFold(f[0], "SASL")
	switch {
	case r.capa && line == ".", r.capa && strings.HasPrefix(up, "-ERR"):
		r.capa = false
	case len(f) == 1 && strings.EqualFold(f[0], "CAPA"):
		r.capa = true
	}
	if r.lit != litNone {
		if r.lit == litGoAhead {
			switch {
			case strings.HasPrefix(line, "+"):
				r.lit = litData
				return line
			case len(f) >= 2 && f[0] == r.litTag && isIMAPResult(f[1]):
				r.lit = litNone
				return line
			case strings.HasPrefix(line, "*"):
				// Untagged data while the literal waits: still
				// waiting; redacted, as a client that did not wait
				// could have sent it.
				return Redacted
			}
		}
		r.lit = literalAfter(line)
		return Redacted
	}
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
	case len(f) >= 2 && strings.EqualFold(f[1], "LOGIN") && !capaLine && !isSMTPContinuation(f[0]) &&
		!strings.HasPrefix(f[0], "*") && !strings.HasPrefix(f[0], "+"): // IMAP: tag LOGIN user pass
		r.lit, r.litTag = literalAfter(line), f[0]
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
		return redactChallenge(line)
	}
	r.inSASL = false
	return line
}

// redactChallenge returns a server challenge line ("+ payload", "334
// payload") with its payload replaced by Redacted unless the payload is
// known to hold nothing an attacker could use: not base64 (a server's
// prose), a JSON object (the token error of RFC 7628 and XOAUTH2, worth
// reading when a login fails), or LOGIN's "Username:"/"Password:" prompts.
// Any other challenge goes: SCRAM's server messages carry the salt, the
// iteration count, the nonces and the server signature, which together
// with the user name allow an offline dictionary attack on the password.
func redactChallenge(line string) string {
	prefix, payload, ok := strings.Cut(line, " ")
	if !ok || payload == "" {
		return line
	}
	dec, isB64 := wire.DecodeBase64(payload)
	switch {
	case !isB64:
		return line
	case len(dec) > 0 && dec[0] == '{' && json.Valid(dec):
		return line
	case isLoginPrompt(dec):
		return line
	}
	return prefix + " " + Redacted
}

// isLoginPrompt reports whether a decoded challenge is one of the prompts
// of the LOGIN mechanism (draft-murchison-sasl-login).
func isLoginPrompt(b []byte) bool {
	s := strings.TrimRight(string(b), "\x00")
	return strings.EqualFold(s, "Username:") || strings.EqualFold(s, "Password:") || strings.EqualFold(s, "User Name")
}

// isSMTPContinuation reports whether word begins a line of an SMTP
// multi-line reply: three digits and a hyphen (RFC 5321 §4.2.1).
func isSMTPContinuation(word string) bool {
	return len(word) >= 4 && isDigit(word[0]) && isDigit(word[1]) && isDigit(word[2]) && word[3] == '-'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isIMAPResult reports whether word is a tagged response's status.
func isIMAPResult(word string) bool {
	return strings.EqualFold(word, "OK") || strings.EqualFold(word, "NO") || strings.EqualFold(word, "BAD")
}

// literalAfter returns what follows a client line of an IMAP command that
// ends with a literal's announcement (RFC 9051 §4.3): {n} waits for the
// server's "+", {n+} (LITERAL+, RFC 7888) does not; anything else ends the
// command.
func literalAfter(line string) literalState {
	if !strings.HasSuffix(line, "}") {
		return litNone
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return litNone
	}
	n := line[open+1 : len(line)-1]
	state := litGoAhead
	if strings.HasSuffix(n, "+") {
		n, state = n[:len(n)-1], litData
	}
	if n == "" {
		return litNone
	}
	for i := 0; i < len(n); i++ {
		if !isDigit(n[i]) {
			return litNone
		}
	}
	return state
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
