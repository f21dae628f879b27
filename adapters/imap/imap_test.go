package imap_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

func dialFor(mode sasltest.TLSMode) func(context.Context, string, *imapadapter.Options) (*imapclient.Client, *sasl.Negotiated, error) {
	if mode == sasltest.StartTLS {
		return imapadapter.DialStartTLS
	}
	return imapadapter.DialTLS
}

func clientOpts(ms *sasltest.MailServer, creds *sasl.Credentials) *imapadapter.Options {
	return &imapadapter.Options{Credentials: creds, Client: &imapclient.Options{TLSConfig: ms.ClientTLSConfig()}}
}

func TestTokenSuccessOneRoundTrip(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 0)
		var debug syncBuilder
		opts := clientOpts(ms, creds)
		opts.Client.DebugWriter = &debug
		c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := "OAUTHBEARER"
		if p == sasltest.ProfileMicrosoft {
			want = "XOAUTH2"
		}
		if n.Mechanism.Name != want {
			t.Fatalf("mechanism %s, want %s", n.Mechanism.Name, want)
		}
		if !slices.IsSorted(n.Advertised()) || !slices.Contains(n.Advertised(), want) {
			t.Fatalf("advertised %q", n.Advertised())
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("NOOP after authentication: %v", err)
		}
		if _, ok := adapters.Deadline(n, time.Minute); !ok {
			t.Fatal("no session deadline for a token session")
		}
		if got := adaptertest.IMAPLinesPerAuth(adaptertest.LastTranscript(t, ms, sasltest.ProtocolIMAP)); len(got) != 1 || got[0] != 1 {
			t.Fatalf("client lines per AUTHENTICATE %v, want [1] (SASL-IR, one round trip)", got)
		}
		if f.Fetches.Load() != 1 {
			t.Fatalf("fetches %d", f.Fetches.Load())
		}
		tr := adaptertest.LastTranscript(t, ms, sasltest.ProtocolIMAP).String()
		for _, tok := range f.Issued {
			if strings.Contains(tr, tok) || strings.Contains(debug.String(), tok) {
				t.Fatal("token in a transcript")
			}
		}
		if !strings.Contains(debug.String(), " AUTHENTICATE "+want+" [REDACTED]") {
			t.Fatalf("debug transcript:\n%s", debug.String())
		}
	})
}

func TestPasswordSuccess(t *testing.T) {
	for _, mode := range adaptertest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
			c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode),
				clientOpts(ms, &sasl.Credentials{Username: alice, Password: password}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !strings.HasPrefix(n.Mechanism.Name, "SCRAM-SHA-") || !strings.HasSuffix(n.Mechanism.Name, "-PLUS") {
				t.Fatalf("mechanism %s, want SCRAM-*-PLUS", n.Mechanism.Name)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRejectedTokenThenRefresh(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 1)
		c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode), clientOpts(ms, creds))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st := ms.AuthStats(sasltest.ProtocolIMAP, n.Mechanism.Name)
		if st.Attempts != 2 || st.Rejected != 1 || st.Succeeded != 1 {
			t.Fatalf("stats %+v", st)
		}
		if f.Fetches.Load() != 2 {
			t.Fatalf("fetches %d, want 2", f.Fetches.Load())
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRejectedTwice(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, _ := adaptertest.TokenCreds(ms, 2)
		_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode), clientOpts(ms, creds))
		if !errors.Is(err, adapters.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
		var ae *adapters.AuthError
		if !errors.As(err, &ae) || ae.Protocol != "IMAP" || !slices.IsSorted(ae.Advertised) || !slices.Contains(ae.Advertised, ae.Mechanism) {
			t.Fatalf("err = %#v", err)
		}
		var te *sasl.TokenError
		if gotTE := errors.As(err, &te); gotTE == (p == sasltest.ProfileMicrosoft) {
			t.Fatalf("TokenError %v for %v (Microsoft sends no error challenge): %v", gotTE, p, err)
		}
		if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Attempts != 2 || st.Rejected != 2 {
			t.Fatalf("stats %+v, want exactly 2 rejected attempts", st)
		}
	})
}

func TestTemporary(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolIMAP})
		creds, _ := adaptertest.TokenCreds(ms, 0)
		_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode), clientOpts(ms, creds))
		if !errors.Is(err, adapters.ErrTemporary) || errors.Is(err, adapters.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
		if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Attempts != 1 {
			t.Fatalf("stats %+v: a temporary failure is not retried", st)
		}
	})
}

func TestMechanismMismatch(t *testing.T) {
	for _, mode := range adaptertest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
			_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolIMAP, mode),
				clientOpts(ms, &sasl.Credentials{Username: alice, Password: password}))
			if !errors.Is(err, sasl.ErrNoMechanism) {
				t.Fatalf("err = %v", err)
			}
			if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Attempts != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A server that is not loopback, without TLS: nothing secret is sent.
func TestPlaintextRefused(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileGmail, AllowInsecureAuth: true})
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	creds, f := adaptertest.TokenCreds(ms, 0)
	creds.Password = password
	_, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	// As the client would see mail.example.test: neither TLS nor loopback.
	cs := &sasl.ConnState{Host: "mail.example.test", Port: pn}
	_, err = imapadapter.Authenticate(context.Background(), c, &imapadapter.Options{Credentials: creds, ConnState: cs})
	if !errors.Is(err, sasl.ErrInsecureTransport) || !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	tr := adaptertest.LastTranscript(t, ms, sasltest.ProtocolIMAP)
	for _, l := range tr.Lines {
		if l.Dir == sasltest.FromClient && (strings.Contains(strings.ToUpper(l.Text), "AUTHENTICATE") || strings.Contains(strings.ToUpper(l.Text), "LOGIN")) {
			t.Fatalf("client sent %q", l.Text)
		}
	}
	if f.Fetches.Load() != 0 {
		// Negotiation refuses before fetching a token.
		t.Logf("fetches %d", f.Fetches.Load())
	}
	if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Attempts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The server refuses authentication before STARTTLS with [PRIVACYREQUIRED].
func TestPrivacyRequired(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileGmail})
	conn, err := net.Dial("tcp", ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	_, err = imapadapter.Authenticate(context.Background(), c, &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: alice, Password: password},
		Policy:      &sasl.Policy{AllowInsecure: true},
		ConnState:   &sasl.ConnState{Host: "mail.example.test"},
	})
	// The server may advertise nothing before TLS (no mechanism) or
	// answer NO [PRIVACYREQUIRED]; both are refusals before any secret is
	// accepted.
	if !errors.Is(err, adapters.ErrTLSRequired) && !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("err = %v", err)
	}
}

func TestAlreadyAuthenticated(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	creds, _ := adaptertest.TokenCreds(ms, 0)
	c, _, err := imapadapter.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), clientOpts(ms, creds))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = imapadapter.Authenticate(context.Background(), c, &imapadapter.Options{Credentials: creds})
	if !errors.Is(err, adapters.ErrAlreadyAuthenticated) {
		t.Fatalf("err = %v", err)
	}
	if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Attempts != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

// SCRAM with a wrong password: the server's e= is answered, the exchange
// fails as a rejection, and the connection stays in step.
func TestSCRAMFailureKeepsSync(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	_, err = imapadapter.Authenticate(context.Background(), c, &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: alice, Password: "wrong"},
		ConnState:   sasl.ConnStateOf(conn, host, pn),
	})
	if !errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after failed AUTHENTICATE: %v", err)
	}
	if _, err := imapadapter.Authenticate(context.Background(), c, &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: alice, Password: password},
		ConnState:   sasl.ConnStateOf(conn, host, pn),
	}); err != nil {
		t.Fatalf("second attempt on the same connection: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	if _, _, err := imapadapter.DialTLS(ctx, "no-port", nil); err == nil || !strings.HasPrefix(err.Error(), "imap: ") {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := imapadapter.DialTLS(ctx, "127.0.0.1:0", nil); err == nil {
		t.Fatal("no error")
	}
	if _, err := imapadapter.Authenticate(ctx, nil, nil); err == nil {
		t.Fatal("no error")
	}
	// Untrusted certificate.
	ms := adaptertest.NewServer(t, nil)
	creds, _ := adaptertest.TokenCreds(ms, 0)
	_, _, err := imapadapter.DialTLS(ctx, ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{Credentials: creds})
	var ue x509UnknownAuthority
	if err == nil || !errors.As(err, &ue.err) {
		t.Fatalf("err = %v", err)
	}
}
