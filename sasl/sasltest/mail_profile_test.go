package sasltest_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Every profile, every protocol, both TLS modes, every mechanism the
// profile offers: the protocol's real client authenticates with a saslkit
// client and then uses the session.
func TestMailProfilesAuthenticate(t *testing.T) {
	advertised := map[sasltest.MailProfile]map[sasltest.Protocol][]string{
		sasltest.ProfileGmail: {
			sasltest.ProtocolIMAP: {"XOAUTH2", "PLAIN", "OAUTHBEARER"},
			sasltest.ProtocolSMTP: {"LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"},
			sasltest.ProtocolPOP3: {"PLAIN", "XOAUTH2", "OAUTHBEARER"},
		},
		sasltest.ProfileMicrosoft: {
			sasltest.ProtocolIMAP: {"XOAUTH2"}, sasltest.ProtocolSMTP: {"XOAUTH2"}, sasltest.ProtocolPOP3: {"XOAUTH2"},
		},
	}
	allMechs := []string{"EXTERNAL", "SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512",
		"SCRAM-SHA-256", "SCRAM-SHA-1", "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN", "CRAM-MD5"}
	for _, profile := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft, sasltest.ProfileAll} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			ms := startMail(t, &sasltest.MailOptions{Profile: profile})
			tok, err := ms.IssueToken(alice)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := ms.ClientCertificate(alice)
			if err != nil {
				t.Fatal(err)
			}
			for _, proto := range allProtocols {
				for _, mode := range allModes {
					want := advertised[profile][proto]
					if profile == sasltest.ProfileAll {
						want = allMechs
					}
					for _, mech := range want {
						if mech == "SCRAM-SHA-1-PLUS" || mech == "SCRAM-SHA-512" {
							continue // covered by their siblings; keeps the matrix short
						}
						name := fmt.Sprintf("%s/%s/%s", proto, mode, mech)
						t.Run(name, func(t *testing.T) {
							cfg := ms.ClientTLSConfig()
							if profile == sasltest.ProfileAll {
								cfg.Certificates = []tls.Certificate{cert}
							}
							s := openSession(t, ms, proto, mode, cfg)
							got, exp := s.mechanisms(), want
							if proto == sasltest.ProtocolIMAP {
								// imapclient returns capabilities unordered.
								got, exp = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(exp))
							}
							if !slices.Equal(got, exp) {
								t.Fatalf("advertised %v, want %v", got, exp)
							}
							if proto == sasltest.ProtocolIMAP && mode == sasltest.StartTLS && strings.HasSuffix(mech, "-PLUS") {
								t.Skip("imapclient does not expose its STARTTLS connection state")
							}
							creds := &sasl.Credentials{Username: alice, Password: alicePass,
								TokenSource: mailTokenSource{tok}, External: mech == "EXTERNAL"}
							if _, err := s.auth(mech, creds); err != nil {
								t.Fatalf("authenticate: %v", errText(err))
							}
							if err := s.check(); err != nil {
								t.Fatalf("session after authentication: %v", errText(err))
							}
							s.close()
							tr := waitTranscript(t, ms, s.local())
							if tr.User != alice || tr.Mechanism != mech {
								t.Errorf("transcript identity %q %q", tr.User, tr.Mechanism)
							}
						})
					}
				}
			}
			if st := ms.AuthStats("", ""); st.Succeeded == 0 || st.Rejected != 0 || st.Temporary != 0 {
				t.Errorf("AuthStats = %+v", st)
			}
		})
	}
}

// waitTranscript waits until the connection from local has ended and
// returns its transcript.
func waitTranscript(t testing.TB, ms *sasltest.MailServer, local string) sasltest.Transcript {
	t.Helper()
	tr, ok := ms.TranscriptOf(local)
	if !ok {
		t.Fatalf("no transcript for %s", local)
	}
	<-tr.Done
	tr, _ = ms.TranscriptOf(local)
	return tr
}

// Before TLS on the STARTTLS listeners nothing authenticates: IMAP
// advertises LOGINDISABLED, SMTP leaves AUTH out and answers 538 / 530,
// POP3 offers no SASL and answers -ERR.
func TestMailNoAuthBeforeTLS(t *testing.T) {
	ms := startMail(t, nil)

	pc := dialPOP3Plain(t, ms, sasltest.StartTLS)
	pc.send("CAPA")
	pc.line()
	capa := pc.multi()
	if !slices.Contains(capa, "STLS") || slices.ContainsFunc(capa, func(s string) bool { return strings.HasPrefix(s, "SASL") || s == "USER" }) {
		t.Errorf("POP3 CAPA before STLS: %v", capa)
	}
	pc.expectErr("USER " + alice)
	if r := pc.expectErr("AUTH PLAIN"); !strings.Contains(r, "[AUTH]") {
		t.Errorf("AUTH before STLS: %q", r)
	}

	sc, err := smtp.Dial(ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := sc.Extension("AUTH"); ok {
		t.Error("SMTP advertises AUTH before STARTTLS")
	}
	var se *smtp.SMTPError
	if err := sc.Mail(alice, nil); !errors.As(err, &se) || se.Code != 530 {
		t.Errorf("MAIL before STARTTLS: %v", err)
	}
	tok, _ := ms.IssueToken(alice)
	cl := saslClientInsecure(t, "XOAUTH2", tokenCreds(alice, tok))
	if err := sc.Auth(cl); !errors.As(err, &se) || se.Code != 538 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 11}) {
		t.Errorf("AUTH before STARTTLS: %v", err)
	}

	ic, _, _ := dialIMAPPlain(t, ms)
	caps, err := ic.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || len(caps.AuthMechanisms()) != 0 {
		t.Errorf("IMAP capabilities before STARTTLS: %v", caps)
	}
	var ie *imap.Error
	if err := ic.Authenticate(saslClientInsecure(t, "PLAIN", &sasl.Credentials{Username: alice, Password: alicePass})); !errors.As(err, &ie) || ie.Code != imap.ResponseCodePrivacyRequired {
		t.Errorf("AUTHENTICATE before STARTTLS: %v", err)
	}
}
