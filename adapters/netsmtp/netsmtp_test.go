package netsmtp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/netsmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// connect opens a net/smtp client to the server in mode, over TLS.
func connect(t *testing.T, ms *sasltest.MailServer, mode sasltest.TLSMode) *smtp.Client {
	t.Helper()
	addr := ms.Addr(sasltest.ProtocolSMTP, mode)
	var conn net.Conn
	var err error
	if mode == sasltest.ImplicitTLS {
		conn, err = tls.Dial("tcp", addr, ms.ClientTLSConfig())
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if mode == sasltest.StartTLS {
		if err := c.StartTLS(ms.ClientTLSConfig()); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestTokenSuccessOneRoundTrip(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 0)
		c := connect(t, ms, mode)
		n, err := netsmtp.Authenticate(context.Background(), c, &netsmtp.Options{Credentials: creds, Host: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		want := "OAUTHBEARER"
		if p == sasltest.ProfileMicrosoft {
			want = "XOAUTH2"
		}
		if n.Mechanism.Name != want {
			t.Fatalf("mechanism %s, want %s", n.Mechanism.Name, want)
		}
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
		if got := adaptertest.SMTPLinesPerAuth(adaptertest.LastTranscript(t, ms, sasltest.ProtocolSMTP)); len(got) != 1 || got[0] != 1 {
			t.Fatalf("client lines per AUTH %v, want [1]", got)
		}
		if f.Fetches.Load() != 1 {
			t.Fatalf("fetches %d", f.Fetches.Load())
		}
	})
}

// A rejected token fails this connection (net/smtp quits) and is
// invalidated: the next connection authenticates with a fresh one.
func TestRejectedTokenThenRefresh(t *testing.T) {
	adaptertest.ForEach(t, func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode) {
		ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
		creds, f := adaptertest.TokenCreds(ms, 1)
		opts := &netsmtp.Options{Credentials: creds}
		_, err := netsmtp.Authenticate(context.Background(), connect(t, ms, mode), opts)
		if !errors.Is(err, adapters.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
		var te *sasl.TokenError
		if gotTE := errors.As(err, &te); gotTE == (p == sasltest.ProfileMicrosoft) {
			t.Fatalf("TokenError %v for %v: %v", gotTE, p, err)
		}
		if _, err := netsmtp.Authenticate(context.Background(), connect(t, ms, mode), opts); err != nil {
			t.Fatalf("second connection: %v", err)
		}
		if f.Fetches.Load() != 2 {
			t.Fatalf("fetches %d", f.Fetches.Load())
		}
		if st := ms.AuthStats(sasltest.ProtocolSMTP, ""); st.Attempts != 2 || st.Rejected != 1 || st.Succeeded != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestTemporary(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolSMTP})
	creds, _ := adaptertest.TokenCreds(ms, 0)
	_, err := netsmtp.Authenticate(context.Background(), connect(t, ms, sasltest.ImplicitTLS), &netsmtp.Options{Credentials: creds})
	if !errors.Is(err, adapters.ErrTemporary) {
		t.Fatalf("err = %v", err)
	}
}

func TestMechanismMismatch(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	_, err := netsmtp.Authenticate(context.Background(), connect(t, ms, sasltest.ImplicitTLS),
		&netsmtp.Options{Credentials: &sasl.Credentials{Username: alice, Password: password}})
	if !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("err = %v", err)
	}
}

func TestPasswordSCRAM(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
	n, err := netsmtp.Authenticate(context.Background(), connect(t, ms, sasltest.ImplicitTLS),
		&netsmtp.Options{Credentials: &sasl.Credentials{Username: alice, Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.Mechanism.Name, "SCRAM-") {
		t.Fatalf("mechanism %s", n.Mechanism.Name)
	}
}

// net/smtp's rule: no secret without TLS unless the server is localhost.
func TestPlaintextRefused(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{AllowInsecureAuth: true})
	conn, err := net.Dial("tcp", ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	creds, _ := adaptertest.TokenCreds(ms, 0)
	creds.Password = password
	_, err = netsmtp.Authenticate(context.Background(), c, &netsmtp.Options{Credentials: creds})
	if !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Fatalf("err = %v", err)
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

func TestWrongHost(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	creds, _ := adaptertest.TokenCreds(ms, 0)
	_, err := netsmtp.Authenticate(context.Background(), connect(t, ms, sasltest.ImplicitTLS), &netsmtp.Options{Credentials: creds, Host: "smtp.example.test"})
	if err == nil || !strings.HasPrefix(err.Error(), "netsmtp: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthFormat(t *testing.T) {
	a, err := netsmtp.NewAuth(context.Background(), &netsmtp.Options{Credentials: &sasl.Credentials{Username: "u", Password: "hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if s := fmt.Sprintf(verb, a); strings.Contains(s, "hunter2") {
			t.Fatalf("%s: %s", verb, s)
		}
	}
}
