package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSessionExpiry starts sandboxes whose tokens live 2 seconds. For
// each protocol and TLS mode, a Python client refreshes a token at the
// printed token endpoint with the printed client and refresh token,
// authenticates, runs NOOP, waits 3 seconds and runs NOOP again: the
// server must have ended the session (IMAP "* BYE", SMTP 421, POP3 -ERR,
// then the connection closed). The real wait is the point: the token
// really expires. Afterwards curl with the token printed at start, expired
// by now, is refused.
func TestSessionExpiry(t *testing.T) {
	python := requireTool(t, "python3")
	t.Parallel()
	for _, pc := range []struct {
		profile string
		mech    string
		// expired is the text each protocol ends the session with.
		expired string
	}{
		{"gmail", "OAUTHBEARER", "Session expired, please login again."},
		{"microsoft", "XOAUTH2", "Session invalidated - AccessTokenExpired"},
	} {
		t.Run(pc.profile, func(t *testing.T) {
			t.Parallel()
			// One user per connection that must not share a POP3 maildrop.
			p := launchSandbox(t, "--profile", pc.profile, "--token-lifetime", "2s", "--user", "alice@example.test,bob@example.test")
			if p.info.OAuth.TokenLifetime != 2 {
				t.Fatalf("token lifetime %v s, want 2", p.info.OAuth.TokenLifetime)
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				results = map[string]pyResult{}
			)
			for _, proto := range []string{"imap", "smtp", "pop3"} {
				for i, mode := range []string{"implicit", "starttls"} {
					u := p.info.Users[i]
					wg.Go(func() {
						in := pyConn(p, proto, mode, u, pc.mech)
						in.Token = ""
						in.Refresh = &pyRefresh{TokenURL: p.info.OAuth.TokenURL, ClientID: p.info.OAuth.ClientID,
							ClientSecret: p.info.OAuth.ClientSecret, RefreshToken: u.RefreshToken}
						in.Sleep = 3
						var r pyResult
						if err := runPython(t.Context(), python, proto+"_client.py", in, &r); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						results[proto+"/"+mode] = r
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			if len(results) != 6 {
				t.Fatalf("%d of 6 sessions reported", len(results))
			}
			for name, r := range results {
				proto := name[:strings.Index(name, "/")]
				if !r.Refreshed || r.ExpiresIn != 2 || !r.Authenticated {
					t.Errorf("%s: refresh and authentication: %+v", name, r)
					continue
				}
				switch proto {
				case "imap":
					// imaplib turns the untagged BYE into IMAP4.abort.
					if r.NoopBefore != "OK" || r.After == nil || r.After.ErrorType != "imaplib.IMAP4.abort" || !strings.Contains(r.After.Error, pc.expired) {
						t.Errorf("%s: before %v, after %+v; want OK, then an abort with %q", name, r.NoopBefore, r.After, pc.expired)
					}
				case "smtp":
					// smtplib returns the 421 reply; the next command finds
					// the connection closed.
					if r.NoopBefore != 250.0 || r.NoopAfter != 421.0 || !strings.Contains(r.NoopAfterText, pc.expired) ||
						r.After == nil || r.After.ErrorType != "smtplib.SMTPServerDisconnected" {
						t.Errorf("%s: before %v, after %v %q then %+v; want 250, then 421 %q and a closed connection",
							name, r.NoopBefore, r.NoopAfter, r.NoopAfterText, r.After, pc.expired)
					}
				case "pop3":
					if r.NoopBefore != "+OK" || r.After == nil || r.After.ErrorType != "poplib.error_proto" ||
						!strings.Contains(r.After.Error, "-ERR") || !strings.Contains(r.After.Error, pc.expired) {
						t.Errorf("%s: before %v, after %+v; want +OK, then -ERR %q", name, r.NoopBefore, r.After, pc.expired)
					}
				}
			}

			// The token printed at start has expired by now.
			if time.Now().Before(p.info.Users[0].TokenExpiry.Add(time.Second)) {
				time.Sleep(time.Until(p.info.Users[0].TokenExpiry.Add(time.Second)))
			}
			if _, err := lookTool("curl"); err == nil {
				alice := p.info.Users[0]
				r := runCurl(t, append(curlAuth(p, alice.Address, alice.AccessToken, "implicit"), p.listener("imap", "implicit").URL+"/")...)
				if r.code != curlLoginDenied {
					t.Errorf("curl with the expired token: exit %d %s, want %d", r.code, r.msg, curlLoginDenied)
				}
			}
		})
	}
}
