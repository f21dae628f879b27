package mechtest

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// minSecretLen is the shortest secret searched for: a shorter one would be
// found by chance.
const minSecretLen = 4

// Secrets finds secrets in text. Each secret is searched for as is, in
// standard and URL-safe base64, padded and raw, and in lower- and upper-case
// hex. Secrets shorter than four bytes are ignored.
type Secrets struct {
	forms []string
}

// NewSecrets returns a finder for secrets. To catch a secret inside a
// base64-encoded message, pass the whole message as a secret too: base64
// of a longer text does not contain the secret's own base64.
func NewSecrets(secrets ...string) *Secrets {
	s := &Secrets{}
	for _, secret := range secrets {
		if len(secret) < minSecretLen {
			continue
		}
		b := []byte(secret)
		s.forms = append(s.forms, secret,
			base64.StdEncoding.EncodeToString(b),
			base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b),
			base64.RawURLEncoding.EncodeToString(b),
			hex.EncodeToString(b),
			strings.ToUpper(hex.EncodeToString(b)))
	}
	return s
}

// Forms returns every form searched for.
func (s *Secrets) Forms() []string { return append([]string(nil), s.forms...) }

// Find returns the first form that text holds, or "".
func (s *Secrets) Find(text string) string {
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			return f
		}
	}
	return ""
}

// verbs are the fmt verbs a value is rendered with.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}

// Renderings returns every text v can become: each fmt verb, fmt.Sprint and
// fmt.Sprintln; for an error also Error(); for a client, the renderings of
// the failure it recorded (sasl.FailureOf). Each is prefixed with how it was
// made, as in "%+v: ...".
func Renderings(v any) []string {
	var out []string
	for _, verb := range verbs {
		out = append(out, verb+": "+fmt.Sprintf(verb, v))
	}
	out = append(out, "Sprint: "+fmt.Sprint(v), "Sprintln: "+fmt.Sprintln(v))
	if err, ok := v.(error); ok {
		out = append(out, "Error: "+err.Error())
	}
	if c, ok := v.(sasl.Client); ok {
		if f := sasl.FailureOf(c); f != nil {
			for _, r := range Renderings(f) {
				out = append(out, "Failure "+r)
			}
		}
	}
	return out
}

// Check reports to t every rendering of each value that shows a secret.
// what names the values in the report; nil values are skipped.
func (s *Secrets) Check(t testing.TB, what string, values ...any) {
	t.Helper()
	for _, v := range values {
		if v == nil {
			continue
		}
		for _, text := range Renderings(v) {
			s.CheckText(t, what, text)
		}
	}
}

// CheckText reports to t when text shows a secret.
func (s *Secrets) CheckText(t testing.TB, what, text string) {
	t.Helper()
	if f := s.Find(text); f != "" {
		t.Errorf("%s reveals a secret (as %q): %.200q", what, f, text)
	}
}
