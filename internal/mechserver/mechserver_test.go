package mechserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// echo is a server whose check accepts any message as the user it names.
type echo struct{ OneMessage }

func (s *echo) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	if len(response) == 0 {
		return nil, true, sasl.Malformed("ECHO", "empty")
	}
	return s.Accept(sasl.Identity{Username: string(response)})
}

func newEcho(ready bool) *echo {
	s := &echo{}
	s.Init("echo", ready)
	return s
}

func TestOneMessage(t *testing.T) {
	// Initial response.
	s := newEcho(true)
	if ch, done, err := s.Next([]byte("fred")); ch != nil || !done || err != nil || s.State() != "done" {
		t.Fatalf("IR: %q %v %v %s", ch, done, err, s.State())
	}
	if id, ok := s.Identity(); !ok || id.Username != "fred" {
		t.Fatalf("Identity = %+v %v", id, ok)
	}
	if got := s.Describe("echo"); got != `echo.Server{state:done Username:"fred"}` {
		t.Fatal(got)
	}
	for _, r := range [][]byte{nil, {}, []byte("x")} {
		if ch, done, err := s.Next(r); ch != nil || !done || !errors.Is(err, sasl.ErrDone) || !strings.HasPrefix(err.Error(), "echo: ") {
			t.Fatalf("after done: %q %v %v", ch, done, err)
		}
	}
	// No initial response: an empty, non-nil challenge, then the message,
	// even a nil one.
	s = newEcho(true)
	if ch, done, err := s.Next(nil); ch == nil || len(ch) != 0 || done || err != nil || s.State() != "challenged" {
		t.Fatalf("Next(nil) = %q %v %v", ch, done, err)
	}
	if got := s.Describe("echo"); got != "echo.Server{state:challenged}" {
		t.Fatal(got)
	}
	if _, done, err := s.Next(nil); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("second nil: %v %v", done, err)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity after failure")
	}
	// An empty initial response is a message.
	if _, done, err := newEcho(true).Next([]byte{}); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("empty IR: %v %v", done, err)
	}
	// No verifier: refused at once, with or without a message.
	for _, r := range [][]byte{nil, []byte("fred")} {
		s := newEcho(false)
		if _, done, err := s.Next(r); !done || !errors.Is(err, sasl.ErrNoVerifier) {
			t.Fatalf("no verifier: %v %v", done, err)
		}
		if _, _, err := s.Next(r); !errors.Is(err, sasl.ErrDone) {
			t.Fatalf("no verifier, then: %v", err)
		}
	}
}

func TestVerifierError(t *testing.T) {
	down := errors.New("down")
	tests := []struct {
		in         error
		text       string
		authFailed bool
	}{
		{fmt.Errorf("wrong: %w", sasl.ErrAuthFailed), "x: wrong: sasl: authentication failed", true},
		{fmt.Errorf("nobody: %w", sasl.ErrUnknownUser), "x: sasl: authentication failed: nobody: sasl: unknown user", true},
		{down, "x: checking: down", false},
	}
	for _, tt := range tests {
		err := VerifierError("x", "checking", tt.in)
		if err.Error() != tt.text || errors.Is(err, sasl.ErrAuthFailed) != tt.authFailed || !errors.Is(err, tt.in) {
			t.Errorf("VerifierError(%v) = %v", tt.in, err)
		}
	}
}
