package sasltest_test

import (
	"io"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// goodbye is what each protocol's client reads when the server ends an
// expired session, per profile.
var goodbye = map[sasltest.MailProfile]map[sasltest.Protocol]string{
	sasltest.ProfileGmail: {
		sasltest.ProtocolIMAP: "* BYE Session expired, please login again.",
		sasltest.ProtocolSMTP: "421 4.7.0 Session expired, please login again.",
		sasltest.ProtocolPOP3: "-ERR [AUTH] Session expired, please login again.",
	},
	sasltest.ProfileMicrosoft: {
		sasltest.ProtocolIMAP: "* BYE Session invalidated - AccessTokenExpired",
		sasltest.ProtocolSMTP: "421 4.7.0 Session invalidated - AccessTokenExpired",
		sasltest.ProtocolPOP3: "-ERR Session invalidated - AccessTokenExpired",
	},
}

// lastServerLine returns the last line the server sent on a connection.
func lastServerLine(tr sasltest.Transcript) string {
	for i := len(tr.Lines) - 1; i >= 0; i-- {
		if tr.Lines[i].Dir == sasltest.FromServer {
			return tr.Lines[i].Text
		}
	}
	return ""
}

// With a fake clock: the session ends at the first command after the
// token's expiry, and CheckSessions ends idle ones.
func TestMailSessionExpiryFakeClock(t *testing.T) {
	for _, profile := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		t.Run(profile.String(), func(t *testing.T) {
			clock := newFakeClock()
			ms := startMail(t, &sasltest.MailOptions{Profile: profile, Clock: clock.Now})
			tok, err := ms.IssueToken(alice)
			if err != nil {
				t.Fatal(err)
			}
			bobTok, _ := ms.IssueToken(bob)
			var atCommand, idle []mailSession
			for _, proto := range allProtocols {
				for i, list := range []*[]mailSession{&atCommand, &idle} {
					// One POP3 session per maildrop (RFC 1939 §8).
					user, tk := alice, tok
					if i == 1 {
						user, tk = bob, bobTok
					}
					s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
					if _, err := s.auth("XOAUTH2", tokenCreds(user, tk)); err != nil {
						t.Fatalf("%s: %v", proto, errText(err))
					}
					*list = append(*list, s)
				}
			}
			// Password sessions do not expire.
			pw := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil)
			if profile == sasltest.ProfileGmail {
				if _, err := pw.auth("PLAIN", passCreds(alice, alicePass)); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(59 * time.Minute)
			if n := ms.CheckSessions(); n != 0 {
				t.Fatalf("CheckSessions before expiry ended %d sessions", n)
			}
			for _, s := range atCommand {
				if err := s.check(); err != nil {
					t.Fatalf("before expiry: %v", errText(err))
				}
			}
			clock.Advance(2 * time.Minute)
			for i, s := range atCommand {
				proto := allProtocols[i]
				if proto == sasltest.ProtocolPOP3 {
					pc := s.(*popSession).c
					if l := pc.cmd("STAT"); l != goodbye[profile][proto] {
						t.Errorf("POP3 after expiry: %q", l)
					}
				} else if err := s.check(); err == nil {
					t.Errorf("%s: command accepted after expiry", proto)
				}
				tr := waitTranscript(t, ms, s.local())
				if got := lastServerLine(tr); got != goodbye[profile][proto] {
					t.Errorf("%s: last line %q, want %q", proto, got, goodbye[profile][proto])
				}
			}
			if n := ms.CheckSessions(); n != len(idle) {
				t.Errorf("CheckSessions ended %d sessions, want %d", n, len(idle))
			}
			for i, s := range idle {
				tr := waitTranscript(t, ms, s.local())
				if got := lastServerLine(tr); got != goodbye[profile][allProtocols[i]] {
					t.Errorf("%s: last line %q", allProtocols[i], got)
				}
			}
			if profile == sasltest.ProfileGmail {
				if err := pw.check(); err != nil {
					t.Errorf("password session ended with the token: %v", err)
				}
			}
		})
	}
}

// With the real clock and a one-second token, the server's timer ends each
// idle session after the token expires: the client just waits for the
// goodbye (no timing is asserted).
func TestMailSessionExpiryTimer(t *testing.T) {
	ms := startMail(t, &sasltest.MailOptions{OAuthOptions: &sasltest.OAuthOptions{TokenLifetime: time.Second}})
	tokens := map[string]*oauth2.Token{}
	for _, u := range []string{alice, bob} {
		tok, err := ms.IssueToken(u)
		if err != nil {
			t.Fatal(err)
		}
		tokens[u] = tok
	}
	var wg sync.WaitGroup
	for _, proto := range allProtocols {
		for _, mode := range allModes {
			user := alice
			if mode == sasltest.StartTLS {
				user = bob // one POP3 session per maildrop
			}
			s := openSession(t, ms, proto, mode, nil)
			if _, err := s.auth("XOAUTH2", tokenCreds(user, tokens[user])); err != nil {
				t.Fatalf("%s %s: %v", proto, mode, errText(err))
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got string
				switch s := s.(type) {
				case *imapSession:
					<-s.c.Closed()
					got = lastServerLine(waitTranscript(t, ms, s.local()))
				case *smtpSession:
					// Below go-smtp's client: wait for the server to close
					// (the bytes are the 421, in TLS for STARTTLS).
					_, _ = io.Copy(io.Discard, s.conn)
					got = lastServerLine(waitTranscript(t, ms, s.local()))
				case *popSession:
					l, err := s.c.tp.ReadLine()
					if err != nil {
						t.Errorf("POP3: %v", err)
					}
					got = l
				}
				if got != goodbye[sasltest.ProfileGmail][proto] {
					t.Errorf("%s %s: goodbye %q", proto, mode, got)
				}
			}()
		}
	}
	wg.Wait()
}

// EndSessions ends sessions on demand, as an expiry would.
func TestMailEndSessions(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	var sessions []mailSession
	for _, proto := range allProtocols {
		s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
		if _, err := s.auth("XOAUTH2", tokenCreds(alice, tok)); err != nil {
			t.Fatal(errText(err))
		}
		sessions = append(sessions, s)
	}
	other := openSession(t, ms, sasltest.ProtocolIMAP, sasltest.ImplicitTLS, nil)
	if _, err := other.auth("PLAIN", passCreds(bob, bobPass)); err != nil {
		t.Fatal(err)
	}
	if n := ms.EndSessions(sasltest.ProtocolIMAP, alice); n != 1 {
		t.Errorf("EndSessions(imap, alice) = %d", n)
	}
	if n := ms.EndSessions("", alice); n != 2 {
		t.Errorf("EndSessions(all, alice) = %d", n)
	}
	for i, s := range sessions {
		tr := waitTranscript(t, ms, s.local())
		if got := lastServerLine(tr); got != goodbye[sasltest.ProfileGmail][allProtocols[i]] {
			t.Errorf("%s: %q", allProtocols[i], got)
		}
	}
	if err := other.check(); err != nil {
		t.Errorf("bob's session ended: %v", err)
	}
}
