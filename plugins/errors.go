package plugins

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNoChecksum: Open was given neither Options.Checksum nor
	// Options.InsecureSkipChecksum. Nothing was run.
	ErrNoChecksum = errors.New("plugins: no checksum given for plugin")
	// ErrChecksum: the plugin file's SHA-256 differs from the expected
	// one. It is wrapped in a *ChecksumError. Nothing was run.
	ErrChecksum = errors.New("plugins: plugin checksum mismatch")
	// ErrManifest: a plugin directory's SHA256SUMS is missing, malformed,
	// or does not list a file of the directory. It is wrapped in a
	// *ManifestError.
	ErrManifest = errors.New("plugins: plugin manifest")
	// ErrStart: the plugin process could not be started, did not complete
	// the handshake in time, or announced an incompatible protocol.
	ErrStart = errors.New("plugins: plugin failed to start")
	// ErrExited: the plugin process exited (crashed) while a call was in
	// flight, or a call was interrupted by its connection closing. An
	// authentication in progress fails with it. The plugin is started
	// again on next use.
	ErrExited = errors.New("plugins: plugin exited")
	// ErrTimeout: a call did not complete within Options.CallTimeout. The
	// plugin process was killed; it is started again on next use.
	ErrTimeout = errors.New("plugins: plugin call timed out")
	// ErrRestarting: the plugin crashed recently and is waiting out its
	// restart backoff, longer than the caller's context allows.
	ErrRestarting = errors.New("plugins: plugin restarting")
	// ErrClosed: the Plugin was closed.
	ErrClosed = errors.New("plugins: plugin closed")
	// ErrUnsupported: the plugin does not serve what was asked (a token
	// source from a mechanism-only plugin).
	ErrUnsupported = errors.New("plugins: plugin does not serve this")
	// ErrProtocol: the plugin broke the protocol (an empty access token, an
	// invalid mechanism name, an unknown conversation).
	ErrProtocol = errors.New("plugins: plugin protocol violation")
)

// ChecksumError reports a plugin whose file does not have the expected
// SHA-256. It wraps ErrChecksum.
type ChecksumError struct {
	// Path is the plugin file.
	Path string
	// Want and Got are the expected and actual digests, in hex.
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return "plugins: checksum mismatch for " + strconv.Quote(e.Path) + ": want sha256 " + e.Want + ", file has " + e.Got
}

// Unwrap returns ErrChecksum.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }

// ManifestError reports a problem with a plugin directory's manifest. It
// wraps ErrManifest.
type ManifestError struct {
	// Path is the manifest file.
	Path string
	// Line is the 1-based line at fault, or 0.
	Line int
	// Name is the plugin file at fault, or "".
	Name string
	// Reason says what is wrong.
	Reason string
}

func (e *ManifestError) Error() string {
	s := "plugins: manifest " + strconv.Quote(e.Path)
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Name != "" {
		s += ": " + strconv.Quote(e.Name)
	}
	return s + ": " + e.Reason
}

// Unwrap returns ErrManifest.
func (e *ManifestError) Unwrap() error { return ErrManifest }

// RemoteError is an error a plugin returned that has no closer equivalent in
// saslkit's vocabulary. Message is the plugin's description, with any
// secret-looking text redacted.
type RemoteError struct {
	// Plugin names the plugin.
	Plugin string
	// Message describes the error.
	Message string
	// kind wrapped by Unwrap, when the wire kind maps to a sentinel.
	err error
}

func (e *RemoteError) Error() string {
	s := "plugins: " + e.Plugin + ": " + e.Message
	if e.err != nil && e.Message == "" {
		s = "plugins: " + e.Plugin + ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the saslkit error the plugin reported, if any.
func (e *RemoteError) Unwrap() error { return e.err }

// kindErrors maps wire kinds to sentinels, both ways.
var kindErrors = []struct {
	kind pb.Error_Kind
	err  error
}{
	{pb.Error_KIND_UNKNOWN_USER, sasl.ErrUnknownUser},
	{pb.Error_KIND_SERVER_AUTH, sasl.ErrServerAuth},
	{pb.Error_KIND_DONE, sasl.ErrDone},
	{pb.Error_KIND_NO_VERIFIER, sasl.ErrNoVerifier},
	{pb.Error_KIND_UNEXPECTED_CHALLENGE, sasl.ErrUnexpectedChallenge},
	{pb.Error_KIND_UNEXPECTED_RESPONSE, sasl.ErrUnexpectedResponse},
	{pb.Error_KIND_REAUTH_REQUIRED, providers.ErrReauthRequired},
	{pb.Error_KIND_NO_TOKEN, providers.ErrNoToken},
	{pb.Error_KIND_TOKEN_EXPIRED, providers.ErrTokenExpired},
	{pb.Error_KIND_NO_CREDENTIALS, sasl.ErrNoCredentials},
	{pb.Error_KIND_UNUSABLE, sasl.ErrUnusable},
	{pb.Error_KIND_NOT_REGISTERED, sasl.ErrNotRegistered},
	{pb.Error_KIND_CLIENT_ONLY, sasl.ErrClientOnly},
	{pb.Error_KIND_AUTH_FAILED, sasl.ErrAuthFailed}, // after the kinds that wrap it
}

// toWire describes err in the protocol's vocabulary. The message is the
// error's text, which saslkit's errors keep free of secrets, passed through
// the log redaction as a second line of defence.
func toWire(err error) *pb.Error {
	if err == nil {
		return nil
	}
	e := &pb.Error{Message: redactText(err.Error())}
	var te *sasl.TokenError
	var me *sasl.MalformedError
	var oe *providers.OAuthError
	var tr *providers.TransientError
	switch {
	case errors.As(err, &te):
		e.Kind, e.Mechanism = pb.Error_KIND_TOKEN_REJECTED, te.Mechanism
		e.Token = &pb.TokenRejection{Status: te.Status, Schemes: te.Schemes, Scope: te.Scope, OpenidConfiguration: te.OpenIDConfiguration}
		return e
	case errors.As(err, &me):
		e.Kind, e.Mechanism, e.Message = pb.Error_KIND_MALFORMED, me.Mechanism, me.Reason
		return e
	case errors.As(err, &oe):
		e.Kind = pb.Error_KIND_OAUTH
		e.Oauth = &pb.OAuthError{Code: oe.Code, Description: oe.Description, Uri: oe.URI, HttpStatus: int32(oe.StatusCode)}
		e.RetryAfterMillis = oe.RetryAfter.Milliseconds()
		return e
	case errors.As(err, &tr):
		e.Kind, e.RetryAfterMillis = pb.Error_KIND_TRANSIENT, tr.RetryAfter.Milliseconds()
		return e
	case errors.Is(err, sasl.ErrMalformed):
		e.Kind = pb.Error_KIND_MALFORMED
		return e
	}
	for _, k := range kindErrors {
		if errors.Is(err, k.err) {
			e.Kind = k.kind
			return e
		}
	}
	return e
}

// fromWire turns a wire error into saslkit's vocabulary: a *sasl.TokenError,
// a *sasl.MalformedError, a *providers.OAuthError, a
// *providers.TransientError, or a *RemoteError wrapping the sentinel of its
// kind.
func fromWire(name string, e *pb.Error) error {
	if e == nil {
		return nil
	}
	msg := redactText(e.GetMessage())
	retry := time.Duration(max(e.GetRetryAfterMillis(), 0)) * time.Millisecond
	switch e.GetKind() {
	case pb.Error_KIND_TOKEN_REJECTED:
		t := e.GetToken()
		return &sasl.TokenError{Mechanism: e.GetMechanism(), Status: t.GetStatus(), Schemes: t.GetSchemes(),
			Scope: t.GetScope(), OpenIDConfiguration: t.GetOpenidConfiguration()}
	case pb.Error_KIND_MALFORMED:
		return sasl.Malformed(e.GetMechanism(), msg)
	case pb.Error_KIND_OAUTH:
		o := e.GetOauth()
		return &providers.OAuthError{Code: o.GetCode(), Description: redactText(o.GetDescription()), URI: o.GetUri(),
			StatusCode: int(o.GetHttpStatus()), RetryAfter: retry}
	case pb.Error_KIND_TRANSIENT:
		return &providers.TransientError{Err: &RemoteError{Plugin: name, Message: msg}, RetryAfter: retry}
	}
	for _, k := range kindErrors {
		if k.kind == e.GetKind() {
			return &RemoteError{Plugin: name, Message: msg, err: k.err}
		}
	}
	return &RemoteError{Plugin: name, Message: msg}
}

// statusError returns err as a gRPC status carrying its wire form.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, providers.ErrReauthRequired):
		code = codes.PermissionDenied
	case errors.Is(err, sasl.ErrNotRegistered), errors.Is(err, ErrUnsupported):
		code = codes.NotFound
	case errors.Is(err, sasl.ErrMalformed), errors.Is(err, sasl.ErrNoCredentials):
		code = codes.InvalidArgument
	case errors.Is(err, sasl.ErrUnusable), errors.Is(err, sasl.ErrClientOnly):
		code = codes.FailedPrecondition
	}
	w := toWire(err)
	st, derr := status.New(code, w.GetMessage()).WithDetails(w)
	if derr != nil {
		return status.Error(code, w.GetMessage())
	}
	return st.Err()
}

// callError turns an RPC failure into a saslkit error: the plugin's own
// error from the status detail; ErrTimeout for a missed deadline; ErrExited
// for a connection that broke (the process died).
func callError(ctx context.Context, name string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if w, ok := d.(*pb.Error); ok {
			return fromWire(name, w)
		}
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		if cerr := ctx.Err(); cerr != nil {
			return cerr // the caller's own deadline, not the plugin's fault
		}
		return fmt.Errorf("%w: %s", ErrTimeout, name)
	case codes.Canceled:
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%w: %s: call cancelled", ErrExited, name)
	case codes.Unavailable:
		return fmt.Errorf("%w: %s: %s", ErrExited, name, redactText(st.Message()))
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s: %s", ErrUnsupported, name, redactText(st.Message()))
	case codes.NotFound:
		return fmt.Errorf("%w: %s: %s", ErrProtocol, name, redactText(st.Message()))
	}
	return &RemoteError{Plugin: name, Message: st.Code().String() + ": " + redactText(st.Message())}
}
