package oauthbearer

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

func addVectorSeeds(f *testing.F, add func(b []byte)) {
	for _, name := range []string{"rfc7628-4.1-imap.b64", "rfc7628-4.1-smtp.b64", "rfc7628-4.3-ir.b64", "rfc7628-4.4-ir.b64",
		"rfc7628-4.3-error.b64", "rfc7628-4.4-error.b64", "rfc7628-4.3-dummy.b64"} {
		add(mechtest.GoldenBase64(f, name))
	}
}

// FuzzServerNext feeds the server an initial response and a second message.
// Invariants: no panic; an error always ends the exchange; once done, Next
// fails with ErrDone; success only when the verifier accepted exactly the
// expected identity and token, and that token was on the wire.
func FuzzServerNext(f *testing.F) {
	addVectorSeeds(f, func(b []byte) { f.Add(b, []byte{1}) })
	f.Add([]byte{}, validIR())
	f.Add(validIR(), []byte{})
	f.Add([]byte("y,a=a=2Cb,\x01x=\x01auth=bearer  "+testToken+"\x01\x01"), []byte("\x01garbage"))
	f.Add([]byte("p=tls-exporter,,\x01auth=Bearer x\x01\x01"), []byte{})
	f.Add([]byte("n,,\x01port=65536\x01auth=Bearer x\x01\x01"), []byte{})

	f.Fuzz(func(t *testing.T, first, second []byte) {
		v := newTable(testUser, testToken)
		s := NewServer(context.Background(), v, &ServerOptions{Host: rfcHost, Port: 143, MaxSize: 4096})
		err := mechtest.Feed(t, s, first, second, []byte{})
		id, ok := s.Identity()
		if ok != (err == nil) {
			t.Fatalf("identity ok=%v with err=%v", ok, err)
		}
		if err == nil {
			calls := v.Calls()
			if len(calls) != 1 || calls[0].Token != testToken || calls[0].Username != testUser || id.Username != testUser {
				t.Fatalf("success without the verifier accepting the token: %+v", calls)
			}
			if calls[0].Host != "" && calls[0].Host != rfcHost && !bytes.EqualFold([]byte(calls[0].Host), []byte(rfcHost)) {
				t.Fatal("success with a foreign host")
			}
			if calls[0].Port != 0 && calls[0].Port != 143 {
				t.Fatal("success with a foreign port")
			}
			if !bytes.Contains(first, []byte(testToken)) && !bytes.Contains(second, []byte(testToken)) {
				t.Fatal("success without the token on the wire")
			}
		}
		mechtest.AssertDone(t, s, first)
	})
}

// FuzzClientNext feeds the client a challenge after its initial response.
// Invariants: no panic; either the challenge is a JSON error, answered with
// exactly 0x01 and recorded, or the client cancels with a malformed error and
// records nothing; any later challenge cancels.
func FuzzClientNext(f *testing.F) {
	addVectorSeeds(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"status":401}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, challenge []byte) {
		c := NewClient(ClientOptions{Authzid: testUser, Token: testToken})
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next(challenge)
		if err == nil {
			if !bytes.Equal(resp, []byte{1}) {
				t.Fatalf("answer %q", resp)
			}
			var te *sasl.TokenError
			if !errors.As(sasl.FailureOf(c), &te) || te.Mechanism != Name {
				t.Fatal("answered without recording the failure")
			}
		} else if resp != nil || !errors.Is(err, sasl.ErrMalformed) || sasl.FailureOf(c) != nil {
			t.Fatalf("cancel: %q %v %v", resp, err, sasl.FailureOf(c))
		}
		if resp, err := c.Next(challenge); err == nil || resp != nil {
			t.Fatal("second challenge accepted")
		}
	})
}

// FuzzGS2Header checks the GS2 header parser: no panic; an accepted header
// starts with n, or y,; its authzid has no control characters; and
// re-encoding the authzid gives back the header's bytes.
func FuzzGS2Header(f *testing.F) {
	addVectorSeeds(f, func(b []byte) { f.Add(b) })
	for _, s := range []string{"n,,", "y,a=x,", "n,a=a=2Cb=3D,", "n,a=a=2X,", "p=x,,", "n,user=a,", "n,a=,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		authzid, rest, err := parseGS2Header(msg)
		if err != nil {
			if !errors.Is(err, sasl.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if !validName(authzid) {
			t.Fatal("authzid with a control character or invalid UTF-8 accepted")
		}
		header := "n,,"
		if authzid != "" {
			header = "n,a=" + escapeSASLName(authzid) + ","
		}
		header = string(msg[0]) + header[1:]
		if !bytes.Equal(append([]byte(header), rest...), msg) {
			t.Fatalf("%q parsed as %q + %q", msg, authzid, rest)
		}
	})
}
