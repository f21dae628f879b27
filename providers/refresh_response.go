package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxResponseBody bounds how much of a token endpoint response is read.
const maxResponseBody = 1 << 20

// maxLifetime caps an expires_in value, so that a hostile or broken server
// cannot make a token look valid for decades.
const maxLifetime = 366 * 24 * time.Hour

// tokenResponse is a parsed token endpoint answer.
type tokenResponse struct {
	tok *oauth2.Token
	// guessedExpiry is set when expires_in was missing or unusable and the
	// conservative default lifetime was applied.
	guessedExpiry bool
}

// parseTokenResponse interprets a token endpoint response (RFC 6749
// sections 5.1 and 5.2), in JSON or, as some servers send,
// form-encoded.
//
// It is written here rather than left to x/oauth2 because x/oauth2 fails
// the whole response when expires_in is malformed, and by then the server
// has already rotated the refresh token: the new one would be lost with
// the old one revoked. This parser keeps every usable field and applies
// defaultLife when expires_in is missing, malformed or not positive.
//
// Errors never quote the body. secrets are removed from any error
// description.
func parseTokenResponse(status int, header http.Header, body []byte, now time.Time, defaultLife time.Duration, secrets []string) (*tokenResponse, error) {
	fields, ok := parseResponseFields(header.Get("Content-Type"), body)
	code := fields["error"]
	if status < 200 || status > 299 || code != "" {
		return nil, &OAuthError{
			Code:        cleanText(code, 64, secrets),
			Description: cleanText(fields["error_description"], 400, secrets),
			URI:         cleanText(fields["error_uri"], 200, secrets),
			StatusCode:  status,
			RetryAfter:  parseRetryAfter(header.Get("Retry-After"), now),
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: HTTP %d body is neither a JSON object nor form-encoded", ErrBadResponse, status)
	}
	access := fields["access_token"]
	if access == "" {
		return nil, fmt.Errorf("%w: no access_token", ErrBadResponse)
	}
	tok := &oauth2.Token{
		AccessToken:  access,
		TokenType:    fields["token_type"],
		RefreshToken: fields["refresh_token"],
	}
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	r := &tokenResponse{tok: tok}
	life, ok := parseExpiresIn(fields["expires_in"])
	if !ok {
		life = defaultLife
		r.guessedExpiry = true
	}
	tok.Expiry = now.Add(life)
	if secs := int64(life / time.Second); secs > 0 {
		tok.ExpiresIn = secs
	}
	return r, nil
}

// parseResponseFields returns the string-valued top-level fields of a JSON
// object, or the fields of a form-encoded body. A numeric expires_in is
// kept in its textual form; other non-string JSON values are dropped. ok is false when the body is
// neither.
func parseResponseFields(contentType string, body []byte) (map[string]string, bool) {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		if len(trimmed) > 0 && trimmed[0] != '{' {
			vals, err := url.ParseQuery(string(trimmed))
			if err != nil {
				return map[string]string{}, false
			}
			out := make(map[string]string, len(vals))
			for k, v := range vals {
				if len(v) > 0 {
					out[k] = v[0]
				}
			}
			return out, true
		}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return map[string]string{}, false
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			continue
		}
		switch {
		case v[0] == '"':
			var s string
			if json.Unmarshal(v, &s) == nil {
				out[k] = s
			}
		case k == "expires_in" && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
			out[k] = string(v)
		}
	}
	return out, true
}

// parseExpiresIn reads expires_in: an integer or decimal number of seconds,
// possibly sent as a string. It reports false when the value is missing,
// malformed, or not positive.
func parseExpiresIn(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, false
		}
		if n > int64(maxLifetime/time.Second) {
			return maxLifetime, true
		}
		return time.Duration(n) * time.Second, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f <= 0 {
		return 0, false
	}
	if f > float64(maxLifetime/time.Second) {
		return maxLifetime, true
	}
	return time.Duration(f * float64(time.Second)), true
}
