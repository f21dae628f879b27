package providers

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// maxExecLifetime bounds expires_in and the distance of an absolute expiry,
// so that arithmetic on hostile numbers cannot overflow.
const maxExecLifetime = 10 * 365 * 24 * time.Hour

// execJSON is the JSON shape a command may print. The expiry fields are
// decoded by hand because helpers disagree on their types.
type execJSON struct {
	AccessToken *string         `json:"access_token"`
	TokenType   *string         `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	ExpiresAt   json.RawMessage `json:"expires_at"`
	Expiry      json.RawMessage `json:"expiry"`
}

// parseExecOutput turns a command's standard output into a token. On
// failure it returns a reason that never quotes the output.
func parseExecOutput(out []byte, now time.Time) (*oauth2.Token, string) {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) == 0 {
		return nil, "empty output"
	}
	if !utf8.Valid(trimmed) {
		return nil, "output is not UTF-8 text"
	}
	if trimmed[0] == '{' {
		return parseExecJSON(trimmed, now)
	}
	line, _, _ := bytes.Cut(trimmed, []byte("\n"))
	line = bytes.TrimSpace(line)
	if reason := checkTokenText(line); reason != "" {
		return nil, reason
	}
	return &oauth2.Token{AccessToken: string(line), TokenType: "Bearer"}, ""
}

func parseExecJSON(b []byte, now time.Time) (*oauth2.Token, string) {
	var j execJSON
	if err := json.Unmarshal(b, &j); err != nil {
		// json's messages may quote bytes of the input: report the kind
		// of fault only.
		switch e := err.(type) {
		case *json.SyntaxError:
			return nil, "invalid JSON at offset " + strconv.FormatInt(e.Offset, 10)
		case *json.UnmarshalTypeError:
			return nil, "JSON field " + strconv.Quote(e.Field) + " has the wrong type"
		default:
			return nil, "invalid JSON"
		}
	}
	if j.AccessToken == nil {
		return nil, "JSON has no access_token"
	}
	tok := []byte(*j.AccessToken)
	if reason := checkTokenText(tok); reason != "" {
		return nil, "access_token: " + reason
	}
	t := &oauth2.Token{AccessToken: *j.AccessToken, TokenType: "Bearer"}
	if j.TokenType != nil && *j.TokenType != "" {
		if !strings.EqualFold(*j.TokenType, "bearer") {
			return nil, "token_type is not Bearer"
		}
	}
	var (
		expiry time.Time
		reason string
	)
	switch {
	case len(j.ExpiresAt) > 0 && !isJSONNull(j.ExpiresAt):
		expiry, reason = parseAbsoluteExpiry("expires_at", j.ExpiresAt, now)
	case len(j.Expiry) > 0 && !isJSONNull(j.Expiry):
		expiry, reason = parseAbsoluteExpiry("expiry", j.Expiry, now)
	case len(j.ExpiresIn) > 0 && !isJSONNull(j.ExpiresIn):
		var secs float64
		secs, reason = jsonNumber("expires_in", j.ExpiresIn)
		if reason == "" {
			switch {
			case secs <= 0:
				reason = "expires_in is not positive"
			case secs > maxExecLifetime.Seconds():
				reason = "expires_in is too large"
			default:
				expiry = now.Add(time.Duration(secs * float64(time.Second)))
				t.ExpiresIn = int64(secs)
			}
		}
	}
	if reason != "" {
		return nil, reason
	}
	t.Expiry = expiry
	return t, ""
}

func isJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// jsonNumber reads a JSON number, or a string holding one.
func jsonNumber(field string, raw json.RawMessage) (float64, string) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, field + " is not a number"
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, field + " is not a number"
	}
	return f, ""
}

// parseAbsoluteExpiry reads Unix seconds (a number or a numeric string) or
// an RFC 3339 time.
func parseAbsoluteExpiry(field string, raw json.RawMessage, now time.Time) (time.Time, string) {
	raw = bytes.TrimSpace(raw)
	var t time.Time
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, field + " is neither Unix seconds nor an RFC 3339 time"
		}
		s = strings.TrimSpace(s)
		if pt, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t = pt
		} else if f, err := strconv.ParseFloat(s, 64); err == nil {
			raw = json.RawMessage(strconv.FormatFloat(f, 'f', -1, 64))
		} else {
			return time.Time{}, field + " is neither Unix seconds nor an RFC 3339 time"
		}
	}
	if t.IsZero() {
		secs, reason := jsonNumber(field, raw)
		if reason != "" {
			return time.Time{}, field + " is neither Unix seconds nor an RFC 3339 time"
		}
		if secs <= 0 || secs > float64(now.Add(maxExecLifetime).Unix()) {
			return time.Time{}, field + " is out of range"
		}
		whole, frac := math.Modf(secs)
		t = time.Unix(int64(whole), int64(frac*1e9))
	}
	switch {
	case !t.After(now):
		return time.Time{}, "token already expired"
	case t.Sub(now) > maxExecLifetime:
		return time.Time{}, field + " is out of range"
	}
	return t, ""
}

// checkTokenText accepts printable ASCII without spaces: every access token
// format in use (RFC 6750 b64token, JWTs, Google's ya29 tokens) fits, and
// nothing that could break a SASL message does.
func checkTokenText(tok []byte) string {
	if len(tok) == 0 {
		return "empty token"
	}
	for _, c := range tok {
		if c < 0x21 || c > 0x7e {
			return "token contains spaces, control characters or non-ASCII bytes"
		}
	}
	return ""
}

// sanitizeStderr makes an excerpt of a command's standard error safe to put
// in an error: the first limit characters, control characters and invalid
// UTF-8 replaced, lines joined with " | ", and credential-like words
// replaced by redact.Placeholder.
func sanitizeStderr(b []byte, limit int) string {
	// Look at a bounded prefix only; the excerpt is short anyway.
	if len(b) > 4*limit {
		b = b[:4*limit]
	}
	var lines []string
	for line := range strings.Lines(strings.ToValidUTF8(string(b), "\uFFFD")) {
		line = strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
				return -1
			}
			return r
		}, line)
		line = strings.TrimSpace(line)
		if line != "" {
			lines = append(lines, redactWords(line))
		}
	}
	s := strings.Join(lines, " | ")
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		s = string(r[:limit]) + "…"
	}
	return s
}

// redactWords replaces each run of credential characters (the base64,
// base64url and URL-safe alphabets) of 16 or more characters that mixes
// letters and digits by redact.Placeholder, unless the run is a file path
// or URL path made of short components.
func redactWords(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if !isCredentialByte(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		letters, digits := false, false
		for j < len(s) && isCredentialByte(s[j]) {
			c := s[j]
			letters = letters || (c|0x20 >= 'a' && c|0x20 <= 'z')
			digits = digits || (c >= '0' && c <= '9')
			j++
		}
		if j-i >= 16 && letters && digits && !isPathLike(s[i:j]) {
			b.WriteString(redact.Placeholder)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

func isCredentialByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/=%", c) >= 0
}

// isPathLike reports whether run looks like a path ("/usr/lib/x",
// "~/.config/oauth2ms/config.json", "//host.example/p") rather than a
// credential: it starts like a path and every component between slashes
// and dots is shorter than 16 characters.
func isPathLike(run string) bool {
	if !strings.HasPrefix(run, "/") && !strings.HasPrefix(run, "~/") && !strings.HasPrefix(run, "./") && !strings.HasPrefix(run, "../") {
		return false
	}
	for part := range strings.FieldsFuncSeq(run, func(r rune) bool { return r == '/' || r == '.' }) {
		if len(part) >= 16 {
			return false
		}
	}
	return true
}
