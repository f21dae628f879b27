package oauthbearer

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

const (
	rfcUser  = "user@example.com"
	rfcHost  = "server.example.com"
	rfcToken = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
)

// RFC 7628 §4.1: the IMAP (port 143) and SMTP (port 587) initial responses,
// byte for byte, from the direct constructor and from the descriptor.
func TestRFC7628Section41(t *testing.T) {
	for _, tt := range []struct {
		port int
		file string
	}{{143, "rfc7628-4.1-imap"}, {587, "rfc7628-4.1-smtp"}} {
		t.Run(tt.file, func(t *testing.T) {
			want := mechtest.GoldenBase64(t, tt.file+".b64")
			if txt := mechtest.Golden(t, tt.file+".txt"); !bytes.Equal(want, txt) {
				t.Fatalf("RFC base64 and RFC text differ:\n%q\n%q", want, txt)
			}
			_, ir, err := NewClient(ClientOptions{Authzid: rfcUser, Token: rfcToken, Host: rfcHost, Port: tt.port}).Start()
			if err != nil || !bytes.Equal(ir, want) {
				t.Fatalf("NewClient IR\n got %q\nwant %q (%v)", ir, want, err)
			}
			if got := base64.StdEncoding.EncodeToString(ir); got != string(mechtest.Golden(t, tt.file+".b64")) {
				t.Fatalf("base64 %s", got)
			}
			c, err := Mechanism().NewClient(&sasl.ClientParams{
				Username: rfcUser,
				Token:    &oauth2.Token{AccessToken: rfcToken},
				Conn:     &sasl.ConnState{Host: rfcHost, Port: tt.port},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ir, _ := c.Start(); !bytes.Equal(ir, want) {
				t.Fatalf("descriptor IR %q", ir)
			}
			// The strict server, listening on that host and port, accepts
			// it and passes host and port to the verifier.
			v := newTable(rfcUser, rfcToken)
			s := NewServer(context.Background(), v, &ServerOptions{Host: rfcHost, Port: tt.port})
			if _, done, err := s.Next(want); !done || err != nil {
				t.Fatalf("server: %v %v", done, err)
			}
			calls := v.Calls()
			if len(calls) != 1 || calls[0].Host != rfcHost || calls[0].Port != tt.port || calls[0].Username != rfcUser || calls[0].Token != rfcToken || calls[0].Mechanism != Name {
				t.Fatalf("verifier saw %+v", calls)
			}
			// On the other port, it refuses.
			other := 143 + 587 - tt.port
			_, done, err := NewServer(context.Background(), v, &ServerOptions{Host: rfcHost, Port: other}).Next(want)
			if !done || !errors.Is(err, ErrWrongServer) || !errors.Is(err, sasl.ErrAuthFailed) {
				t.Fatalf("port %d: %v %v", other, done, err)
			}
		})
	}
}

// RFC 7628 §4.3: an empty auth= asks for the scope. The server answers with
// the RFC's challenge byte for byte; the client parses it (openid
// configuration included) and answers the RFC's dummy response.
func TestRFC7628Section43(t *testing.T) {
	ir := mechtest.GoldenBase64(t, "rfc7628-4.3-ir.b64")
	if txt := mechtest.Golden(t, "rfc7628-4.3-ir.txt"); !bytes.Equal(ir, txt) {
		t.Fatalf("RFC base64 and RFC text differ")
	}
	blob := mechtest.GoldenBase64(t, "rfc7628-4.3-error.b64")
	dummy := mechtest.GoldenBase64(t, "rfc7628-4.3-dummy.b64")
	if !bytes.Equal(dummy, []byte{1}) {
		t.Fatalf("dummy %q", dummy)
	}
	const oidc = "https://example.com/.well-known/openid-configuration"
	v := newTable(rfcUser, rfcToken)
	s := NewServer(context.Background(), v, &ServerOptions{Host: rfcHost, Port: 143, Scope: "example_scope", OpenIDConfiguration: oidc})
	ch, done, err := s.Next(ir)
	if done || err != nil || !bytes.Equal(ch, blob) {
		t.Fatalf("challenge\n got %q\nwant %q (%v %v)", ch, blob, done, err)
	}
	if len(v.Calls()) != 0 {
		t.Fatal("empty auth= reached the verifier")
	}
	_, done, err = s.Next(dummy)
	var te *sasl.TokenError
	if !done || !errors.As(err, &te) || te.Status != "invalid_token" {
		t.Fatalf("after dummy: %v %v", done, err)
	}

	c := NewClient(ClientOptions{Authzid: rfcUser, Token: "t", Host: rfcHost, Port: 143})
	c.Start()
	resp, err := c.Next(blob)
	if err != nil || !bytes.Equal(resp, dummy) {
		t.Fatalf("client answer %q %v", resp, err)
	}
	want := sasl.TokenError{Mechanism: Name, Status: "invalid_token", Scope: "example_scope", OpenIDConfiguration: oidc}
	if !errors.As(sasl.FailureOf(c), &te) || *te != want {
		t.Fatalf("recorded %#v", sasl.FailureOf(c))
	}
}

// RFC 7628 §4.4: its initial response uses "n,user=", which is not a GS2
// header; the strict server refuses it without asking the verifier. Its
// error challenge parses, and the server reproduces it byte for byte.
func TestRFC7628Section44(t *testing.T) {
	ir := mechtest.GoldenBase64(t, "rfc7628-4.4-ir.b64")
	if txt := mechtest.Golden(t, "rfc7628-4.4-ir.txt"); !bytes.Equal(ir, txt) {
		t.Fatalf("RFC base64 and RFC text differ")
	}
	v := newTable("someuser@example.com", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==")
	_, done, err := NewServer(context.Background(), v, nil).Next(ir)
	var me *sasl.MalformedError
	if !done || !errors.As(err, &me) {
		t.Fatalf("n,user= accepted: %v %v", done, err)
	}
	if len(v.Calls()) != 0 {
		t.Fatal("malformed header reached the verifier")
	}

	blob := mechtest.GoldenBase64(t, "rfc7628-4.4-error.b64")
	want := sasl.TokenError{Mechanism: Name, Status: "invalid_token", Schemes: "bearer mac", Scope: "https://mail.example.com/"}
	c := NewClient(ClientOptions{Authzid: "someuser@example.com", Token: "t"})
	c.Start()
	resp, err := c.Next(blob)
	var te *sasl.TokenError
	if err != nil || !bytes.Equal(resp, []byte{1}) || !errors.As(sasl.FailureOf(c), &te) || *te != want {
		t.Fatalf("client: %q %v %#v", resp, err, sasl.FailureOf(c))
	}

	// A verifier returning that error makes the server send that blob.
	rej := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
		return sasl.Identity{}, &sasl.TokenError{Status: "invalid_token", Schemes: "bearer mac", Scope: "https://mail.example.com/"}
	})
	_, good, _ := NewClient(ClientOptions{Authzid: "someuser@example.com", Token: "t"}).Start()
	ch, _, _ := NewServer(context.Background(), rej, nil).Next(good)
	if !bytes.Equal(ch, blob) {
		t.Fatalf("challenge\n got %q\nwant %q", ch, blob)
	}
}
