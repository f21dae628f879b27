package sasltest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Gmail: a refused token gets Google's JSON error challenge, the client
// answers it, the server fails the command, and the connection is usable:
// a fresh token then authenticates on the same connection.
func TestMailGmailRejectedToken(t *testing.T) {
	ms := startMail(t, nil)
	good, err := ms.IssueToken(alice)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := ms.IssueToken(alice)
	ms.OAuth().Revoke(revoked.AccessToken)
	bobs, _ := ms.IssueToken(bob)
	cases := []struct {
		name, mech, status string
		tok                string
	}{
		{"revoked/XOAUTH2", "XOAUTH2", "401", revoked.AccessToken},
		{"other-user/XOAUTH2", "XOAUTH2", "400", bobs.AccessToken},
		{"revoked/OAUTHBEARER", "OAUTHBEARER", "invalid_token", revoked.AccessToken},
	}
	wantText := map[sasltest.Protocol]string{
		sasltest.ProtocolIMAP: "imap: NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		sasltest.ProtocolSMTP: "535 5.7.8 Username and Password not accepted. For more information, go to\nhttps://support.google.com/mail/?p=BadCredentials",
		sasltest.ProtocolPOP3: "-ERR [AUTH] Username and password not accepted.",
	}
	for _, proto := range allProtocols {
		for _, mode := range allModes {
			for _, tc := range cases {
				t.Run(fmt.Sprintf("%s/%s/%s", proto, mode, tc.name), func(t *testing.T) {
					s := openSession(t, ms, proto, mode, nil)
					bad := *good
					bad.AccessToken = tc.tok
					cl, err := s.auth(tc.mech, tokenCreds(alice, &bad))
					if err == nil {
						t.Fatal("a refused token authenticated")
					}
					if got := errText(err); got != wantText[proto] {
						t.Errorf("error %q, want %q", got, wantText[proto])
					}
					var te *sasl.TokenError
					if !errors.As(sasl.FailureOf(cl), &te) || te.Status != tc.status || te.Scope != sasltest.GmailScope {
						t.Errorf("client recorded %v, want status %s", sasl.FailureOf(cl), tc.status)
					}
					if err := s.noop(); err != nil {
						t.Fatalf("connection unusable after the failure: %v", err)
					}
					if _, err := s.auth(tc.mech, tokenCreds(alice, good)); err != nil {
						t.Fatalf("retry with a fresh token: %v", errText(err))
					}
					if err := s.check(); err != nil {
						t.Fatal(err)
					}
					s.close()
					tr := waitTranscript(t, ms, s.local())
					if !strings.Contains(tr.String(), "[REDACTED]") {
						t.Errorf("no challenge recorded:\n%s", tr)
					}
				})
			}
		}
	}
}

// Microsoft: no challenge, the command fails at once with Exchange
// Online's text.
func TestMailMicrosoftRejectedToken(t *testing.T) {
	ms := startMail(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	good, _ := ms.IssueToken(alice)
	expired := *good
	ms.OAuth().Revoke(good.AccessToken)
	fresh, _ := ms.IssueToken(alice)
	want := map[sasltest.Protocol]string{
		sasltest.ProtocolIMAP: "imap: NO AUTHENTICATE failed.",
		sasltest.ProtocolSMTP: "535 5.7.3 Authentication unsuccessful",
		sasltest.ProtocolPOP3: "-ERR Authentication failure: unknown user name or bad password.",
	}
	for _, proto := range allProtocols {
		for _, mode := range allModes {
			t.Run(fmt.Sprintf("%s/%s", proto, mode), func(t *testing.T) {
				s := openSession(t, ms, proto, mode, nil)
				cl, err := s.auth("XOAUTH2", tokenCreds(alice, &expired))
				if got := errText(err); got != want[proto] {
					t.Errorf("error %q, want %q", got, want[proto])
				}
				if f := sasl.FailureOf(cl); f != nil {
					t.Errorf("client saw a challenge: %v", f)
				}
				if _, err := s.auth("XOAUTH2", tokenCreds(alice, fresh)); err != nil {
					t.Fatalf("retry: %v", errText(err))
				}
				s.close()
				tr := waitTranscript(t, ms, s.local())
				for _, l := range tr.Lines {
					if l.Dir == sasltest.FromServer && (strings.HasPrefix(l.Text, "+ [") || strings.HasPrefix(l.Text, "334 [")) {
						t.Errorf("Microsoft profile sent a challenge:\n%s", tr)
					}
				}
			})
		}
	}
	// Microsoft's tokens are scoped per protocol: an IMAP-only token does
	// not open SMTP.
	imapOnly, _ := ms.IssueToken(alice, sasltest.OutlookIMAPScope)
	s := openSession(t, ms, sasltest.ProtocolSMTP, sasltest.ImplicitTLS, nil)
	if _, err := s.auth("XOAUTH2", tokenCreds(alice, imapOnly)); errText(err) != want[sasltest.ProtocolSMTP] {
		t.Errorf("IMAP-scoped token on SMTP: %v", err)
	}
	i := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil)
	if _, err := i.auth("XOAUTH2", tokenCreds(alice, imapOnly)); err != nil {
		t.Errorf("IMAP-scoped token on IMAP: %v", err)
	}
	// Basic authentication is off.
	var ie *imap.Error
	i2 := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil).(*imapSession)
	if err := i2.c.Login(alice, alicePass).Wait(); !errors.As(err, &ie) || ie.Text != "LOGIN failed." {
		t.Errorf("LOGIN: %v", err)
	}
	p := dialPOP3(t, ms, sasltest.ImplicitTLS)
	p.expectErr("USER " + alice)
}

// A temporary failure of the credential check: IMAP NO [UNAVAILABLE],
// SMTP 454 4.7.0, POP3 -ERR [SYS/TEMP]; counted as temporary; the next
// attempt succeeds.
func TestMailTemporaryFailure(t *testing.T) {
	for _, profile := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		ms := startMail(t, &sasltest.MailOptions{Profile: profile})
		tok, _ := ms.IssueToken(alice)
		for _, proto := range allProtocols {
			t.Run(profile.String()+"/"+string(proto), func(t *testing.T) {
				ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: proto})
				s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
				_, err := s.auth("XOAUTH2", tokenCreds(alice, tok))
				var ie *imap.Error
				var se *smtp.SMTPError
				switch proto {
				case sasltest.ProtocolIMAP:
					if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
						t.Errorf("IMAP: %v", err)
					}
				case sasltest.ProtocolSMTP:
					if !errors.As(err, &se) || se.Code != 454 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) {
						t.Errorf("SMTP: %v", err)
					}
				default:
					if !strings.HasPrefix(errText(err), "-ERR [SYS/TEMP]") {
						t.Errorf("POP3: %v", err)
					}
				}
				if st := ms.AuthStats(proto, "XOAUTH2"); st.Temporary != 1 {
					t.Errorf("AuthStats = %+v", st)
				}
				if _, err := s.auth("XOAUTH2", tokenCreds(alice, tok)); err != nil {
					t.Errorf("after the fault: %v", errText(err))
				}
			})
		}
	}
}

// A server that drops the connection mid-exchange: the client gets an
// I/O error, never a protocol answer, and nothing hangs.
func TestMailDropMidExchange(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	for _, proto := range allProtocols {
		t.Run(string(proto), func(t *testing.T) {
			ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultDrop, Protocol: proto, Mechanism: "XOAUTH2"})
			s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
			if proto == sasltest.ProtocolPOP3 {
				// The raw client fails the test on a read error; read by hand.
				pc := s.(*popSession).c
				pc.send("AUTH XOAUTH2")
				if _, err := pc.tp.ReadLine(); err == nil {
					t.Fatal("the server answered instead of dropping the connection")
				}
				return
			}
			_, err := s.auth("XOAUTH2", tokenCreds(alice, tok))
			var ie *imap.Error
			var se *smtp.SMTPError
			if err == nil || errors.As(err, &ie) || errors.As(err, &se) {
				t.Fatalf("want a connection error, got %v", err)
			}
			tr := waitTranscript(t, ms, s.local())
			if !strings.Contains(tr.String(), "fault: connection dropped") {
				t.Errorf("transcript:\n%s", tr)
			}
		})
	}
}
