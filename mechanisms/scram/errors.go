package scram

import (
	"errors"
	"strconv"

	"github.com/saslkit/saslkit/sasl"
)

// ErrIterationCount: the server asked for an iteration count outside
// [Options.MinIterations, Options.MaxIterations]. The client cancels the
// exchange without running PBKDF2.
var ErrIterationCount = errors.New("scram: iteration count outside the allowed range")

// Server error values (RFC 5802 §7 server-error-value) this package sends or
// that callers commonly branch on.
const (
	ErrValueInvalidEncoding               = "invalid-encoding"
	ErrValueExtensionsNotSupported        = "extensions-not-supported"
	ErrValueInvalidProof                  = "invalid-proof"
	ErrValueChannelBindingsDontMatch      = "channel-bindings-dont-match"
	ErrValueServerDoesSupportCB           = "server-does-support-channel-binding"
	ErrValueChannelBindingNotSupported    = "channel-binding-not-supported"
	ErrValueUnsupportedChannelBindingType = "unsupported-channel-binding-type"
	ErrValueUnknownUser                   = "unknown-user"
	ErrValueInvalidUsernameEncoding       = "invalid-username-encoding"
	ErrValueNoResources                   = "no-resources"
	ErrValueOtherError                    = "other-error"
)

// ServerError is a SCRAM server's refusal, identified by its
// server-error-value (RFC 5802 §7), for example "invalid-proof" or
// "channel-bindings-dont-match". It wraps sasl.ErrAuthFailed.
//
// A client records one when the server sends "e=…" (see Client.Failure). A
// server returns one when it refuses the client; there it also wraps the
// cause when there is one, such as the lookup's sasl.ErrUnknownUser (the
// client only ever sees Value).
type ServerError struct {
	// Value is the server-error-value.
	Value string
	// cause is the server-side reason, never sent.
	cause error
}

// Error names the server-error-value.
func (e *ServerError) Error() string {
	return "scram: server refused authentication: " + quoteIfNeeded(e.Value)
}

// Unwrap returns sasl.ErrAuthFailed and, on the server side, the cause.
func (e *ServerError) Unwrap() []error {
	if e.cause != nil {
		return []error{sasl.ErrAuthFailed, e.cause}
	}
	return []error{sasl.ErrAuthFailed}
}

// quoteIfNeeded returns s as is when it is plain printable ASCII, quoted
// otherwise: a server-error-value comes from the network.
func quoteIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}
