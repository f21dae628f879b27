package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/saslkit/saslkit/providers"
)

// Exit codes beyond the common ones (see the package documentation).
const (
	// exitAuth: the server or the token endpoint refused the credentials,
	// or the account must be authorized (again).
	exitAuth = 3
	// exitNoMechanism: the server offers no mechanism the account can use.
	exitNoMechanism = 4
	// exitNetwork: the server could not be reached, or TLS failed
	// (certificate verification included).
	exitNetwork = 5
	// exitConfig: the accounts file is missing or wrong.
	exitConfig = 6
)

// exitCodesHelp is the line of exit codes that the account commands print
// in their help.
const exitCodesHelp = `Exit codes: 0 success, 1 failure, 2 usage, 3 credentials refused or
authorization needed (run saslkit authorize), 4 no usable mechanism,
5 network or TLS failure, 6 accounts file missing or wrong.`

// withCode wraps err in an *exitError with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// configFailure maps an error from loading the accounts file.
func configFailure(err error) error {
	return withCode(exitConfig, err)
}

// isNetworkError reports whether err is a failure to reach a server: a
// refused or timed-out connection, a name that does not resolve, a TLS
// handshake or certificate failure.
func isNetworkError(err error) bool {
	var (
		ne   net.Error
		oe   *net.OpError
		de   *net.DNSError
		cve  *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		rhe  tls.RecordHeaderError
		ae   tls.AlertError
		tr   *providers.TransientError
		path *os.PathError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci),
		errors.As(err, &rhe), errors.As(err, &ae), errors.As(err, &oe), errors.As(err, &de):
		return true
	case errors.As(err, &path):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ne):
		return true
	case errors.As(err, &tr):
		return isNetworkError(tr.Err)
	}
	return false
}

// tokenFailure maps an error from obtaining an access token to an exit
// code and adds what to do about it.
func tokenFailure(a *account, err error) error {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue), errors.As(err, &ee), errors.Is(err, flag.ErrHelp):
		return err
	case errors.As(err, new(*pluginError)):
		return withCode(exitConfig, err)
	case errors.Is(err, providers.ErrNotFound):
		return withCode(exitAuth, fmt.Errorf("account %s is not authorized yet: run 'saslkit authorize %s'", a.name, a.name))
	case errors.Is(err, providers.ErrReauthRequired):
		return withCode(exitAuth, fmt.Errorf("%w\n%s", err, reauthAdvice(a)))
	case errors.Is(err, providers.ErrAccessDenied), errors.Is(err, providers.ErrStateMismatch):
		return withCode(exitAuth, err)
	case errors.Is(err, providers.ErrDelegationDenied):
		return withCode(exitAuth, err)
	case isNetworkError(err):
		return withCode(exitNetwork, err)
	}
	return err
}

// reauthAdvice says how to get an account working again after its grant
// was refused.
func reauthAdvice(a *account) string {
	switch a.provider {
	case kindClientCredentials:
		return "The token endpoint refused the client: check client_id, the client secret or certificate, and the tenant."
	case kindServiceAccount:
		return "The token endpoint refused the service account: check the key file, and that domain-wide delegation is granted for the scopes."
	}
	return fmt.Sprintf("The refresh token is no longer valid (revoked, expired, or the password changed): run 'saslkit authorize %s'.", a.name)
}
