package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// Failure kinds of check --json.
const (
	failAuthorize   = "authorization_needed" // no refresh token, or it was refused: run authorize
	failTokenSource = "token_source"         // the token provider failed otherwise
	failRejected    = "rejected"             // the server refused the credentials
	failSMTPAuthOff = "smtp_auth_disabled"   // Microsoft 365: SMTP AUTH off for the tenant or mailbox
	failAppPassword = "app_password_required"
	failTemporary   = "temporary"
	failTLSRequired = "tls_required"
	failNoMechanism = "no_mechanism"
	failInsecure    = "insecure_connection"
	failCertificate = "certificate"
	failTLS         = "tls"
	failRefused     = "connection_refused"
	failDNS         = "host_not_found"
	failTimeout     = "timeout"
	failNetwork     = "network"
	failDropped     = "connection_closed"
	failCancelled   = "cancelled"
	failConfig      = "config"
	failOther       = "other"
)

// fail records err with its explanation and exit code.
func (r *checkResult) fail(a *account, stage string, err error) {
	code, kind, stg, expl := explain(a, r, err)
	if stage == "" {
		stage = stg
	}
	f := &checkFailure{Stage: stage, Kind: kind, Error: err.Error(), Explanation: expl}
	var ae *adapters.AuthError
	if errors.As(err, &ae) {
		f.ServerCode, f.ServerText = ae.Code, ae.Text
	}
	r.Failure, r.ExitCode = f, code
}

// explain classifies err: the exit code, the failure kind, the stage it
// happened in, and what it means in plain words.
func explain(a *account, r *checkResult, err error) (code int, kind, stage, text string) {
	proto := r.Protocol
	var (
		ne  *sasl.NegotiationError
		ae  *adapters.AuthError
		te  *sasl.TokenError
		cve *tls.CertificateVerificationError
		se  *secretError
		ce  *configError
		pe  *pluginError
	)
	switch {
	case errors.As(err, &se), errors.As(err, &ce):
		return exitConfig, failConfig, "credentials", "The account's settings could not be used; fix them in the accounts file."
	case errors.As(err, &pe):
		return exitConfig, failConfig, "credentials", "The account's plugin could not be started: check its path and sha256 (or the plugin directory's SHA256SUMS) in the accounts file."
	case errors.Is(err, providers.ErrNotFound):
		return exitAuth, failAuthorize, "token", fmt.Sprintf("No refresh token is stored for account %s yet: run 'saslkit authorize %s' once.", a.name, a.name)
	case errors.Is(err, providers.ErrReauthRequired):
		return exitAuth, failAuthorize, "token", reauthAdvice(a)
	case errors.Is(err, providers.ErrDelegationDenied):
		return exitAuth, failAuthorize, "token", "Google refused to issue a token for this user: domain-wide delegation is not granted to the service account's client ID for these scopes (Google Admin console, Security, API controls)."
	case errors.As(err, &cve):
		return exitNetwork, failCertificate, "tls", certAdvice(a, r, cve.Err)
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(x509.HostnameError)), errors.As(err, new(x509.CertificateInvalidError)):
		return exitNetwork, failCertificate, "tls", certAdvice(a, r, err)
	case errors.As(err, &ne):
		if errors.Is(err, sasl.ErrInsecureTransport) {
			return exitNoMechanism, failInsecure, "negotiate", "The connection is not protected by verified TLS, so saslkit will not send a password or token over it. Use the TLS port (imaps://, smtps://, pop3s://) or STARTTLS (imap://, smtp://, pop3://), which saslkit always upgrades."
		}
		if r.Failure == nil && len(tokenSourceErrors(ne)) > 0 {
			break
		}
		return exitNoMechanism, failNoMechanism, "negotiate", noMechanismAdvice(a, proto, ne)
	case errors.As(err, &ae):
		errors.As(err, &te)
		return authAdvice(a, proto, ae, te)
	}
	if errors.As(err, &ne) {
		// A token provider failed while negotiation tried a token
		// mechanism.
		return exitAuth, failTokenSource, "token", "The account's token provider failed: " + errors.Join(tokenSourceErrors(ne)...).Error()
	}
	var rhe tls.RecordHeaderError
	var alert tls.AlertError
	var dns *net.DNSError
	switch {
	case errors.As(err, &rhe):
		other := map[string]string{"imap": "imap:// (STARTTLS, port 143)", "smtp": "smtp:// (STARTTLS, port 587)", "pop3": "pop3:// (STLS, port 110)"}[strings.ToLower(proto)]
		if r.StartTLS {
			return exitNetwork, failTLS, "tls", "The server did not answer the STARTTLS upgrade with TLS."
		}
		return exitNetwork, failTLS, "tls", fmt.Sprintf("The server at %s did not answer with TLS: this port speaks clear text. Use %s for a server that upgrades, or the right TLS port.", r.Address, other)
	case errors.As(err, &alert):
		return exitNetwork, failTLS, "tls", "The TLS handshake failed: the server refused it (" + alert.Error() + "). It may require a TLS version or a client certificate saslkit does not offer."
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return exitNetwork, failDropped, stageOf(r), fmt.Sprintf("The server closed the connection during the %s. It may be overloaded, limit connections, or dislike something in the exchange; run with -v to see where it stopped.", stageOf(r))
	case errors.Is(err, syscall.ECONNREFUSED):
		return exitNetwork, failRefused, "connect", fmt.Sprintf("Connection refused: nothing listens on %s. Check the host and port (IMAP 993/143, SMTP 465/587, POP3 995/110); a firewall may also refuse.", r.Address)
	case errors.As(err, &dns):
		return exitNetwork, failDNS, "connect", fmt.Sprintf("The host name does not resolve (%s). Check the spelling and your DNS.", dns.Err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return exitNetwork, failTimeout, stageOf(r), fmt.Sprintf("No answer in time from %s. The server may be down or a firewall may drop the connection.", r.Address)
	case isNetworkError(err):
		return exitNetwork, failNetwork, stageOf(r), "The connection failed: " + err.Error()
	case strings.Contains(err.Error(), "STARTTLS") || strings.Contains(err.Error(), "STLS"):
		return exitNetwork, failTLS, "tls", "The server did not upgrade the connection to TLS (STARTTLS/STLS). Use the TLS port instead if it has one."
	case errors.Is(err, providers.ErrExecFailed), errors.Is(err, providers.ErrExecOutput):
		return exitAuth, failTokenSource, "token", "The account's token command failed: " + err.Error()
	}
	return exitFailure, failOther, stageOf(r), err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func stageOf(r *checkResult) string {
	if r.Connected {
		return "authenticate"
	}
	return "connect"
}

// tokenSourceErrors returns the errors a token source returned during
// negotiation (the rejections that are not routine).
func tokenSourceErrors(ne *sasl.NegotiationError) []error {
	var errs []error
	for _, rj := range ne.Rejected {
		switch {
		case errors.Is(rj.Err, sasl.ErrNotRegistered), errors.Is(rj.Err, sasl.ErrDenied), errors.Is(rj.Err, sasl.ErrNoCredentials),
			errors.Is(rj.Err, sasl.ErrUnusable), errors.Is(rj.Err, sasl.ErrClientOnly), errors.Is(rj.Err, sasl.ErrInsecureTransport):
			continue
		}
		errs = append(errs, rj.Err)
	}
	return errs
}

// certAdvice explains a certificate that did not verify.
func certAdvice(a *account, r *checkResult, err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		msg := "The server's certificate is signed by an authority this system does not trust. "
		if a.caFile == "" {
			return msg + "For a test or private server, set ca_file in the account to its CA certificate; otherwise someone may be intercepting the connection."
		}
		return msg + "ca_file " + a.caFile + " does not hold the CA that signed it; otherwise someone may be intercepting the connection."
	case errors.As(err, &he):
		return fmt.Sprintf("The server's certificate is not valid for %q (it names %s). Connect by a name the certificate holds.", he.Host, certNames(he.Certificate))
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return "The server's certificate has expired (or is not yet valid: check this machine's clock). " + ci.Detail
	}
	return "The server's certificate did not verify: " + err.Error()
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no name"
	}
	n := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		return "no name"
	}
	return strings.Join(n, ", ")
}

// tokenMechs are the mechanisms that carry an OAuth token.
var tokenMechs = []string{"XOAUTH2", "OAUTHBEARER"}

// noMechanismAdvice explains a negotiation that found nothing usable.
func noMechanismAdvice(a *account, proto string, ne *sasl.NegotiationError) string {
	if len(ne.Advertised) == 0 {
		msg := "The server advertises no SASL mechanism on this connection."
		if proto == "SMTP" {
			msg += " SMTP AUTH is not offered: the server may accept mail without authentication here, allow it only on another port, or have it disabled (Microsoft 365: SMTP AUTH disabled for the tenant or the mailbox)."
		}
		return msg
	}
	hasToken, hasPassword := false, false
	for _, m := range ne.Advertised {
		if slices.Contains(tokenMechs, strings.ToUpper(m)) {
			hasToken = true
		} else if m != "EXTERNAL" && m != "ANONYMOUS" {
			hasPassword = true
		}
	}
	adv := strings.Join(ne.Advertised, " ")
	switch {
	case a.provider == kindPassword && hasToken && !hasPassword:
		return fmt.Sprintf("The server offers only OAuth 2.0 (%s) and account %s has only a password: password sign-in is disabled here (Microsoft 365 turned basic authentication off; Gmail requires OAuth or an app password). Use a provider that issues tokens (google, microsoft, ...).", adv, a.name)
	case a.provider != kindPassword && hasPassword && !hasToken && !a.password.set():
		return fmt.Sprintf("The server offers only password mechanisms (%s), not OAuth 2.0, and account %s has no password. Add password_env or password_cmd (Gmail with 2-Step Verification: an app password), or check you reached the right server.", adv, a.name)
	}
	var why []string
	for _, rj := range ne.Rejected {
		why = append(why, rj.Mechanism+": "+strings.TrimPrefix(rj.Err.Error(), "sasl: "))
	}
	return fmt.Sprintf("None of the mechanisms the server offers (%s) can be used with account %s: %s.", adv, a.name, strings.Join(why, "; "))
}

// authAdvice explains a server's refusal.
func authAdvice(a *account, proto string, ae *adapters.AuthError, te *sasl.TokenError) (int, string, string, string) {
	const stage = "authenticate"
	text := strings.ToLower(ae.Text)
	token := slices.Contains(tokenMechs, ae.Mechanism)
	switch {
	case ae.Code == "535" && strings.Contains(text, "5.7.139"):
		return exitAuth, failSMTPAuthOff, stage, "SMTP AUTH is disabled for the tenant or for this mailbox (Microsoft 365, 5.7.139). An Exchange administrator enables it for the mailbox (Set-CASMailbox -Identity " + a.user + " -SmtpClientAuthenticationDisabled $false) or for the tenant (Set-TransportConfig -SmtpClientAuthenticationDisabled $false); security defaults must also allow it."
	case ae.Code == "534" || strings.Contains(text, "5.7.9") || strings.Contains(text, "application-specific password"):
		return exitAuth, failAppPassword, stage, "The server wants an app password: the account uses 2-Step Verification, so its normal password is refused. Create an app password (Google account, Security) and use it, or sign in with OAuth 2.0 (provider google)."
	case errors.Is(ae, adapters.ErrTemporary):
		return exitFailure, failTemporary, stage, "The server could not authenticate right now (a temporary failure on its side). Try again later; the credentials may well be fine."
	case errors.Is(ae, adapters.ErrTLSRequired):
		return exitNoMechanism, failTLSRequired, stage, "The server refuses this mechanism here: it wants TLS or a stronger mechanism."
	case errors.Is(ae, adapters.ErrCancelled):
		if errors.Is(ae, sasl.ErrServerAuth) {
			return exitAuth, failCancelled, stage, "The server accepted the login but could not prove it knows the password (SCRAM mutual authentication failed). Someone may be intercepting the connection; do not use it."
		}
		return exitFailure, failCancelled, stage, "saslkit stopped the exchange: the server sent a challenge the mechanism could not accept."
	case errors.Is(ae, adapters.ErrRejected) && token && te != nil && (te.Status == "400" || te.Status == "insufficient_scope" || te.Status == "invalid_request"):
		scope := ""
		if te.Scope != "" {
			scope = " It needs the scope " + te.Scope + "."
		}
		return exitAuth, failRejected, stage, fmt.Sprintf("The server took the token as valid but not for this: it lacks the scope the server needs, or it belongs to another account than %s.%s Check scopes and user in the accounts file, then run 'saslkit authorize %s' again. For a service account, domain-wide delegation must grant the scope.", a.user, scope, a.name)
	case errors.Is(ae, adapters.ErrRejected) && token && te != nil:
		return exitAuth, failRejected, stage, fmt.Sprintf("The server rejected the token as invalid or expired, even the fresh one saslkit fetched after the first refusal: it was revoked, or issued for another account or audience. Run 'saslkit authorize %s' again.", a.name)
	case errors.Is(ae, adapters.ErrRejected) && token:
		return exitAuth, failRejected, stage, fmt.Sprintf("The server refused the token, and a freshly fetched one too, without saying why (Microsoft 365 never does). Usual causes: the token lacks the %s scope or was issued for another mailbox than %s; for app-only access the service principal was not granted the mailbox; %s is disabled for the mailbox. Check the scopes, then run 'saslkit authorize %s' again.", scopeFor(proto), a.user, proto, a.name)
	case errors.Is(ae, adapters.ErrRejected):
		return exitAuth, failRejected, stage, "The server refused the user name or password. Check them; Gmail accounts with 2-Step Verification need an app password, and Microsoft 365 refuses passwords altogether (basic authentication is off: use OAuth 2.0)."
	}
	return exitAuth, failRejected, stage, "The server refused the authentication."
}

// scopeFor names the delegated Microsoft scope a protocol needs.
func scopeFor(proto string) string {
	switch proto {
	case "IMAP":
		return providers.ScopeOutlookIMAP
	case "POP3":
		return providers.ScopeOutlookPOP
	}
	return providers.ScopeOutlookSMTP
}
