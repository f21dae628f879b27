package pop3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// irFits reports whether an XOAUTH2/OAUTHBEARER initial response for tok
// fits the 255-octet AUTH line.
func irLen(mech, user string, tok *oauth2.Token) int {
	var ir string
	if mech == "XOAUTH2" {
		ir = "user=" + user + "\x01auth=Bearer " + tok.AccessToken + "\x01\x01"
	} else {
		ir = "n,a=" + user + ",\x01host=x\x01port=1\x01auth=Bearer " + tok.AccessToken + "\x01\x01"
	}
	return len("AUTH "+mech+" ") + base64.StdEncoding.EncodedLen(len(ir)) + 2
}

func TestTokenAuthEveryProfileAndMode(t *testing.T) {
	for _, p := range profiles {
		for _, mode := range modes {
			t.Run(p.String()+"/"+mode.String(), func(t *testing.T) {
				ms := newMail(t, p, nil)
				c := connect(t, ms, mode, nil)
				ctx := context.Background()
				tok := issue(t, ms, alice)
				res, err := c.Authenticate(ctx, tokenAuth(&tokenSeq{toks: []*oauth2.Token{tok}}))
				if err != nil {
					t.Fatal(err)
				}
				if !c.Authenticated() || res.Negotiated == nil {
					t.Fatal("not authenticated")
				}
				lines := clientLines(ms)
				var auth []string
				for _, l := range lines {
					if strings.HasPrefix(l, "AUTH ") {
						auth = append(auth, l)
					}
				}
				if len(auth) != 1 {
					t.Fatalf("AUTH lines %q", auth)
				}
				fits := irLen(res.Mechanism, alice, tok) <= 255
				withIR := strings.HasSuffix(auth[0], "[REDACTED]")
				if fits != withIR {
					t.Fatalf("mechanism %s, IR fits %v, but sent %q", res.Mechanism, fits, auth[0])
				}
				if _, _, err := c.Stat(ctx); err != nil {
					t.Fatal(err)
				}
				if err := c.Quit(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// A token long enough that the AUTH line exceeds 255 octets takes the
// continuation path: "AUTH XOAUTH2", "+ ", then the response.
func TestLongTokenContinuationPath(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, func(o *sasltest.MailOptions) { o.Mechanisms = []string{"XOAUTH2"} })
	// Gmail's tokens are short; a long user name makes the initial
	// response long in the same way.
	long := strings.Repeat("a", 200) + "@example.test"
	tok := issue(t, ms, long)
	if irLen("XOAUTH2", long, tok) <= 255 {
		t.Fatal("test token too short")
	}
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	o := tokenAuth(&tokenSeq{toks: []*oauth2.Token{tok}})
	o.Credentials.Username = long
	if _, err := c.Authenticate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := clientLines(ms)
	i := slices.Index(got, "AUTH XOAUTH2")
	if i < 0 || i+1 >= len(got) || got[i+1] != "[REDACTED]" {
		t.Fatalf("client lines %q", got)
	}
}

func TestTokenRejectedThenRefreshed(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		t.Run(p.String(), func(t *testing.T) {
			ms := newMail(t, p, nil)
			old, fresh := issue(t, ms, alice), issue(t, ms, alice)
			ms.OAuth().Revoke(old.AccessToken)
			src := &tokenSeq{toks: []*oauth2.Token{old, fresh}}
			c := connect(t, ms, sasltest.StartTLS, nil)
			res, err := c.Authenticate(context.Background(), tokenAuth(src))
			if err != nil {
				t.Fatal(err)
			}
			if f, inv := src.counts(); f != 2 || inv != 1 {
				t.Fatalf("fetched %d, invalidated %d", f, inv)
			}
			if st := ms.AuthStats(sasltest.ProtocolPOP3, res.Mechanism); st.Attempts != 2 {
				t.Fatalf("attempts %+v", st)
			}
		})
	}
}

func TestTokenRejectedTwice(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		t.Run(p.String(), func(t *testing.T) {
			ms := newMail(t, p, nil)
			a, b := issue(t, ms, alice), issue(t, ms, alice)
			ms.OAuth().Revoke(a.AccessToken)
			ms.OAuth().Revoke(b.AccessToken)
			src := &tokenSeq{toks: []*oauth2.Token{a, b}}
			c := connect(t, ms, sasltest.ImplicitTLS, nil)
			ctx := context.Background()
			_, err := c.Authenticate(ctx, tokenAuth(src))
			if !errors.Is(err, adapters.ErrRejected) {
				t.Fatalf("got %v", err)
			}
			var pe *pop3.Error
			if !errors.As(err, &pe) || pe.Command != "AUTH" {
				t.Fatalf("no *pop3.Error in %v", err)
			}
			if !strings.HasPrefix(err.Error(), "pop3: ") {
				t.Fatalf("error %q", err)
			}
			if f, inv := src.counts(); f != 2 || inv != 1 {
				t.Fatalf("fetched %d, invalidated %d", f, inv)
			}
			// The connection is still in step: a good token works now.
			good := issue(t, ms, alice)
			if _, err := c.Authenticate(ctx, tokenAuth(&tokenSeq{toks: []*oauth2.Token{good}})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTemporaryFailure(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) {
			ms := newMail(t, p, nil)
			ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolPOP3})
			src := &tokenSeq{toks: []*oauth2.Token{issue(t, ms, alice)}}
			c := connect(t, ms, sasltest.ImplicitTLS, nil)
			_, err := c.Authenticate(context.Background(), tokenAuth(src))
			if !errors.Is(err, adapters.ErrTemporary) || errors.Is(err, adapters.ErrRejected) {
				t.Fatalf("got %v", err)
			}
			var ae *adapters.AuthError
			if !errors.As(err, &ae) || ae.Code != "SYS/TEMP" {
				t.Fatalf("got %#v", ae)
			}
			if _, inv := src.counts(); inv != 0 {
				t.Fatal("a temporary failure invalidated the token")
			}
			// And the next attempt succeeds on the same connection.
			if _, err := c.Authenticate(context.Background(), tokenAuth(src)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDroppedMidExchange(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultDrop, Protocol: sasltest.ProtocolPOP3})
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	_, err := c.Authenticate(context.Background(), tokenAuth(&tokenSeq{toks: []*oauth2.Token{issue(t, ms, alice)}}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if err := c.Noop(context.Background()); !errors.Is(err, pop3.ErrClosed) && !errors.Is(err, pop3.ErrState) {
		t.Fatalf("after drop: %v", err)
	}
}

// Over clear text to a peer that is not loopback nothing secret leaves the
// client: not with SASL, not with USER/PASS.
func TestPlaintextRefused(t *testing.T) {
	ms := newMail(t, sasltest.ProfileAll, func(o *sasltest.MailOptions) { o.AllowInsecureAuth = true })
	tok := issue(t, ms, alice)
	raw, err := net.Dial("tcp", ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	rc := &recConn{Conn: raw, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 110}}
	ctx := context.Background()
	c, err := pop3.NewClient(ctx, rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := &pop3.AuthOptions{UserPass: true}
	o.Credentials = &sasl.Credentials{Username: alice, Password: alicePW, TokenSource: &tokenSeq{toks: []*oauth2.Token{tok}}}
	o.Policy = &sasl.Policy{Deny: []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "CRAM-MD5"}}
	if _, err := c.Authenticate(ctx, o); !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Fatalf("got %v", err)
	}
	if err := c.Login(ctx, alice, alicePW); !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Fatalf("Login: %v", err)
	}
	wire := rc.written()
	for _, secret := range []string{alicePW, tok.AccessToken,
		base64.StdEncoding.EncodeToString([]byte(alicePW)), base64.StdEncoding.EncodeToString([]byte(tok.AccessToken))} {
		if bytes.Contains(wire, []byte(secret)) {
			t.Fatalf("secret on the wire: %q", wire)
		}
	}
	if bytes.Contains(wire, []byte("AUTH")) || bytes.Contains(wire, []byte("PASS")) {
		t.Fatalf("authentication attempted: %q", wire)
	}
}

func TestSecondAuthRefused(t *testing.T) {
	ms := newMail(t, sasltest.ProfileAll, nil)
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	ctx := context.Background()
	if _, err := c.Authenticate(ctx, passwordAuth()); err != nil {
		t.Fatal(err)
	}
	before := len(clientLines(ms))
	_, err := c.Authenticate(ctx, passwordAuth())
	if !errors.Is(err, adapters.ErrAlreadyAuthenticated) {
		t.Fatalf("got %v", err)
	}
	if err := c.Login(ctx, alice, alicePW); !errors.Is(err, adapters.ErrAlreadyAuthenticated) {
		t.Fatalf("Login: %v", err)
	}
	if err := c.STLS(ctx); !errors.Is(err, pop3.ErrState) {
		t.Fatalf("STLS: %v", err)
	}
	if after := len(clientLines(ms)); after != before {
		t.Fatalf("sent %d lines", after-before)
	}
}

func TestEveryMechanismOfProfileAll(t *testing.T) {
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"} {
		t.Run(mech, func(t *testing.T) {
			ms := newMail(t, sasltest.ProfileAll, nil)
			c := connect(t, ms, sasltest.StartTLS, nil)
			o := passwordAuth()
			o.Credentials.TokenSource = &tokenSeq{toks: []*oauth2.Token{issue(t, ms, alice)}}
			o.Policy = &sasl.Policy{Prefer: []string{mech}, Allow: []string{"CRAM-MD5"}}
			res, err := c.Authenticate(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Mechanism != mech {
				t.Fatalf("authenticated with %s", res.Mechanism)
			}
		})
	}
}

func TestUserPassFallback(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, func(o *sasltest.MailOptions) { o.Mechanisms = []string{"XOAUTH2"} })
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	o := passwordAuth()
	ctx := context.Background()
	if _, err := c.Authenticate(ctx, o); !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("without UserPass: %v", err)
	}
	o.UserPass = true
	res, err := c.Authenticate(ctx, o)
	if err != nil || res.Mechanism != "USER" {
		t.Fatalf("%v %+v", err, res)
	}
	if got := clientLines(ms); !slices.Contains(got, "PASS [REDACTED]") {
		t.Fatalf("lines %q", got)
	}
}

// A policy minimum above PLAIN also rules out the USER/PASS fallback.
func TestUserPassFallbackObeysMinimum(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	o := passwordAuth()
	o.UserPass = true
	o.Policy = &sasl.Policy{Minimum: "SCRAM-SHA-256"}
	before := len(clientLines(ms))
	if _, err := c.Authenticate(context.Background(), o); !errors.Is(err, sasl.ErrDenied) {
		t.Fatalf("got %v", err)
	}
	for _, l := range clientLines(ms)[before:] {
		if strings.HasPrefix(l, "USER") || strings.HasPrefix(l, "PASS") || strings.HasPrefix(l, "AUTH") {
			t.Fatalf("sent %q", l)
		}
	}
}

func TestLoginWrongPassword(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	err := c.Login(context.Background(), alice, "wrong-password")
	if !errors.Is(err, adapters.ErrRejected) || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("got %v", err)
	}
	if err := c.Login(context.Background(), alice, alicePW); err != nil {
		t.Fatal(err)
	}
}

func TestSTLSDiscardsCapabilities(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	ctx := context.Background()
	c, err := pop3.Dial(ctx, ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS), &pop3.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !before.STLS || len(before.SASL) != 0 {
		t.Fatalf("before STLS: %+v", before)
	}
	if err := c.STLS(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.STLS || !after.HasSASL("XOAUTH2") || !after.User || !after.UIDL || !after.Top || !after.RespCodes || !after.AuthRespCode || !after.Pipelining {
		t.Fatalf("after STLS: %+v", after)
	}
	if err := c.STLS(ctx); !errors.Is(err, pop3.ErrState) {
		t.Fatalf("second STLS: %v", err)
	}
	if !c.ConnState().Secure() {
		t.Fatal("not secure after STLS")
	}
}

func TestDebugWriterRedacts(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	var buf bytes.Buffer
	c := connect(t, ms, sasltest.StartTLS, &pop3.Options{DebugWriter: &buf})
	ctx := context.Background()
	tok := issue(t, ms, alice)
	if _, err := c.Authenticate(ctx, tokenAuth(&tokenSeq{toks: []*oauth2.Token{tok}})); err != nil {
		t.Fatal(err)
	}
	c.Quit(ctx)
	c2 := connect(t, ms, sasltest.ImplicitTLS, &pop3.Options{DebugWriter: &buf})
	if err := c2.Login(ctx, alice, alicePW); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{tok.AccessToken, alicePW, base64.StdEncoding.EncodeToString([]byte("user=" + alice))[:20]} {
		if strings.Contains(out, s) {
			t.Fatalf("secret in transcript:\n%s", out)
		}
	}
	if !strings.Contains(out, "C: AUTH ") || !strings.Contains(out, "C: PASS [REDACTED]") || !strings.Contains(out, "S: +OK") {
		t.Fatalf("transcript:\n%s", out)
	}
}

// The package-level Authenticate on a connection the caller manages.
func TestAuthenticateOnCallerConnection(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) {
			ms := newMail(t, p, nil)
			addr := ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS)
			ctx := context.Background()
			conn, err := (&tlsDialer{cfg: ms.ClientTLSConfig()}).dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tc := newText(conn)
			if _, err := tc.ReadLine(); err != nil { // greeting
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(addr)
			portNum, _ := strconv.Atoi(port)
			cs := sasl.ConnStateOf(conn, host, portNum)
			src := &tokenSeq{toks: []*oauth2.Token{issue(t, ms, alice)}}
			if _, err := pop3.AuthenticateText(ctx, tc, cs, tokenAuth(src)); err != nil {
				t.Fatal(err)
			}
			if err := tc.PrintfLine("STAT"); err != nil {
				t.Fatal(err)
			}
			if line, err := tc.ReadLine(); err != nil || !strings.HasPrefix(line, "+OK ") {
				t.Fatalf("%q %v", line, err)
			}
		})
	}
}
