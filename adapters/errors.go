package adapters

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors callers branch on with errors.Is. Adapters return them inside an
// *AuthError.
var (
	// ErrRejected: the server refused the credentials (IMAP
	// NO [AUTHENTICATIONFAILED], SMTP 535, POP3 -ERR [AUTH]).
	ErrRejected = errors.New("adapters: credentials rejected")
	// ErrTemporary: the server could not authenticate now and the same
	// credentials may work later (SMTP 454, IMAP [UNAVAILABLE], POP3
	// [SYS/TEMP]). Do not ask the user for new credentials.
	ErrTemporary = errors.New("adapters: temporary authentication failure")
	// ErrTLSRequired: the server refuses this mechanism without TLS, or
	// asks for a stronger one (SMTP 530/534/538, IMAP [PRIVACYREQUIRED]).
	ErrTLSRequired = errors.New("adapters: server requires TLS or a stronger mechanism")
	// ErrCancelled: the client cancelled the exchange, because the
	// server sent a challenge the mechanism could not accept or failed
	// mutual authentication.
	ErrCancelled = errors.New("adapters: authentication cancelled by the client")
	// ErrAlreadyAuthenticated: the connection is already authenticated;
	// the client refused to authenticate again without sending anything.
	ErrAlreadyAuthenticated = errors.New("adapters: already authenticated")
)

// AuthError is a failed authentication exchange. It matches Kind with
// errors.Is, and errors.As finds the mechanism's Failure (for example a
// *sasl.TokenError) and the protocol library's Cause.
type AuthError struct {
	// Protocol is "IMAP", "SMTP" or "POP3".
	Protocol string
	// Mechanism is the SASL mechanism of the exchange.
	Mechanism string
	// Code is the protocol's status: an SMTP reply code ("535"), an IMAP
	// response code ("AUTHENTICATIONFAILED"), a POP3 response code
	// ("SYS/TEMP"), or "" when the server gave none.
	Code string
	// Text is the server's human-readable text, sanitised: printable,
	// at most MaxTextLen bytes.
	Text string
	// Kind is ErrRejected, ErrTemporary, ErrTLSRequired, ErrCancelled or
	// ErrAlreadyAuthenticated, or nil when the server's answer fits none.
	Kind error
	// Failure is the failure the mechanism recorded (sasl.FailureOf), or
	// nil.
	Failure error
	// Cause is the underlying error: the protocol library's error
	// (*imap.Error, *smtp.SMTPError) or, when the client cancelled, the
	// mechanism's error. It may be nil.
	Cause error
	// Advertised is the server's mechanism list the exchange's mechanism
	// was negotiated from (sasl.Negotiated.Advertised()), or nil when no
	// negotiation took place.
	Advertised []string
}

// Error describes the failure. It holds no secret, and server text only
// after Sanitize.
func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString("adapters: ")
	if e.Protocol != "" {
		b.WriteString(e.Protocol + " ")
	}
	if e.Mechanism != "" {
		b.WriteString(e.Mechanism + " ")
	}
	b.WriteString("authentication failed")
	if e.Kind != nil {
		b.WriteString(": " + strings.TrimPrefix(e.Kind.Error(), "adapters: "))
	}
	if e.Code != "" {
		b.WriteString(" [" + Sanitize(e.Code) + "]")
	}
	if e.Text != "" {
		b.WriteString(" " + strconvQuote(Sanitize(e.Text)))
	}
	if e.Failure != nil {
		b.WriteString(": " + e.Failure.Error())
	} else if e.Kind == ErrCancelled && e.Cause != nil {
		b.WriteString(": " + e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns Kind, Failure and Cause, those that are set.
func (e *AuthError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range []error{e.Kind, e.Failure, e.Cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// MaxTextLen bounds the server text an AuthError keeps.
const MaxTextLen = 200

// Sanitize makes untrusted server text safe to show and log: invalid UTF-8
// and control characters become spaces, runs of spaces collapse, and the
// result is cut to MaxTextLen bytes (on a rune boundary, with "…").
func Sanitize(s string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size <= 1 || !unicode.IsPrint(r) {
			r = ' '
		}
		if r == ' ' {
			if space || b.Len() == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > MaxTextLen {
			return strings.TrimRight(b.String(), " ") + "…"
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}

// strconvQuote quotes s with double quotes, escaping only quotes and
// backslashes (s is already printable).
func strconvQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
