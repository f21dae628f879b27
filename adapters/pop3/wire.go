package pop3

import (
	"strconv"
	"strings"

	"github.com/saslkit/saslkit/internal/wire"
)

// Line parsers. Each takes one line without its CRLF, as read from the
// network, and never panics (see fuzz_test.go).

// status is a parsed status line.
type status struct {
	ok   bool
	code string // RFC 2449 response code, -ERR only
	text string // the rest, as sent (sanitize before showing it)
}

// parseStatus parses "+OK [text]" or "-ERR [text]" strictly: the indicator
// must be followed by the end of the line or a space. A -ERR text that
// starts with a bracketed response code (RFC 2449 §8) has it split off.
func parseStatus(cmd, line string) (status, error) {
	var st status
	var rest string
	switch {
	case line == "+OK":
		return status{ok: true}, nil
	case strings.HasPrefix(line, "+OK "):
		st.ok, rest = true, line[4:]
	case line == "-ERR":
		return st, nil
	case strings.HasPrefix(line, "-ERR "):
		rest = line[5:]
	default:
		return st, protoErr(cmd, "bad status line "+strconv.Quote(clip(line)))
	}
	if !st.ok {
		st.code, rest = splitCode(rest)
	}
	st.text = rest
	return st, nil
}

// splitCode splits a leading RFC 2449 response code off text: "[" resp-level
// *("/" resp-level) "]", resp-level = 1*achar (printable, not "/" or "]").
// A text without a well-formed code is returned whole.
func splitCode(text string) (code, rest string) {
	if !strings.HasPrefix(text, "[") {
		return "", text
	}
	end := strings.IndexByte(text, ']')
	if end < 2 || end > 64 {
		return "", text
	}
	inner := text[1:end]
	for _, level := range strings.Split(inner, "/") {
		if level == "" {
			return "", text
		}
		for i := 0; i < len(level); i++ {
			if c := level[i]; c <= ' ' || c >= 0x7f || c == '[' {
				return "", text
			}
		}
	}
	return strings.ToUpper(inner), strings.TrimLeft(text[end+1:], " ")
}

// sanitize replaces control characters and invalid UTF-8 so a server text
// is safe to print.
func sanitize(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f || s[i] >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return sanitize(s)
}

// parseContinuation recognises an RFC 5034 server challenge, "+ " base64
// (or a bare "+", which some servers send for an empty challenge). ok is
// false for any other line. The challenge must be strict base64.
func parseContinuation(line string) (challenge []byte, ok bool, err error) {
	if line != "+" && !strings.HasPrefix(line, "+ ") {
		return nil, false, nil
	}
	b64 := strings.TrimPrefix(strings.TrimPrefix(line, "+"), " ")
	if b64 == "" {
		return []byte{}, true, nil
	}
	c, good := wire.DecodeBase64(b64)
	if !good {
		return nil, true, protoErr("AUTH", "challenge is not strict base64")
	}
	return c, true, nil
}

// parseNumber parses a POP3 message number or size: 1 to 19 decimal digits,
// no sign, no leading "+".
func parseNumber(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseStat parses the text of a STAT answer, "count size" (RFC 1939 §5);
// text after the size is allowed and ignored.
func parseStat(text string) (count int, size int64, err error) {
	f := strings.Fields(text)
	if len(f) < 2 {
		return 0, 0, protoErr("STAT", "bad answer "+strconv.Quote(clip(text)))
	}
	n, ok1 := parseNumber(f[0])
	sz, ok2 := parseNumber(f[1])
	if !ok1 || !ok2 || n > maxMessages {
		return 0, 0, protoErr("STAT", "bad answer "+strconv.Quote(clip(text)))
	}
	return int(n), sz, nil
}

// maxMessages bounds message numbers, so they fit an int everywhere.
const maxMessages = 1 << 31

// parseListLine parses a LIST scan listing, "msg size" (RFC 1939 §5); text
// after the size is ignored as the RFC allows.
func parseListLine(line string) (MessageInfo, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return MessageInfo{}, protoErr("LIST", "bad scan listing "+strconv.Quote(clip(line)))
	}
	n, ok1 := parseNumber(f[0])
	sz, ok2 := parseNumber(f[1])
	if !ok1 || !ok2 || n < 1 || n > maxMessages {
		return MessageInfo{}, protoErr("LIST", "bad scan listing "+strconv.Quote(clip(line)))
	}
	return MessageInfo{Number: int(n), Size: sz}, nil
}

// parseUIDLLine parses a UIDL listing, "msg unique-id" (RFC 1939 §7): the
// unique-id is 1 to 70 characters in 0x21 to 0x7E.
func parseUIDLLine(line string) (UID, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return UID{}, protoErr("UIDL", "bad unique-id listing "+strconv.Quote(clip(line)))
	}
	n, ok := parseNumber(f[0])
	if !ok || n < 1 || n > maxMessages || len(f[1]) > 70 {
		return UID{}, protoErr("UIDL", "bad unique-id listing "+strconv.Quote(clip(line)))
	}
	for i := 0; i < len(f[1]); i++ {
		if c := f[1][i]; c < 0x21 || c > 0x7e {
			return UID{}, protoErr("UIDL", "bad unique-id listing "+strconv.Quote(clip(line)))
		}
	}
	return UID{Number: int(n), UID: f[1]}, nil
}
