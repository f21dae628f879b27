package oauthbearer

import (
	"context"
	"errors"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// Why this package has its own server: go-sasl's OAUTHBEARER server indexes
// the answer to its error challenge without checking its length, so an
// empty answer (what an XOAUTH2-minded client sends) panics. This test pins
// that behaviour; if go-sasl fixes it, the test says so.
func TestGoSASLServerPanicsOnEmptyAnswer(t *testing.T) {
	srv := gosasl.NewOAuthBearerServer(func(gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
		return &gosasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
	})
	if _, done, err := srv.Next(validIR()); done || err != nil {
		t.Fatalf("go-sasl did not send its error challenge: %v %v", done, err)
	}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		srv.Next([]byte{})
		return false
	}()
	if !panicked {
		t.Fatal("go-sasl's server no longer panics on an empty answer; the workaround note can go")
	}

	// Ours, on the same input, fails the exchange cleanly.
	ours := NewServer(context.Background(), newTable(testUser, "another"), nil)
	ours.Next(validIR())
	_, done, err := ours.Next([]byte{})
	var te *sasl.TokenError
	if !done || !errors.As(err, &te) {
		t.Fatalf("ours: %v %v", done, err)
	}
}

// Why this package has its own client: go-sasl's returns the server's JSON
// error from Next instead of answering it with 0x01 (RFC 7628 §3.2.3), so
// the protocol library abandons the exchange in the middle; go-imap v2 then
// leaves AUTHENTICATE unfinished. Ours answers and records the error.
func TestGoSASLClientDoesNotAnswer(t *testing.T) {
	blob := mechtest.GoldenBase64(t, "rfc7628-4.4-error.b64")
	theirs := gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: testUser, Token: testToken})
	theirs.Start()
	resp, err := theirs.Next(blob)
	if resp != nil || err == nil {
		t.Fatalf("go-sasl's client now answers the error challenge (%q, %v)", resp, err)
	}

	ours := NewClient(ClientOptions{Authzid: testUser, Token: testToken})
	ours.Start()
	resp, err = ours.Next(blob)
	if err != nil || string(resp) != "\x01" || sasl.FailureOf(ours) == nil {
		t.Fatalf("ours: %q %v", resp, err)
	}
}
