package bearer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// toy is a bearer mechanism whose message is the token itself; "bad" is
// refused while reading with status 400, and its challenge is the status.
type toy struct {
	Server
	challenge bool
}

func newToy(v sasl.TokenVerifier, challenge bool) *toy {
	s := &toy{challenge: challenge}
	s.Init(context.Background(), "TOY", v)
	return s
}

func (s *toy) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	req, err := s.read(response)
	return s.Finish(req, err, s.encode)
}

func (s *toy) read(msg []byte) (sasl.TokenRequest, error) {
	if string(msg) == "bad" {
		return sasl.TokenRequest{}, &sasl.TokenError{Status: "400"}
	}
	return sasl.TokenRequest{Username: "u", Token: string(msg)}, nil
}

func (s *toy) encode(te *sasl.TokenError) []byte {
	if te.Status == "" {
		te.Status = "401"
	}
	if !s.challenge {
		return nil
	}
	return []byte(te.Status)
}

var verifier = sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
	switch req.Token {
	case "good":
		return sasl.Identity{}, nil
	case "down":
		return sasl.Identity{}, errors.New("down")
	}
	return sasl.Identity{}, fmt.Errorf("wrapped: %w", &sasl.TokenError{Scope: "s"})
})

func TestServer(t *testing.T) {
	s := newToy(verifier, true)
	if ch, done, err := s.Next(nil); ch != nil || done || err != nil {
		t.Fatalf("no IR: %q %v %v", ch, done, err)
	}
	if _, done, err := s.Next([]byte("good")); !done || err != nil {
		t.Fatalf("message: %v %v", done, err)
	}
	if id, ok := s.Identity(); !ok || id != (sasl.Identity{Mechanism: "TOY", Username: "u"}) {
		t.Fatalf("Identity = %+v %v", id, ok)
	}
	if _, _, err := s.Next([]byte("good")); !errors.Is(err, sasl.ErrDone) || err.Error() != "toy: sasl: exchange already finished" {
		t.Fatalf("after done: %v", err)
	}
	if got := fmt.Sprint(s); got != "toy.Server{State:done Authenticated:true}" {
		t.Fatal(got)
	}

	for _, msg := range []string{"bad", "other"} {
		s := newToy(verifier, true)
		ch, done, err := s.Next([]byte(msg))
		if done || err != nil || len(ch) == 0 {
			t.Fatalf("%s: %q %v %v", msg, ch, done, err)
		}
		_, done, err = s.Next(nil)
		var te *sasl.TokenError
		if !done || !errors.As(err, &te) || te.Mechanism != "TOY" || te.Status != string(ch) {
			t.Fatalf("%s, answered: %v %v", msg, done, err)
		}
		if _, ok := s.Identity(); ok {
			t.Fatal("identity after rejection")
		}
	}

	s = newToy(verifier, false)
	if ch, done, err := s.Next([]byte("other")); ch != nil || !done || !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("no challenge: %q %v %v", ch, done, err)
	}
	if _, done, err := newToy(verifier, true).Next([]byte("down")); !done || err == nil || errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("verifier down: %v %v", done, err)
	}
	if _, done, err := newToy(nil, true).Next([]byte("good")); !done || !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("no verifier: %v %v", done, err)
	}
	s = newToy(verifier, true)
	s.Next([]byte{})
	if _, done, err := s.Next([]byte{}); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("two empty responses: %v %v", done, err)
	}
	anon := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) { return sasl.Identity{}, nil })
	s = newToy(anon, true)
	//lint:ignore SA1012 a nil context means context.Background()
	s.Init(nil, "TOY", anon)
	if _, _, err := s.Finish(sasl.TokenRequest{Token: "t"}, nil, nil); err == nil {
		t.Fatal("accepted a token without a user")
	}
}

func TestClientState(t *testing.T) {
	var c ClientState
	if err := c.Take("TOY", 10, []byte(`{}`)); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
		t.Fatalf("before Sent: %v", err)
	}
	c.Sent()
	if err := c.Take("TOY", 10, []byte(`{"status":"401","scope":"s"}`)); !errors.Is(err, sasl.ErrMalformed) || c.Failure() != nil {
		t.Fatalf("too long: %v", err)
	}
	c.Sent()
	if err := c.Take("TOY", 100, []byte(`{"status":"401","scope":"s"}`)); err != nil {
		t.Fatal(err)
	}
	var te *sasl.TokenError
	if !errors.As(c.Failure(), &te) || *te != (sasl.TokenError{Mechanism: "TOY", Status: "401", Scope: "s"}) {
		t.Fatalf("Failure = %v", c.Failure())
	}
	if err := c.Take("TOY", 100, []byte(`{"status":"401"}`)); !errors.Is(err, sasl.ErrUnexpectedChallenge) || err.Error()[:5] != "toy: " {
		t.Fatalf("second: %v", err)
	}
	c.Sent()
	if c.Failure() != nil {
		t.Fatal("failure survived Sent")
	}
	if err := c.Take("TOY", 100, []byte("null")); !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("not JSON: %v", err)
	}
}
