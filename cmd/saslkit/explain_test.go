package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// TestExplain covers the explanations the end-to-end tests cannot reach
// with the test servers.
func TestExplain(t *testing.T) {
	tok := &account{name: "work", user: "alice@contoso.com", provider: kindMicrosoft}
	pw := &account{name: "home", user: "alice", provider: kindPassword, password: secretRef{env: "X"}}
	for _, tc := range []struct {
		name string
		a    *account
		r    *checkResult
		err  error
		code int
		kind string
		say  string
	}{
		{"app password", pw, &checkResult{Protocol: "SMTP"}, &adapters.AuthError{Protocol: "SMTP", Mechanism: "PLAIN", Code: "534", Text: "5.7.9 Application-specific password required.", Kind: adapters.ErrRejected},
			exitAuth, failAppPassword, "app password"},
		{"password refused", pw, &checkResult{Protocol: "IMAP"}, &adapters.AuthError{Protocol: "IMAP", Mechanism: "PLAIN", Code: "AUTHENTICATIONFAILED", Kind: adapters.ErrRejected},
			exitAuth, failRejected, "refused the user name or password"},
		{"token 401", tok, &checkResult{Protocol: "IMAP"}, &adapters.AuthError{Protocol: "IMAP", Mechanism: "XOAUTH2", Kind: adapters.ErrRejected, Failure: &sasl.TokenError{Mechanism: "XOAUTH2", Status: "401"}},
			exitAuth, failRejected, "even the fresh one"},
		{"temporary", tok, &checkResult{Protocol: "SMTP"}, &adapters.AuthError{Protocol: "SMTP", Mechanism: "XOAUTH2", Code: "454", Kind: adapters.ErrTemporary},
			exitFailure, failTemporary, "Try again later"},
		{"TLS required", tok, &checkResult{Protocol: "SMTP"}, &adapters.AuthError{Protocol: "SMTP", Mechanism: "PLAIN", Code: "538", Kind: adapters.ErrTLSRequired},
			exitNoMechanism, failTLSRequired, "wants TLS"},
		{"server proof", pw, &checkResult{Protocol: "IMAP"}, &adapters.AuthError{Protocol: "IMAP", Mechanism: "SCRAM-SHA-256", Kind: adapters.ErrCancelled, Cause: sasl.ErrServerAuth},
			exitAuth, failCancelled, "intercepting"},
		{"insecure", pw, &checkResult{Protocol: "IMAP"}, fmt.Errorf("adapters: %w", &sasl.NegotiationError{Advertised: []string{"PLAIN"}, Rejected: []sasl.Rejection{{Mechanism: "PLAIN", Err: sasl.ErrInsecureTransport}}}),
			exitNoMechanism, failInsecure, "not protected by verified TLS"},
		{"no AUTH", tok, &checkResult{Protocol: "SMTP"}, &sasl.NegotiationError{},
			exitNoMechanism, failNoMechanism, "SMTP AUTH is not offered"},
		{"token source", tok, &checkResult{Protocol: "IMAP"}, &sasl.NegotiationError{Advertised: []string{"XOAUTH2"}, Rejected: []sasl.Rejection{{Mechanism: "XOAUTH2", Err: providers.ErrExecFailed}}},
			exitAuth, failTokenSource, "token provider failed"},
		{"reauth", tok, &checkResult{Protocol: "IMAP"}, &sasl.NegotiationError{Advertised: []string{"XOAUTH2"}, Rejected: []sasl.Rejection{{Mechanism: "XOAUTH2", Err: &providers.OAuthError{Code: "invalid_grant"}}}},
			exitAuth, failAuthorize, "saslkit authorize work"},
		{"host name", tok, &checkResult{Protocol: "IMAP"}, x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"mx.example.net"}}, Host: "imap.example.com"},
			exitNetwork, failCertificate, `not valid for "imap.example.com" (it names mx.example.net)`},
		{"dns", tok, &checkResult{Protocol: "IMAP", Address: "nxdomain.invalid:993"}, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nxdomain.invalid"}},
			exitNetwork, failDNS, "does not resolve"},
		{"timeout", tok, &checkResult{Protocol: "IMAP", Address: "192.0.2.1:993"}, fmt.Errorf("imap: %w", context.DeadlineExceeded),
			exitNetwork, failTimeout, "No answer in time from 192.0.2.1:993"},
		{"plugin", tok, &checkResult{}, &pluginError{name: "x", err: errors.New("checksum mismatch")},
			exitConfig, failConfig, "plugin could not be started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, kind, _, text := explain(tc.a, tc.r, tc.err)
			if code != tc.code || kind != tc.kind || !strings.Contains(text, tc.say) {
				t.Errorf("explain: %d %s %q; want %d %s and %q", code, kind, text, tc.code, tc.kind, tc.say)
			}
		})
	}
}
