package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// curlAuth returns curl's arguments to log in as user with token, over
// mode ("implicit", or "starttls" which --ssl-reqd makes curl insist on).
// curl picks OAUTHBEARER when the server offers it, else XOAUTH2.
func curlAuth(p *sandboxProc, user, token, mode string) []string {
	args := []string{"--cacert", p.info.CAFile, "--oauth2-bearer", token, "-u", user + ":"}
	if mode == "starttls" {
		args = append(args, "--ssl-reqd")
	}
	// Clipped, so that every append by a caller copies.
	return slices.Clip(args)
}

// authLine finds the AUTH or AUTHENTICATE command in curl's trace.
var authLine = regexp.MustCompile(`(?m)^> (?:[A-Z0-9]+ )?(?:AUTHENTICATE|AUTH) ([A-Z0-9-]+)`)

// sentMechanism reports which SASL mechanism curl's trace shows it used.
func sentMechanism(trace string) string {
	if m := authLine.FindStringSubmatch(trace); m != nil {
		return m[1]
	}
	return ""
}

// TestCurlGmail drives the gmail-profile sandbox with curl: IMAP, POP3 and
// SMTP, with implicit TLS and with STARTTLS, with OAUTHBEARER, which curl
// picks when offered (curl 7.88 ignores --login-options AUTH=XOAUTH2 then,
// curl issue 10259; TestCurlMicrosoft has curl speak XOAUTH2); messages
// sent over SMTP are read back over IMAP and POP3; a bogus token and
// another user's token are refused with curl's "login denied".
func TestCurlGmail(t *testing.T) {
	requireTool(t, "curl")
	t.Parallel()
	p := launchSandbox(t, "--user", "alice@example.test,bob@example.test")
	alice := p.user("alice@example.test")
	dir := t.TempDir()

	type sent struct{ subject, body string }
	var messages []sent
	for _, mode := range []string{"implicit", "starttls"} {
		auth := curlAuth(p, alice.Address, alice.AccessToken, mode)
		t.Run("imap/"+mode, func(t *testing.T) {
			r := runCurl(t, append(auth, p.listener("imap", mode).URL+"/")...)
			if r.code != 0 || !strings.Contains(r.stdout, `* LIST () "/" INBOX`) {
				t.Fatalf("exit %d %s, output %q", r.code, r.msg, r.stdout)
			}
			if got := sentMechanism(r.trace); got != "OAUTHBEARER" {
				t.Errorf("curl authenticated with %q, want OAUTHBEARER", got)
			}
		})
		t.Run("pop3/"+mode, func(t *testing.T) {
			r := runCurl(t, append(auth, p.listener("pop3", mode).URL+"/")...)
			if r.code != 0 {
				t.Fatalf("exit %d %s", r.code, r.msg)
			}
			if got := sentMechanism(r.trace); got != "OAUTHBEARER" {
				t.Errorf("curl authenticated with %q, want OAUTHBEARER", got)
			}
		})
		t.Run("smtp/"+mode, func(t *testing.T) {
			m := sent{subject: "curl " + mode, body: "Sent by curl over SMTP, " + mode + "."}
			file := filepath.Join(dir, mode+".eml")
			msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s\r\n", alice.Address, alice.Address, m.subject, m.body)
			if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCurl(t, append(auth, "--mail-from", alice.Address, "--mail-rcpt", alice.Address, "--upload-file", file, p.listener("smtp", mode).URL)...)
			if r.code != 0 {
				t.Fatalf("exit %d %s", r.code, r.msg)
			}
			if got := sentMechanism(r.trace); got != "OAUTHBEARER" {
				t.Errorf("curl authenticated with %q, want OAUTHBEARER", got)
			}
			messages = append(messages, m)
		})
	}

	// What SMTP delivered, IMAP finds (SEARCH, then FETCH by sequence
	// number) and POP3 retrieves (RETR of the same number).
	imaps := p.listener("imap", "implicit").URL
	for _, m := range messages {
		t.Run("read back/"+m.subject, func(t *testing.T) {
			auth := curlAuth(p, alice.Address, alice.AccessToken, "implicit")
			r := runCurl(t, append(auth, imaps+"/INBOX?SUBJECT%20%22"+strings.ReplaceAll(m.subject, " ", "%20")+"%22")...)
			found := regexp.MustCompile(`\* SEARCH (\d+)\r?\n`).FindStringSubmatch(r.stdout)
			if r.code != 0 || found == nil {
				t.Fatalf("IMAP SEARCH: exit %d %s, output %q", r.code, r.msg, r.stdout)
			}
			r = runCurl(t, append(auth, imaps+"/INBOX;MAILINDEX="+found[1])...)
			if r.code != 0 || !strings.Contains(r.stdout, "Subject: "+m.subject+"\r\n") || !strings.Contains(r.stdout, m.body) {
				t.Errorf("IMAP FETCH %s: exit %d %s, output %q", found[1], r.code, r.msg, r.stdout)
			}
			r = runCurl(t, append(curlAuth(p, alice.Address, alice.AccessToken, "starttls"), p.listener("pop3", "starttls").URL+"/"+found[1])...)
			if r.code != 0 || !strings.Contains(r.stdout, "Subject: "+m.subject+"\r\n") || !strings.Contains(r.stdout, m.body) {
				t.Errorf("POP3 RETR %s: exit %d %s, output %q", found[1], r.code, r.msg, r.stdout)
			}
		})
	}
	if len(messages) != 2 {
		t.Errorf("%d messages sent, want 2", len(messages))
	}

	bob := p.user("bob@example.test")
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		for _, mode := range []string{"implicit", "starttls"} {
			for _, bad := range []struct{ name, token string }{
				{"bogus token", "ya29.not-a-token"},
				{"bob's token", bob.AccessToken},
			} {
				t.Run(fmt.Sprintf("rejected/%s/%s/%s", proto, mode, bad.name), func(t *testing.T) {
					args := curlAuth(p, alice.Address, bad.token, mode)
					if proto == "smtp" {
						args = append(args, "--mail-from", alice.Address, "--mail-rcpt", alice.Address, "--upload-file", filepath.Join(dir, "implicit.eml"))
					}
					r := runCurl(t, append(args, p.listener(proto, mode).URL+"/")...)
					if r.code != curlLoginDenied {
						t.Errorf("exit %d %s, want %d (login denied)", r.code, r.msg, curlLoginDenied)
					}
				})
			}
		}
	}
}

// TestCurlMicrosoft drives the microsoft-profile sandbox with curl: only
// XOAUTH2 is offered, so curl picks it; submission over STARTTLS is read
// back over POP3 with implicit TLS; a bogus token is refused.
func TestCurlMicrosoft(t *testing.T) {
	requireTool(t, "curl")
	t.Parallel()
	p := launchSandbox(t, "--profile", "microsoft", "--user", "adele@contoso.test")
	adele := p.user("adele@contoso.test")
	for _, proto := range []string{"imap", "pop3"} {
		for _, mode := range []string{"implicit", "starttls"} {
			t.Run(proto+"/"+mode, func(t *testing.T) {
				r := runCurl(t, append(curlAuth(p, adele.Address, adele.AccessToken, mode), p.listener(proto, mode).URL+"/")...)
				if r.code != 0 {
					t.Fatalf("exit %d %s", r.code, r.msg)
				}
				if got := sentMechanism(r.trace); got != "XOAUTH2" {
					t.Errorf("curl authenticated with %q, want XOAUTH2", got)
				}
			})
		}
	}
	file := filepath.Join(t.TempDir(), "msg.eml")
	const subject = "curl to Exchange-like submission"
	msg := "From: " + adele.Address + "\r\nTo: " + adele.Address + "\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
	if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"implicit", "starttls"} {
		t.Run("smtp/"+mode, func(t *testing.T) {
			r := runCurl(t, append(curlAuth(p, adele.Address, adele.AccessToken, mode),
				"--mail-from", adele.Address, "--mail-rcpt", adele.Address, "--upload-file", file, p.listener("smtp", mode).URL)...)
			if r.code != 0 {
				t.Fatalf("exit %d %s", r.code, r.msg)
			}
		})
	}
	t.Run("read back over POP3", func(t *testing.T) {
		r := runCurl(t, append(curlAuth(p, adele.Address, adele.AccessToken, "implicit"), p.listener("pop3", "implicit").URL+"/2")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Subject: "+subject+"\r\n") {
			t.Errorf("exit %d %s, output %q", r.code, r.msg, r.stdout)
		}
	})
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		for _, mode := range []string{"implicit", "starttls"} {
			t.Run("rejected/"+proto+"/"+mode, func(t *testing.T) {
				args := curlAuth(p, adele.Address, "EwBogus", mode)
				if proto == "smtp" {
					args = append(args, "--mail-from", adele.Address, "--mail-rcpt", adele.Address, "--upload-file", file)
				}
				r := runCurl(t, append(args, p.listener(proto, mode).URL+"/")...)
				if r.code != curlLoginDenied {
					t.Errorf("exit %d %s, want %d (login denied)", r.code, r.msg, curlLoginDenied)
				}
			})
		}
	}
}
