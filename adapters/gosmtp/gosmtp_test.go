package gosmtp_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

func dialFor(mode sasltest.TLSMode) func(context.Context, string, *gosmtp.Options) (*smtp.Client, *sasl.Negotiated, error) {
	if mode == sasltest.StartTLS {
		return gosmtp.DialStartTLS
	}
	return gosmtp.DialTLS
}

func clientOpts(ms *sasltest.MailServer, creds *sasl.Credentials) *gosmtp.Options {
	return &gosmtp.Options{Credentials: creds, TLSConfig: ms.ClientTLSConfig()}
}

func TestTokenSuccessOneRoundTrip(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 0)
		var debug strings.Builder
		opts := clientOpts(ms, creds)
		opts.DebugWriter = &debug
		c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode), opts)
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
		if err := c.Noop(); err != nil {
			t.Fatalf("NOOP: %v", err)
		}
		if _, ok := adapters.Deadline(n, time.Minute); !ok {
			t.Fatal("no deadline")
		}
		if got := adaptertest.SMTPLinesPerAuth(adaptertest.LastTranscript(t, ms, sasltest.ProtocolSMTP)); len(got) != 1 || got[0] != 1 {
			t.Fatalf("client lines per AUTH %v, want [1]", got)
		}
		for _, tok := range f.Issued {
			if strings.Contains(debug.String(), tok) || strings.Contains(adaptertest.LastTranscript(t, ms, sasltest.ProtocolSMTP).String(), tok) {
				t.Fatal("token in a transcript")
			}
		}
		if !strings.Contains(debug.String(), "AUTH "+want+" [REDACTED]") {
			t.Fatalf("debug transcript:\n%s", debug.String())
		}
	})
}

// An initial response longer than the line limit goes in a continuation.
func TestLongInitialResponse(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	creds, _ := adaptertest.TokenCreds(ms, 0)
	opts := clientOpts(ms, creds)
	opts.MaxLineLength = 64
	c, _, err := gosmtp.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := adaptertest.LastTranscript(t, ms, sasltest.ProtocolSMTP)
	if got := adaptertest.SMTPLinesPerAuth(tr); len(got) != 1 || got[0] != 2 {
		t.Fatalf("client lines per AUTH %v, want [2]\n%s", got, tr)
	}
	for _, l := range tr.Lines {
		if l.Dir == sasltest.FromClient && strings.HasPrefix(l.Text, "AUTH ") && l.Text != "AUTH XOAUTH2" {
			t.Fatalf("AUTH line %q carries an initial response", l.Text)
		}
	}
}

func TestPasswordSuccess(t *testing.T) {
	for _, mode := range adaptertest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
			c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode),
				clientOpts(ms, &sasl.Credentials{Username: alice, Password: password}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !strings.HasPrefix(n.Mechanism.Name, "SCRAM-") {
				t.Fatalf("mechanism %s", n.Mechanism.Name)
			}
			if err := c.Noop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRejectedTokenThenRefresh(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 1)
		c, n, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode), clientOpts(ms, creds))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if st := ms.AuthStats(sasltest.ProtocolSMTP, n.Mechanism.Name); st.Attempts != 2 || st.Rejected != 1 || st.Succeeded != 1 {
			t.Fatalf("stats %+v", st)
		}
		if f.Fetches.Load() != 2 {
			t.Fatalf("fetches %d", f.Fetches.Load())
		}
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRejectedTwice(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, _ := adaptertest.TokenCreds(ms, 2)
		_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode), clientOpts(ms, creds))
		if !errors.Is(err, adapters.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
		var ae *adapters.AuthError
		if !errors.As(err, &ae) || ae.Code != "535" {
			t.Fatalf("err = %#v", err)
		}
		var te *sasl.TokenError
		if gotTE := errors.As(err, &te); gotTE == (p == sasltest.ProfileMicrosoft) {
			t.Fatalf("TokenError %v for %v: %v", gotTE, p, err)
		}
		if st := ms.AuthStats(sasltest.ProtocolSMTP, ""); st.Attempts != 2 || st.Rejected != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestTemporary(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolSMTP})
		creds, _ := adaptertest.TokenCreds(ms, 0)
		_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode), clientOpts(ms, creds))
		if !errors.Is(err, adapters.ErrTemporary) {
			t.Fatalf("err = %v", err)
		}
		if st := ms.AuthStats(sasltest.ProtocolSMTP, ""); st.Attempts != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestMechanismMismatch(t *testing.T) {
	for _, mode := range adaptertest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
			_, _, err := dialFor(mode)(context.Background(), ms.Addr(sasltest.ProtocolSMTP, mode),
				clientOpts(ms, &sasl.Credentials{Username: alice, Password: password}))
			if !errors.Is(err, sasl.ErrNoMechanism) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestPlaintextRefused(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{AllowInsecureAuth: true})
	addr := ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	creds, _ := adaptertest.TokenCreds(ms, 0)
	creds.Password = password
	_, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	_, err = gosmtp.Authenticate(context.Background(), c, &gosmtp.Options{Credentials: creds, ConnState: &sasl.ConnState{Host: "mail.example.test", Port: pn}})
	if !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	for _, l := range adaptertest.LastTranscript(t, ms, sasltest.ProtocolSMTP).Lines {
		if l.Dir == sasltest.FromClient && strings.HasPrefix(strings.ToUpper(l.Text), "AUTH") {
			t.Fatalf("client sent %q", l.Text)
		}
	}
	if st := ms.AuthStats(sasltest.ProtocolSMTP, ""); st.Attempts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Without TLS the server refuses AUTH with 538; with a policy that lets
// the client try, that is ErrTLSRequired.
func TestTLSRequired(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	conn, err := net.Dial("tcp", ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	_, err = gosmtp.Authenticate(context.Background(), c, &gosmtp.Options{
		Credentials: &sasl.Credentials{Username: alice, Password: password},
		Policy:      &sasl.Policy{AllowInsecure: true},
	})
	// EHLO offers no AUTH before TLS: nothing to negotiate.
	if !errors.Is(err, sasl.ErrNoMechanism) && !errors.Is(err, adapters.ErrTLSRequired) {
		t.Fatalf("err = %v", err)
	}
}

func TestSCRAMFailureKeepsSync(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
	c, _, err := gosmtp.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS),
		clientOpts(ms, &sasl.Credentials{Username: alice, Password: "wrong"}))
	if !errors.Is(err, adapters.ErrRejected) || c != nil {
		t.Fatalf("err = %v", err)
	}
}
