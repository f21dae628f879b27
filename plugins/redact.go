package plugins

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Log redaction. A plugin is a separate program whose log lines reach the
// host's log; saslkit cannot trust it to keep secrets out of them. Every
// line is rewritten before it is logged: the secrets the host handed to the
// plugin or received from it (exact match, raw and encoded), and text
// shaped like a secret (patterns below). No library offers this for free
// text, so it is written here; internal/redact formats values, not text.

// Patterns of secrets in free text. They are immutable after init.
var (
	// "Bearer xyz", "Basic xyz": an HTTP credential.
	reScheme = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+|%20|\+)[^\s"',;&)}\]]+`)
	// key=value, key: value, "key":"value" where the key names a secret.
	reKeyValue = regexp.MustCompile(`(?i)("?)([a-z0-9_.-]*(?:token|passw(?:or)?d|pwd|secret|authorization|assertion|credential|api[_-]?key|private[_-]?key|cookie)[a-z0-9_.-]*)("?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&}\]]+)`)
	// Token formats known by their prefix: Google access tokens (ya29.)
	// and refresh tokens (1//).
	reKnown = regexp.MustCompile(`\bya29\.[A-Za-z0-9_.~+/-]+|(?:^|[^A-Za-z0-9/])1//0[A-Za-z0-9_.~+/-]{8,}`)
	// A JWT: three base64url segments, the first a JSON header.
	reJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// A long run of base64 or token characters: an opaque token, a SASL
	// response in base64, a key. Only runs that mix upper case, lower case
	// and digits are redacted, so hex digests, words and most paths stay.
	reOpaque = regexp.MustCompile(`[A-Za-z0-9+/_.~-]{24,}={0,2}`)
)

// redactText returns s with secret-shaped text replaced by [REDACTED].
func redactText(s string) string {
	if s == "" {
		return s
	}
	s = reScheme.ReplaceAllStringFunc(s, func(m string) string {
		sub := reScheme.FindStringSubmatch(m)
		if strings.HasPrefix(m[len(sub[1])+len(sub[2]):], "[REDACTED") {
			return m
		}
		return sub[1] + " [REDACTED]"
	})
	s = reKeyValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := reKeyValue.FindStringSubmatch(m)
		v := sub[4]
		if strings.EqualFold(v, "bearer") || strings.EqualFold(v, "basic") || strings.Contains(v, "[REDACTED") {
			return m // "Authorization: Bearer [REDACTED]" already
		}
		switch {
		case strings.HasPrefix(v, `"`):
			v = `"[REDACTED]"`
		case strings.HasPrefix(v, `'`):
			v = `'[REDACTED]'`
		default:
			v = "[REDACTED]"
		}
		return sub[1] + sub[2] + sub[3] + v
	})
	s = reKnown.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.Index(m, "1//0"); i > 0 {
			return m[:i] + "[REDACTED]"
		}
		return "[REDACTED]"
	})
	s = reJWT.ReplaceAllString(s, "[REDACTED]")
	s = reOpaque.ReplaceAllStringFunc(s, func(m string) string {
		if m[0] == '/' || m[0] == '.' || strings.Contains(m, "[REDACTED]") || !mixed(m) {
			return m
		}
		return "[REDACTED]"
	})
	return s
}

// mixed reports whether s holds an upper-case letter, a lower-case letter
// and a digit.
func mixed(s string) bool {
	var up, low, dig bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			up = true
		case 'a' <= c && c <= 'z':
			low = true
		case '0' <= c && c <= '9':
			dig = true
		}
	}
	return up && low && dig
}

// secretSet holds the secrets a host exchanged with one plugin recently
// (access tokens it received, passwords it sent), so that a plugin logging
// one verbatim or encoded is caught even when the secret has no telltale
// shape. It keeps the last maxSecrets.
type secretSet struct {
	mu   sync.RWMutex
	list []string // encoded forms, newest last
}

const maxSecrets = 32

// minSecretLen: shorter strings are too likely to match ordinary text.
const minSecretLen = 4

// add records secret in every form a plugin might print it.
func (s *secretSet) add(secret string) {
	if len(secret) < minSecretLen {
		return
	}
	forms := []string{
		secret,
		url.QueryEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.list {
		if f == secret {
			return
		}
	}
	s.list = append(s.list, forms...)
	if over := len(s.list) - maxSecrets*len(forms); over > 0 {
		s.list = append(s.list[:0:0], s.list[over:]...)
	}
}

// redact returns text with every known secret and every secret-shaped
// string replaced.
func (s *secretSet) redact(text string) string {
	if s != nil {
		s.mu.RLock()
		for i := len(s.list) - 1; i >= 0; i-- {
			if f := s.list[i]; strings.Contains(text, f) {
				text = strings.ReplaceAll(text, f, "[REDACTED]")
			}
		}
		s.mu.RUnlock()
	}
	return redactText(text)
}
