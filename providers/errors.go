package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Errors callers branch on with errors.Is.
var (
	// ErrReauthRequired means the grant this provider holds can no longer be
	// used: the token endpoint answered invalid_grant (the refresh token
	// expired, was revoked or was already used) or invalid_client (the
	// client credentials are wrong), or no refresh token is stored. Retrying
	// cannot help; the user must authorize again (or an administrator must
	// fix the client registration). It is never retried.
	ErrReauthRequired = errors.New("providers: authorization required again")

	// ErrPersistFailed means a token was obtained but could not be saved in
	// the TokenStore. The token itself is usable; for a rotated refresh
	// token the previous one is already revoked by the server, so the
	// process that holds the new one in memory is the only one that can
	// still refresh. It is distinct from every authorization failure.
	ErrPersistFailed = errors.New("providers: could not persist token")

	// ErrTokenExpired means the only token available is past its expiry.
	ErrTokenExpired = errors.New("providers: token expired")

	// ErrNoToken means a source has no token to offer: an empty static
	// token, or a fetcher that returned neither a token nor an error.
	ErrNoToken = errors.New("providers: no token")

	// ErrNotFound is returned by TokenStore.Load when no token is stored
	// for the account.
	ErrNotFound = errors.New("providers: no stored token for account")

	// ErrConflict is returned by TokenStore.Save and TokenStore.Delete
	// when the stored token is no longer the one the caller based its
	// change on (the compare-and-swap failed).
	ErrConflict = errors.New("providers: stored token changed concurrently")

	// ErrInsecureFile is returned when a token file or directory can be
	// read or written by other users than its owner.
	ErrInsecureFile = errors.New("providers: token file permissions too open")

	// ErrCorruptStore is returned when stored data cannot be parsed.
	ErrCorruptStore = errors.New("providers: stored token data is malformed")

	// ErrInvalidConfig is returned by constructors given an unusable
	// configuration (a missing token URL, store or account).
	ErrInvalidConfig = errors.New("providers: invalid configuration")

	// ErrBadResponse is returned when a token endpoint answers 2xx with a
	// body that holds no usable access token.
	ErrBadResponse = errors.New("providers: malformed token endpoint response")
)

// OAuthError is a failed token endpoint response: an RFC 6749 section 5.2
// error, or a non-2xx answer without one (an HTML error page from a proxy,
// for example). It carries the error code, description and HTTP status but
// never the response body, a token or a client secret.
//
// An OAuthError whose Code is invalid_grant or invalid_client matches
// ErrReauthRequired with errors.Is.
type OAuthError struct {
	// Code is the RFC 6749 "error" field, or "" when the body had none.
	Code string
	// Description is the "error_description" field, cleaned of control
	// characters, shortened, and with known secrets replaced by
	// [REDACTED].
	Description string
	// URI is the "error_uri" field.
	URI string
	// StatusCode is the HTTP status code, or 0 when unknown.
	StatusCode int
	// RetryAfter is the delay the server asked for in a Retry-After header,
	// or 0.
	RetryAfter time.Duration
}

// Error describes the failure without any token or secret.
func (e *OAuthError) Error() string {
	var b strings.Builder
	b.WriteString("providers: token endpoint")
	if e.StatusCode != 0 {
		b.WriteString(" returned HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
		if e.Description != "" {
			b.WriteString(": ")
			b.WriteString(e.Description)
		}
	} else {
		b.WriteString(" without an OAuth error code")
	}
	return b.String()
}

// Is reports whether the error matches target: ErrReauthRequired for
// invalid_grant and invalid_client.
func (e *OAuthError) Is(target error) bool {
	return target == ErrReauthRequired && e.reauth()
}

func (e *OAuthError) reauth() bool {
	return e.Code == "invalid_grant" || e.Code == "invalid_client"
}

// transient reports whether the request is worth repeating.
func (e *OAuthError) transient() bool {
	switch {
	case e.reauth():
		return false
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout:
		return true
	case e.Code == "temporarily_unavailable", e.Code == "server_error", e.Code == "slow_down":
		return true
	case e.Code == "":
		// No OAuth error field: a proxy, load balancer or WAF answered
		// (HTML 502, 503, 403 pages). The authorization server never saw
		// or never judged the request, so repeating it is safe.
		return true
	case e.StatusCode >= 500:
		return true
	}
	return false
}

// PersistError reports a token that was obtained but not saved. It wraps
// ErrPersistFailed and the store's error.
type PersistError struct {
	// Account is the store key.
	Account string
	// Err is the store's error.
	Err error
}

func (e *PersistError) Error() string {
	return "providers: could not persist token for account " + strconv.Quote(e.Account) + ": " + e.Err.Error()
}

// Unwrap returns ErrPersistFailed and the store's error.
func (e *PersistError) Unwrap() []error { return []error{ErrPersistFailed, e.Err} }

// TransientError marks an error as temporary: the Cache retries the fetch
// with backoff. Fetchers wrap their own errors in it (see Transient) when a
// retry can succeed, for example a helper command that timed out.
type TransientError struct {
	// Err is the underlying error.
	Err error
	// RetryAfter is the minimum delay before the next attempt, or 0.
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as worth retrying. It returns nil for a nil err.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// TokenEndpointError turns an error from a token request into one that is
// safe to return and log, and that the Cache can classify:
//
//   - an *oauth2.RetrieveError (whose Error method prints the response
//     body) becomes an *OAuthError holding the code, description, status
//     and Retry-After only;
//   - network errors become a *TransientError;
//   - every other error is returned unchanged.
//
// Every string in secrets (the refresh token, client secret or assertion
// used for the request) is removed from the description in its raw, URL
// query encoded and base64 forms. Providers call it on the error of every
// token request; the Cache also applies it to what a Fetcher returns.
func TokenEndpointError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		out := &OAuthError{
			Code:        cleanText(re.ErrorCode, 64, secrets),
			Description: cleanText(re.ErrorDescription, 400, secrets),
			URI:         cleanText(re.ErrorURI, 200, secrets),
		}
		if re.Response != nil {
			out.StatusCode = re.Response.StatusCode
			out.RetryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
		return out
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *TransientError
	if errors.As(err, &te) {
		return err
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return &TransientError{Err: fmt.Errorf("providers: token request failed: %w", scrubError(err, secrets))}
	}
	return err
}

// scrubError returns err, or a copy of its message without secrets when it
// contains one. A *url.Error carries the request URL, which for a token
// endpoint holds no secret, but a misconfigured client might put one in a
// query string.
func scrubError(err error, secrets []string) error {
	msg := err.Error()
	clean := redactSecrets(msg, secrets)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// cleanText makes server-supplied text safe to show: secrets removed,
// control characters dropped, length bounded.
func cleanText(s string, limit int, secrets []string) string {
	s = redactSecrets(s, secrets)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// redactSecrets replaces every non-empty secret in s, raw and in the
// encodings a server might echo it in.
func redactSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		for _, form := range []string{
			sec,
			url.QueryEscape(sec),
			url.PathEscape(sec),
			base64.StdEncoding.EncodeToString([]byte(sec)),
			base64.RawStdEncoding.EncodeToString([]byte(sec)),
			base64.URLEncoding.EncodeToString([]byte(sec)),
			base64.RawURLEncoding.EncodeToString([]byte(sec)),
		} {
			if strings.Contains(s, form) {
				s = strings.ReplaceAll(s, form, "[REDACTED]")
			}
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when absent or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 86400 {
			n = 86400
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}
