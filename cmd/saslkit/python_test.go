package main

import (
	"fmt"
	"strings"
	"testing"
)

// pyInput is the JSON the scripts in testdata/python read (see common.py).
type pyInput struct {
	Host      string     `json:"host"`
	Port      int        `json:"port"`
	TLS       string     `json:"tls"`
	CAFile    string     `json:"ca_file"`
	User      string     `json:"user"`
	Mechanism string     `json:"mechanism"`
	Token     string     `json:"token,omitempty"`
	Password  string     `json:"password,omitempty"`
	Refresh   *pyRefresh `json:"refresh,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Send      *pySend    `json:"send,omitempty"`
	Sleep     float64    `json:"sleep,omitempty"`
	// NoInitialResponse makes the POP3 script send AUTH without an
	// initial response and answer the "+ " continuation.
	NoInitialResponse bool `json:"no_initial_response,omitempty"`
}

type pyRefresh struct {
	TokenURL     string `json:"token_url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

type pySend struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// pyResult is what the scripts print; each fills the fields it knows.
type pyResult struct {
	Authenticated bool     `json:"authenticated"`
	Stage         string   `json:"stage"`
	ErrorType     string   `json:"error_type"`
	Error         string   `json:"error"`
	Challenges    []string `json:"challenges"`
	Capabilities  []string `json:"capabilities"`
	AuthResponse  string   `json:"auth_response"`
	// SMTP.
	AuthCode       int    `json:"auth_code"`
	AuthAdvertised string `json:"auth_advertised"`
	AuthBeforeTLS  bool   `json:"auth_before_tls"`
	Sent           bool   `json:"sent"`
	// IMAP and POP3.
	Found   int    `json:"found"`
	Message string `json:"message"`
	// Refresh.
	Refreshed bool `json:"refreshed"`
	ExpiresIn int  `json:"expires_in"`
	// Session expiry.
	NoopBefore      any    `json:"noop_before"`
	NoopAfter       any    `json:"noop_after"`
	NoopAfterText   string `json:"noop_after_text"`
	SecondNoopAfter any    `json:"second_noop_after"`
	After           *struct {
		ErrorType string `json:"error_type"`
		Error     string `json:"error"`
	} `json:"after"`
}

// pyRun runs the script of proto (imap_client.py, ...) with in.
func pyRun(t *testing.T, proto string, in pyInput) pyResult {
	t.Helper()
	var r pyResult
	pythonScript(t, proto+"_client.py", in, &r)
	return r
}

// pyConn fills the connection part of a script's input.
func pyConn(p *sandboxProc, proto, mode string, u sandboxUserInfo, mech string) pyInput {
	l := p.listener(proto, mode)
	return pyInput{Host: l.Host, Port: l.Port, TLS: mode, CAFile: p.info.CAFile, User: u.Address, Mechanism: mech, Token: u.AccessToken, Password: u.Password}
}

// TestPythonGmail drives the gmail-profile sandbox with Python's imaplib,
// smtplib and poplib, over implicit TLS and STARTTLS, with XOAUTH2,
// OAUTHBEARER and the password: smtplib submits, imaplib and poplib read
// back; a bogus token draws Gmail's JSON error challenge, which the scripts
// answer as the mechanism requires, then the failure; a wrong password is
// refused.
func TestPythonGmail(t *testing.T) {
	requireTool(t, "python3")
	t.Parallel()
	p := launchSandbox(t, "--user", "alice@example.test")
	alice := p.user("alice@example.test")
	modes := []string{"implicit", "starttls"}
	mechs := []string{"XOAUTH2", "OAUTHBEARER", "password"}

	for _, mode := range modes {
		for _, mech := range mechs {
			name := mode + "/" + mech
			subject := "python " + name
			t.Run("smtp/"+name, func(t *testing.T) {
				in := pyConn(p, "smtp", mode, alice, mech)
				in.Send = &pySend{From: alice.Address, To: alice.Address, Subject: subject, Body: "Sent by smtplib, " + name + "."}
				r := pyRun(t, "smtp", in)
				if !r.Authenticated || r.AuthCode != 235 || !r.Sent || len(r.Challenges) != 0 {
					t.Fatalf("%+v", r)
				}
				if r.AuthAdvertised != " LOGIN PLAIN XOAUTH2 OAUTHBEARER" {
					t.Errorf("AUTH advertised %q", r.AuthAdvertised)
				}
				if mode == "starttls" && r.AuthBeforeTLS {
					t.Error("AUTH advertised before STARTTLS")
				}
			})
			t.Run("imap/"+name, func(t *testing.T) {
				in := pyConn(p, "imap", mode, alice, mech)
				in.Subject = subject
				r := pyRun(t, "imap", in)
				if !r.Authenticated || r.Found != 1 || !strings.Contains(r.Message, "Sent by smtplib, "+name+".") {
					t.Fatalf("%+v", r)
				}
			})
			t.Run("pop3/"+name, func(t *testing.T) {
				in := pyConn(p, "pop3", mode, alice, mech)
				in.Subject = subject
				r := pyRun(t, "pop3", in)
				if !r.Authenticated || !strings.Contains(r.Message, "Sent by smtplib, "+name+".") {
					t.Fatalf("%+v", r)
				}
			})
		}
	}

	// Rejections: the JSON error challenge of each mechanism, then the
	// profile's failure.
	challenge := map[string]string{
		"XOAUTH2":     `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`,
		"OAUTHBEARER": `{"status":"invalid_token","schemes":"bearer","scope":"https://mail.google.com/"}`,
	}
	failure := map[string]string{
		"imap": "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
		"smtp": "5.7.8 Username and Password not accepted.",
		"pop3": "-ERR [AUTH] Username and password not accepted.",
	}
	t.Run("rejected", func(t *testing.T) {
		for _, proto := range []string{"imap", "smtp", "pop3"} {
			for _, mode := range modes {
				for _, mech := range mechs {
					t.Run(fmt.Sprintf("%s/%s/%s", proto, mode, mech), func(t *testing.T) {
						t.Parallel()
						in := pyConn(p, proto, mode, alice, mech)
						in.Token, in.Password = "ya29.not-a-token", "not-the-password"
						r := pyRun(t, proto, in)
						if r.Authenticated || r.Stage != "authenticate" || !strings.Contains(r.Error, failure[proto]) {
							t.Fatalf("%+v", r)
						}
						if proto == "smtp" && r.AuthCode != 535 {
							t.Errorf("SMTP code %d, want 535", r.AuthCode)
						}
						want := challenge[mech]
						if mech == "password" {
							if len(r.Challenges) != 0 {
								t.Errorf("challenges %q for a password", r.Challenges)
							}
						} else if len(r.Challenges) != 1 || r.Challenges[0] != want {
							t.Errorf("challenges %q, want [%s]", r.Challenges, want)
						}
					})
				}
			}
		}
	})
}

// TestPythonMicrosoft drives the microsoft-profile sandbox: XOAUTH2 only,
// with and (POP3) without an initial response; a bogus token is refused at
// once, without a challenge, with Exchange Online's texts; passwords are
// refused as basic authentication is off.
func TestPythonMicrosoft(t *testing.T) {
	requireTool(t, "python3")
	t.Parallel()
	p := launchSandbox(t, "--profile", "microsoft", "--user", "adele@contoso.test")
	adele := p.user("adele@contoso.test")
	for _, mode := range []string{"implicit", "starttls"} {
		subject := "python microsoft " + mode
		t.Run("smtp/"+mode, func(t *testing.T) {
			in := pyConn(p, "smtp", mode, adele, "XOAUTH2")
			in.Send = &pySend{From: adele.Address, To: adele.Address, Subject: subject, Body: "Hello from smtplib."}
			r := pyRun(t, "smtp", in)
			if !r.Authenticated || !r.Sent || r.AuthAdvertised != " XOAUTH2" {
				t.Fatalf("%+v", r)
			}
		})
		t.Run("imap/"+mode, func(t *testing.T) {
			in := pyConn(p, "imap", mode, adele, "XOAUTH2")
			in.Subject = subject
			r := pyRun(t, "imap", in)
			if !r.Authenticated || r.Found != 1 {
				t.Fatalf("%+v", r)
			}
		})
		t.Run("pop3/"+mode, func(t *testing.T) {
			for _, noIR := range []bool{false, true} {
				in := pyConn(p, "pop3", mode, adele, "XOAUTH2")
				in.Subject, in.NoInitialResponse = subject, noIR
				r := pyRun(t, "pop3", in)
				if !r.Authenticated || !strings.Contains(r.Message, "Hello from smtplib.") {
					t.Fatalf("without initial response %t: %+v", noIR, r)
				}
			}
		})
	}
	for _, c := range []struct {
		proto, mech, failure string
	}{
		{"imap", "XOAUTH2", "AUTHENTICATE failed."},
		{"smtp", "XOAUTH2", "5.7.3 Authentication unsuccessful"},
		{"pop3", "XOAUTH2", "-ERR Authentication failure: unknown user name or bad password."},
		{"imap", "password", "LOGIN failed."},
		{"smtp", "password", "No suitable authentication method found."},
		{"pop3", "password", "USER/PASS authentication is disabled"},
	} {
		t.Run("rejected/"+c.proto+"/"+c.mech, func(t *testing.T) {
			in := pyConn(p, c.proto, "starttls", adele, c.mech)
			in.Token = "EwBogus"
			r := pyRun(t, c.proto, in)
			if r.Authenticated || r.Stage != "authenticate" || !strings.Contains(r.Error, c.failure) || len(r.Challenges) != 0 {
				t.Fatalf("%+v", r)
			}
		})
	}
}
