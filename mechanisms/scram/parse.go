package scram

// The SCRAM message grammar (RFC 5802 §7), checked strictly.
//
// xdg-go/scram parses leniently: it reads iteration counts with strconv.Atoi
// (accepting "04096", "+4096" and "-1"), has no upper bound on them, accepts
// a server nonce equal to the client nonce, decodes base64 with
// encoding/base64 (which skips CR and LF), and ignores everything after the
// fields it needs. Every message received from the network is therefore
// checked here first, and reaches xdg-go/scram only when it conforms; in
// particular a client never starts PBKDF2 on a server-first message that
// fails these checks. The reasons returned never quote the message.

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/wire"
)

// isPrintable reports whether s is 1*printable: ASCII 0x21-0x7E except ",".
func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// isValue reports whether s is a value: 1*value-char, that is UTF-8 without
// NUL and ",".
func isValue(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00,")
}

// isAttrVal reports whether s is an extension, ALPHA "=" value.
func isAttrVal(s string) bool {
	if len(s) < 3 || s[1] != '=' {
		return false
	}
	c := s[0]
	return ('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') && isValue(s[2:])
}

// isCBName reports whether s is a cb-name, 1*(ALPHA / DIGIT / "." / "-").
func isCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// decodeSaslname decodes a saslname: 1*(value-safe-char / "=2C" / "=3D"),
// where value-safe-char is a UTF-8 character other than NUL, "=" and ",".
// Any other "=" is refused, as RFC 5802 §5.1 requires.
func decodeSaslname(s string) (string, bool) {
	if !isValue(s) {
		return "", false
	}
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '=')
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		s = s[i+3:]
	}
}

// positNumber parses a posit-number, %x31-39 *DIGIT, that fits an int.
func positNumber(s string) (int, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// field returns the value of s when it is key "=" value.
func field(s string, key byte) (string, bool) {
	if len(s) < 2 || s[0] != key || s[1] != '=' {
		return "", false
	}
	return s[2:], true
}

// extensionsOK reports whether every element of fields is an attr-val.
func extensionsOK(fields []string) bool {
	for _, f := range fields {
		if !isAttrVal(f) {
			return false
		}
	}
	return true
}

// serverFirst is a parsed server-first-message.
type serverFirst struct {
	nonce string
	salt  []byte
	iters int
}

// parseServerFirst parses
//
//	server-first-message = [reserved-mext ","] nonce "," salt ","
//	                       iteration-count ["," extensions]
//
// and reports the reason it is malformed. An m= extension is refused ("MUST
// cause authentication failure", RFC 5802 §5.1). Range checks on the
// iteration count and the nonce's relation to the client nonce are left to
// the caller.
func parseServerFirst(msg string) (serverFirst, string) {
	var sf serverFirst
	fields := strings.Split(msg, ",")
	if _, ok := field(fields[0], 'm'); ok {
		return sf, "mandatory extension (m=) not supported"
	}
	if len(fields) < 3 {
		return sf, "server-first message has too few attributes"
	}
	nonce, ok := field(fields[0], 'r')
	if !ok || !isPrintable(nonce) {
		return sf, "server-first message lacks a valid nonce (r=)"
	}
	salt, ok := field(fields[1], 's')
	if !ok {
		return sf, "server-first message lacks a salt (s=)"
	}
	sb, ok := wire.DecodeBase64(salt)
	if !ok || len(sb) == 0 {
		return sf, "salt (s=) is not valid base64"
	}
	it, ok := field(fields[2], 'i')
	if !ok {
		return sf, "server-first message lacks an iteration count (i=)"
	}
	n, ok := positNumber(it)
	if !ok {
		return sf, "iteration count (i=) is not a positive decimal number"
	}
	if !extensionsOK(fields[3:]) {
		return sf, "server-first message has a malformed extension"
	}
	sf.nonce, sf.salt, sf.iters = nonce, sb, n
	return sf, ""
}

// serverFinal is a parsed server-final-message: either errValue or
// verifier is set.
type serverFinal struct {
	errValue string
	verifier []byte
}

// parseServerFinal parses
//
//	server-final-message = (server-error / verifier) ["," extensions]
func parseServerFinal(msg string, size int) (serverFinal, string) {
	var sf serverFinal
	fields := strings.Split(msg, ",")
	if !extensionsOK(fields[1:]) {
		return sf, "server-final message has a malformed extension"
	}
	if e, ok := field(fields[0], 'e'); ok {
		if !isValue(e) {
			return sf, "server error (e=) is not a valid value"
		}
		sf.errValue = e
		return sf, ""
	}
	v, ok := field(fields[0], 'v')
	if !ok {
		return sf, "server-final message is neither a verifier (v=) nor an error (e=)"
	}
	b, ok := wire.DecodeBase64(v)
	if !ok || len(b) != size {
		return sf, "server signature (v=) is not valid base64 of the hash's length"
	}
	sf.verifier = b
	return sf, ""
}

// clientFirst is a parsed client-first-message.
type clientFirst struct {
	flag     byte   // 'n', 'y' or 'p'
	cbType   string // with 'p'
	authzid  string // decoded; "" when absent
	username string // decoded
	nonce    string
}

// parseClientFirst parses
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce
//	                            ["," extensions]
//
// and reports the reason it is malformed. The m= extension is reported by
// mext, since it calls for e=extensions-not-supported rather than a
// grammar error.
func parseClientFirst(msg string) (cf clientFirst, mext bool, reason string) {
	fields := strings.Split(msg, ",")
	if len(fields) < 4 {
		return cf, false, "client-first message has too few attributes"
	}
	switch f := fields[0]; {
	case f == "n", f == "y":
		cf.flag = f[0]
	default:
		name, ok := field(f, 'p')
		if !ok || !isCBName(name) {
			return cf, false, "invalid gs2 channel-binding flag"
		}
		cf.flag, cf.cbType = 'p', name
	}
	if fields[1] != "" {
		a, ok := field(fields[1], 'a')
		if !ok {
			return cf, false, "invalid gs2 authzid"
		}
		if cf.authzid, ok = decodeSaslname(a); !ok {
			return cf, false, "authzid (a=) is not a valid saslname"
		}
	}
	if _, ok := field(fields[2], 'm'); ok {
		return cf, true, "mandatory extension (m=) not supported"
	}
	n, ok := field(fields[2], 'n')
	if !ok {
		return cf, false, "client-first message lacks a username (n=)"
	}
	if cf.username, ok = decodeSaslname(n); !ok {
		return cf, false, "username (n=) is not a valid saslname"
	}
	if cf.nonce, ok = field(fields[3], 'r'); !ok || !isPrintable(cf.nonce) {
		return cf, false, "client-first message lacks a valid nonce (r=)"
	}
	if !extensionsOK(fields[4:]) {
		return cf, false, "client-first message has a malformed extension"
	}
	return cf, false, ""
}

// clientFinal is a parsed client-final-message.
type clientFinal struct {
	cbind []byte
	nonce string
	proof []byte
}

// parseClientFinal parses
//
//	client-final-message = channel-binding "," nonce ["," extensions]
//	                       "," proof
//
// with a proof of exactly size bytes, and reports the reason it is
// malformed.
func parseClientFinal(msg string, size int) (clientFinal, string) {
	var cf clientFinal
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return cf, "client-final message has too few attributes"
	}
	c, ok := field(fields[0], 'c')
	if !ok {
		return cf, "client-final message lacks channel-binding data (c=)"
	}
	if cf.cbind, ok = wire.DecodeBase64(c); !ok || len(cf.cbind) == 0 {
		return cf, "channel-binding data (c=) is not valid base64"
	}
	if cf.nonce, ok = field(fields[1], 'r'); !ok || !isPrintable(cf.nonce) {
		return cf, "client-final message lacks a valid nonce (r=)"
	}
	last := len(fields) - 1
	if !extensionsOK(fields[2:last]) {
		return cf, "client-final message has a malformed extension"
	}
	p, ok := field(fields[last], 'p')
	if !ok {
		return cf, "client-final message does not end with a proof (p=)"
	}
	if cf.proof, ok = wire.DecodeBase64(p); !ok || len(cf.proof) != size {
		return cf, "proof (p=) is not valid base64 of the hash's length"
	}
	return cf, ""
}
