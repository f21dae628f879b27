package adapters_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// tokens is a token fetcher handing out numbered tokens; the cache over it
// invalidates.
type tokens struct{ n atomic.Int32 }

func (f *tokens) Fetch(ctx context.Context) (*oauth2.Token, error) {
	i := f.n.Add(1)
	return &oauth2.Token{AccessToken: fmt.Sprintf("tok%d", i), Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

// server answers an exchange by the token in the initial response.
func server(reject func(ir string) error, calls *int) adapters.Exchange {
	return func(ctx context.Context, n *sasl.Negotiated) error {
		*calls++
		_, ir, err := n.Client.Start()
		if err != nil {
			return err
		}
		return reject(string(ir))
	}
}

var loopback = &sasl.ConnState{Host: "localhost"}

func tokenOpts(f *tokens) *adapters.Options {
	return &adapters.Options{Credentials: &sasl.Credentials{
		Username:    "alice@example.test",
		TokenSource: providers.NewCache(f, nil),
	}}
}

func rejected(ir string) error {
	return &adapters.AuthError{Protocol: "IMAP", Code: "AUTHENTICATIONFAILED", Text: "Invalid credentials", Kind: adapters.ErrRejected}
}

func TestRetryOnceWithFreshToken(t *testing.T) {
	f := &tokens{}
	calls := 0
	n, err := adapters.Authenticate(context.Background(), tokenOpts(f), []string{"XOAUTH2"}, loopback, server(func(ir string) error {
		if strings.Contains(ir, "Bearer tok1\x01") {
			return rejected(ir)
		}
		return nil
	}, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || f.n.Load() != 2 {
		t.Fatalf("exchanges %d, fetches %d; want 2, 2", calls, f.n.Load())
	}
	if n.Mechanism.Name != "XOAUTH2" {
		t.Fatalf("mechanism %s", n.Mechanism.Name)
	}
	if d, ok := adapters.Deadline(n, time.Minute); !ok || !d.Equal(time.Date(2029, 12, 31, 23, 59, 0, 0, time.UTC)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
}

func TestRejectedTwiceIsReturned(t *testing.T) {
	f := &tokens{}
	calls := 0
	_, err := adapters.Authenticate(context.Background(), tokenOpts(f), []string{"XOAUTH2"}, loopback, server(rejected, &calls))
	if !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	var ae *adapters.AuthError
	if !errors.As(err, &ae) || ae.Mechanism != "XOAUTH2" || strings.Join(ae.Advertised, " ") != "XOAUTH2" {
		t.Fatalf("err = %#v", err)
	}
	if calls != 2 {
		t.Fatalf("exchanges %d, want 2", calls)
	}
}

func TestNoRetry(t *testing.T) {
	cases := []struct {
		name string
		opts *adapters.Options
		mech string
		err  error
	}{
		{"password", &adapters.Options{Credentials: &sasl.Credentials{Username: "u", Password: "p"}}, "PLAIN",
			&adapters.AuthError{Kind: adapters.ErrRejected}},
		{"temporary", tokenOpts(&tokens{}), "XOAUTH2", &adapters.AuthError{Kind: adapters.ErrTemporary}},
		{"io", tokenOpts(&tokens{}), "XOAUTH2", errors.New("connection reset")},
		{"no invalidation", &adapters.Options{Credentials: &sasl.Credentials{Username: "u", TokenSource: static{}}}, "XOAUTH2",
			&adapters.AuthError{Kind: adapters.ErrRejected}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			_, err := adapters.Authenticate(context.Background(), c.opts, []string{c.mech}, loopback,
				server(func(string) error { return c.err }, &calls))
			if !errors.Is(err, c.err) && err != c.err {
				t.Fatalf("err = %v", err)
			}
			if calls != 1 {
				t.Fatalf("exchanges %d, want 1", calls)
			}
		})
	}
}

type static struct{}

func (static) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "t"}, nil
}

func TestNoMechanism(t *testing.T) {
	calls := 0
	_, err := adapters.Authenticate(context.Background(), tokenOpts(&tokens{}), []string{"CRAM-MD5", "GSSAPI"}, loopback,
		server(func(string) error { return nil }, &calls))
	if !errors.Is(err, sasl.ErrNoMechanism) || calls != 0 {
		t.Fatalf("err = %v, calls %d", err, calls)
	}
}

func TestInsecureRefusedBeforeExchange(t *testing.T) {
	calls := 0
	remote := &sasl.ConnState{Host: "mail.example.test"}
	_, err := adapters.Authenticate(context.Background(), tokenOpts(&tokens{}), []string{"XOAUTH2", "PLAIN"}, remote,
		server(func(string) error { return nil }, &calls))
	if !errors.Is(err, sasl.ErrInsecureTransport) || calls != 0 {
		t.Fatalf("err = %v, calls %d", err, calls)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := adapters.Authenticate(ctx, tokenOpts(&tokens{}), []string{"XOAUTH2"}, loopback, server(func(string) error { return nil }, &calls))
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("err = %v, calls %d", err, calls)
	}
}

func TestNilExchange(t *testing.T) {
	if _, err := adapters.Authenticate(context.Background(), nil, nil, nil, nil); err == nil {
		t.Fatal("no error")
	}
}

func TestFailureRecorded(t *testing.T) {
	// The exchange feeds the client a JSON error challenge, as Gmail does.
	calls := 0
	_, err := adapters.Authenticate(context.Background(), tokenOpts(&tokens{}), []string{"XOAUTH2"}, loopback,
		func(ctx context.Context, n *sasl.Negotiated) error {
			calls++
			if _, _, err := n.Client.Start(); err != nil {
				return err
			}
			if _, err := n.Client.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`)); err != nil {
				return err
			}
			return &adapters.AuthError{Protocol: "SMTP", Code: "535", Kind: adapters.ErrRejected}
		})
	var te *sasl.TokenError
	if !errors.As(err, &te) || te.Status != "401" || te.Scope != "https://mail.google.com/" {
		t.Fatalf("err = %v", err)
	}
	if calls != 2 {
		t.Fatalf("exchanges %d", calls)
	}
	if !strings.Contains(err.Error(), "status 401") || strings.Contains(err.Error(), "tok1") || strings.Contains(err.Error(), "tok2") {
		t.Fatalf("message %q", err)
	}
}

func TestAuthErrorMessage(t *testing.T) {
	e := &adapters.AuthError{Protocol: "SMTP", Mechanism: "PLAIN", Code: "454", Text: "4.7.0 \x1b[31mtry\r\nlater\x00 \"now\"", Kind: adapters.ErrTemporary}
	want := `adapters: SMTP PLAIN authentication failed: temporary authentication failure [454] "4.7.0 [31mtry later \"now\""`
	if got := e.Error(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !errors.Is(e, adapters.ErrTemporary) || errors.Is(e, adapters.ErrRejected) {
		t.Fatal("kind")
	}
}

func TestSanitize(t *testing.T) {
	long := strings.Repeat("é", 300)
	got := adapters.Sanitize(long)
	if len(got) > adapters.MaxTextLen+len("…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("len %d", len(got))
	}
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"  ok  ", "ok"},
		{"a\tb\nc", "a b c"},
		{"bad \xff utf8", "bad utf8"},
	} {
		if got := adapters.Sanitize(c.in); got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDeadlineWithoutToken(t *testing.T) {
	if _, ok := adapters.Deadline(nil, 0); ok {
		t.Fatal("nil")
	}
	opts := &adapters.Options{Credentials: &sasl.Credentials{Username: "u", Password: "p"}}
	n, err := adapters.Authenticate(context.Background(), opts, []string{"PLAIN"}, loopback,
		func(context.Context, *sasl.Negotiated) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := adapters.Deadline(n, 0); ok {
		t.Fatal("a password session has no deadline")
	}
}

// TestRedactWriterLines: capability lines that name LOGIN pass unchanged;
// LOGIN commands are redacted whatever their tag and case, literals
// included.
func TestRedactWriterLines(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"smtp ehlo", "EHLO client\r\n250-mail.example.com\r\n250-AUTH LOGIN PLAIN XOAUTH2\r\n250 8BITMIME\r\n", ""},
		{"smtp ehlo last line", "250-mail.example.com\r\n250 AUTH LOGIN PLAIN\r\n", ""},
		{"smtp old auth", "250-AUTH=LOGIN PLAIN\r\n250-AUTH LOGIN\r\n", ""},
		{"pop3 capa", "CAPA\r\n+OK Capability list follows\r\nUSER\r\nSASL LOGIN PLAIN XOAUTH2\r\nsasl login\r\n.\r\n", ""},
		{"imap capability", "* CAPABILITY IMAP4rev1 SASL-IR AUTH=LOGIN AUTH=PLAIN\r\n* OK [CAPABILITY IMAP4rev1 LOGIN-REFERRALS AUTH=LOGIN] ready\r\n", ""},
		{"imap untagged", "* LOGIN x y\r\n+ LOGIN x y\r\n", ""},
		{"imap login", "a1 LOGIN alice s3cret\r\n", "a1 LOGIN [REDACTED]\r\n"},
		{"imap login lower case", "A001 login alice s3cret\n", "A001 login [REDACTED]\n"},
		{"imap numeric tag", "250 LOGIN alice s3cret\r\n", "250 LOGIN [REDACTED]\r\n"},
		{"imap tag SASL outside CAPA", "SASL LOGIN alice s3cret\r\n", "SASL LOGIN [REDACTED]\r\n"},
		{"capa then imap", "CAPA\r\n-ERR unknown command\r\nSASL LOGIN alice s3cret\r\n", "CAPA\r\n-ERR unknown command\r\nSASL LOGIN [REDACTED]\r\n"},
		{"synchronizing literals", "a1 LOGIN {5}\r\n+ Ready\r\nalice {6}\r\n+ Ready\r\ns3cret\r\na1 OK done\r\n",
			"a1 LOGIN [REDACTED]\r\n+ Ready\r\n[REDACTED]\r\n+ Ready\r\n[REDACTED]\r\na1 OK done\r\n"},
		{"non-synchronizing literal", "T1 LOGIN alice {7+}\r\ns3cr\u00e9t\r\nT1 OK done\r\n", "T1 LOGIN [REDACTED]\r\n[REDACTED]\r\nT1 OK done\r\n"},
		{"literal refused", "a1 LOGIN alice {6}\r\na1 NO too long\r\na2 NOOP\r\n", "a1 LOGIN [REDACTED]\r\na1 NO too long\r\na2 NOOP\r\n"},
		{"untagged while waiting", "a1 LOGIN alice {6}\r\n* OK s3cret\r\n+ go\r\ns3cret\r\n", "a1 LOGIN [REDACTED]\r\n[REDACTED]\r\n+ go\r\n[REDACTED]\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if _, err := adapters.RedactWriter(&b).Write([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if b.String() != want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), want)
			}
			if tc.want != "" && strings.Contains(b.String(), "s3cr") {
				t.Errorf("password in %q", b.String())
			}
		})
	}
}

// TestRedactWriterSCRAMChallenges: the server's SCRAM messages (salt,
// iteration count, nonces, server signature) allow an offline dictionary
// attack together with the user name, so they are redacted in both IMAP and
// SMTP transcripts, while challenges that help a reader (an OAuth error,
// LOGIN's prompts, a server's prose) stay.
func TestRedactWriterSCRAMChallenges(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	serverFirst := b64([]byte("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"))
	serverFinal := b64([]byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
	for _, tc := range []struct{ name, in string }{
		{"imap", "A1 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ckFMdnNYZ1M=\r\n+ " + serverFirst + "\r\nYz1iaXdz\r\n+ " + serverFinal + "\r\n\r\nA1 OK done\r\n"},
		{"smtp", "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ckFMdnNYZ1M=\r\n334 " + serverFirst + "\r\nYz1iaXdz\r\n334 " + serverFinal + "\r\n\r\n235 2.7.0 ok\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			_, _ = adapters.RedactWriter(&out).Write([]byte(tc.in))
			for _, secret := range []string{serverFirst, serverFinal} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("a SCRAM server message passed:\n%s", out.String())
				}
			}
			if n := strings.Count(out.String(), adapters.Redacted); n != 4 {
				t.Errorf("%d redactions, want 4 (initial response, two challenges, one response):\n%s", n, out.String())
			}
		})
	}
	keep := []string{
		"+ " + b64([]byte(`{"status":"invalid_token","scope":"https://mail.google.com/"}`)),
		"334 " + b64([]byte("Username:")),
		"334 " + b64([]byte("Password:")),
		"+ Ready for more",
	}
	var out strings.Builder
	w := adapters.RedactWriter(&out)
	for _, ch := range keep {
		_, _ = w.Write([]byte("AUTH X\r\n" + ch + "\r\n*\r\n"))
	}
	for _, ch := range keep {
		if !strings.Contains(out.String(), ch+"\r\n") {
			t.Errorf("%q was redacted:\n%s", ch, out.String())
		}
	}
}

func TestRedactWriter(t *testing.T) {
	var b strings.Builder
	w := adapters.RedactWriter(&b)
	in := "* OK ready\r\nT1 AUTHENTICATE XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgc2VjcmV0AQE=\r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n=\r\nT1 NO [AUTHENTICATIONFAILED] no\r\n" +
		"T2 LOGIN alice s3cret\r\nAUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n235 ok\r\nAUTH LOGIN\r\n334 VXNlcm5hbWU6\r\nYWxpY2U=\r\n334 UGFzc3dvcmQ6\r\nczNjcmV0\r\n235 2.7.0 ok\r\nPASS s3cret\r\nQUIT\r\n"
	// Written in pieces, as a tee would.
	for i := 0; i < len(in); i += 7 {
		_, _ = w.Write([]byte(in[i:min(i+7, len(in))]))
	}
	out := b.String()
	for _, secret := range []string{"s3cret", "czNjcmV0", "AGFsaWNl", "dXNlcj1h", "YWxpY2U="} {
		if strings.Contains(out, secret) {
			t.Errorf("%q in transcript:\n%s", secret, out)
		}
	}
	for _, keep := range []string{"T1 AUTHENTICATE XOAUTH2 [REDACTED]", "+ eyJzdGF0dXMiOiI0MDEifQ==", "T1 NO [AUTHENTICATIONFAILED] no", "235 2.7.0 ok", "QUIT"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%q missing:\n%s", keep, out)
		}
	}
}
