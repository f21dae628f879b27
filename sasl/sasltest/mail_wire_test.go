package sasltest_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// rawConn is a line-level client for wire tests.
type rawConn struct {
	t  *testing.T
	tp *textproto.Conn
}

func dialRaw(t *testing.T, ms *sasltest.MailServer, p sasltest.Protocol) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", ms.Addr(p, sasltest.ImplicitTLS), ms.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := &rawConn{t: t, tp: textproto.NewConn(c)}
	t.Cleanup(func() { r.tp.Close() })
	r.line() // greeting
	return r
}

func (r *rawConn) line() string {
	r.t.Helper()
	l, err := r.tp.ReadLine()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return l
}

// cmd sends line and returns the first reply line that is not untagged
// IMAP data or an SMTP continuation line.
func (r *rawConn) cmd(line string) string {
	r.t.Helper()
	if _, err := io.WriteString(r.tp.W, line+"\r\n"); err != nil || r.tp.W.Flush() != nil {
		r.t.Fatal("write failed")
	}
	for {
		l := r.line()
		if strings.HasPrefix(l, "* ") || len(l) > 3 && l[3] == '-' && l[0] >= '2' && l[0] <= '5' {
			continue
		}
		return l
	}
}

// SASL responses that are not strict base64 get IMAP BAD and SMTP 501,
// as initial responses and as continuations, and the connection stays
// usable.
func TestMailStrictBase64(t *testing.T) {
	ms := startMail(t, nil)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + alicePass))
	bad := []string{"=AAA", "AAA=BBB", "AAAA\tBBBB", "AAAA BBBB", "AAAA\rBBBB", "AA!A", "AAAAA", "AB=="}

	i := dialRaw(t, ms, sasltest.ProtocolIMAP)
	for n, b := range bad {
		if r := i.cmd(fmt.Sprintf("a%d AUTHENTICATE PLAIN %s", n, b)); !strings.HasPrefix(r, fmt.Sprintf("a%d BAD", n)) {
			t.Errorf("IMAP initial response %q: %q", b, r)
		}
		if r := i.cmd(fmt.Sprintf("b%d AUTHENTICATE PLAIN", n)); r != "+ " && r != "+" {
			t.Fatalf("AUTHENTICATE: %q", r)
		}
		if r := i.cmd(b); !strings.HasPrefix(r, fmt.Sprintf("b%d BAD", n)) {
			t.Errorf("IMAP response %q: %q", b, r)
		}
	}
	if r := i.cmd("c1 AUTHENTICATE PLAIN"); r != "+ " && r != "+" {
		t.Fatalf("AUTHENTICATE: %q", r)
	}
	if r := i.cmd("*"); !strings.HasPrefix(r, "c1 BAD") {
		t.Errorf("cancel: %q", r)
	}
	if r := i.cmd("c2 AUTHENTICATE PLAIN " + plain); !strings.HasPrefix(r, "c2 OK") {
		t.Errorf("good PLAIN after the bad ones: %q", r)
	}

	s := dialRaw(t, ms, sasltest.ProtocolSMTP)
	s.cmd("EHLO client.test")
	for _, b := range bad {
		if r := s.cmd("AUTH PLAIN " + b); !strings.HasPrefix(r, "501 5.5.2") {
			t.Errorf("SMTP initial response %q: %q", b, r)
		}
		if r := s.cmd("AUTH PLAIN"); !strings.HasPrefix(r, "334") {
			t.Fatalf("AUTH PLAIN: %q", r)
		}
		if r := s.cmd(b); !strings.HasPrefix(r, "501 5.5.2") {
			t.Errorf("SMTP response %q: %q", b, r)
		}
	}
	if r := s.cmd("AUTH PLAIN " + plain); !strings.HasPrefix(r, "235") {
		t.Errorf("good PLAIN after the bad ones: %q", r)
	}
}

// SMTP accepts an AUTH line up to 12288 octets (RFC 4954 §4), as long
// Microsoft tokens need.
func TestMailSMTPLongAuthLine(t *testing.T) {
	ms := startMail(t, nil)
	s := dialRaw(t, ms, sasltest.ProtocolSMTP)
	s.cmd("EHLO client.test")
	ir := base64.StdEncoding.EncodeToString([]byte("user=" + alice + "\x01auth=Bearer " + strings.Repeat("J", 8000) + "\x01\x01"))
	if r := s.cmd("AUTH XOAUTH2 " + ir); !strings.HasPrefix(r, "334 ") {
		t.Fatalf("long AUTH line: %q", r)
	}
	if r := s.cmd(""); !strings.HasPrefix(r, "535") {
		t.Errorf("after the error challenge: %q", r)
	}
}

// What SMTP submits, IMAP and POP3 read back byte for byte.
func TestMailSubmitThenReadBack(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	msg := "From: " + alice + "\r\nTo: " + bob + "\r\nSubject: read back\r\n\r\nHello Bob.\r\n.a line with a leading dot\r\n.\r\nBye.\r\n"

	sub := openSession(t, ms, sasltest.ProtocolSMTP, sasltest.StartTLS, nil).(*smtpSession)
	if _, err := sub.auth("OAUTHBEARER", tokenCreds(alice, tok)); err != nil {
		t.Fatal(errText(err))
	}
	if err := sub.c.SendMail(alice, []string{bob}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	sub.c.Quit()

	i := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil).(*imapSession)
	if _, err := i.auth("PLAIN", passCreds(bob, bobPass)); err != nil {
		t.Fatal(err)
	}
	if _, err := i.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := i.c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %d messages", err, len(msgs))
	}
	if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{})); got != msg {
		t.Errorf("IMAP body %q, want %q", got, msg)
	}

	p := dialPOP3(t, ms, sasltest.ImplicitTLS)
	p.expectOK("USER " + bob)
	p.expectOK("PASS " + bobPass)
	p.send("RETR 1")
	p.line()
	if got := unstuff(rawMulti(t, p)); got != msg {
		t.Errorf("POP3 body %q, want %q", got, msg)
	}
}

// No token, password, or their base64 appears in any transcript, in any
// error, or in a printed value, whatever the outcome.
func TestMailSecretsNeverLeak(t *testing.T) {
	for _, profile := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft, sasltest.ProfileAll} {
		t.Run(profile.String(), func(t *testing.T) {
			opts := &sasltest.MailOptions{Profile: profile}
			ms := startMail(t, opts)
			tok, _ := ms.IssueToken(alice)
			revoked, _ := ms.IssueToken(alice)
			ms.OAuth().Revoke(revoked.AccessToken)
			var errs []string
			for _, proto := range allProtocols {
				for _, mode := range allModes {
					for _, mech := range []string{"XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN", "SCRAM-SHA-256"} {
						for _, creds := range []*sasl.Credentials{
							{Username: alice, Password: "wrong-" + alicePass, TokenSource: mailTokenSource{revoked}},
							{Username: alice, Password: alicePass, TokenSource: mailTokenSource{tok}},
						} {
							s := openSession(t, ms, proto, mode, nil)
							_, err := s.auth(mech, creds)
							errs = append(errs, errText(err), fmt.Sprintf("%v %+v %#v", err, err, err))
							s.close()
							waitTranscript(t, ms, s.local())
						}
					}
				}
			}
			// IMAP LOGIN and POP3 PASS too.
			i := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil).(*imapSession)
			errs = append(errs, fmt.Sprint(i.c.Login(alice, alicePass).Wait()))
			i.close()
			waitTranscript(t, ms, i.local())
			p := dialPOP3(t, ms, sasltest.ImplicitTLS)
			p.send("USER " + alice)
			p.line()
			p.send("PASS " + alicePass)
			p.line()
			p.tp.Close()
			waitTranscript(t, ms, p.local)

			var all bytes.Buffer
			for _, tr := range ms.Transcripts() {
				all.WriteString(tr.String())
				fmt.Fprintf(&all, "%v %+v %#v", tr, tr, tr)
			}
			all.WriteString(strings.Join(errs, "\n"))
			fmt.Fprintf(&all, "%v %+v %#v %v %+v %v %v", ms, ms, ms, ms.Store(), ms.CA(), opts, sasltest.MailUser{Address: alice, Password: alicePass})
			for _, secret := range []string{tok.AccessToken, revoked.AccessToken, tok.RefreshToken, alicePass} {
				for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)),
					base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + secret)),
					base64.StdEncoding.EncodeToString([]byte("user=" + alice + "\x01auth=Bearer " + secret + "\x01\x01"))} {
					if bytes.Contains(all.Bytes(), []byte(form)) {
						t.Fatalf("a secret leaked into transcripts, errors or printed values")
					}
				}
			}
			if !strings.Contains(all.String(), "AUTHENTICATE XOAUTH2 [REDACTED]") {
				t.Error("transcripts do not show the redacted AUTHENTICATE")
			}
		})
	}
}

// Close leaves no goroutine behind, whatever the clients were doing:
// mid-exchange, idle before TLS, in the middle of a TLS handshake.
func TestMailCloseLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Users: []sasltest.MailUser{{Address: alice, Password: alicePass}}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := ms.IssueToken(alice)
	var open []io.Closer
	for _, proto := range allProtocols {
		s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
		if _, err := s.auth("XOAUTH2", tokenCreds(alice, tok)); err != nil {
			t.Fatal(errText(err))
		}
		// Mid-exchange: AUTH sent, no response to the continuation.
		r := dialRaw(t, ms, proto)
		switch proto {
		case sasltest.ProtocolIMAP:
			r.cmd("x AUTHENTICATE PLAIN")
		case sasltest.ProtocolSMTP:
			r.cmd("EHLO x")
			r.cmd("AUTH PLAIN")
		default:
			r.cmd("AUTH PLAIN")
		}
		// Idle in clear text, and a TLS client that never handshakes.
		for _, mode := range allModes {
			c, err := netDial(ms.Addr(proto, mode))
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
	}
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range open {
		c.Close()
	}
	_ = smtp.ErrAuthFailed
}
