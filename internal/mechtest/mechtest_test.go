package mechtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

func TestSecretsFindEveryForm(t *testing.T) {
	sec := NewSecrets("s3cr3t-token", "abc")
	if n := len(sec.Forms()); n != 7 {
		t.Fatalf("%d forms, want 7 (a secret under four bytes is ignored)", n)
	}
	for _, f := range sec.Forms() {
		if sec.Find(fmt.Sprintf("%+v", struct{ T string }{f})) != f {
			t.Fatalf("form %q not found", f)
		}
	}
	if f := sec.Find(fmt.Sprintf("%x", errors.New("bad: s3cr3t-token"))); f == "" {
		t.Fatal("hex rendering of an error not caught")
	}
	if f := sec.Find("nothing here"); f != "" {
		t.Fatalf("found %q in clean text", f)
	}
}

// scripted is a client that answers each challenge with the next response.
type scripted struct {
	ir        []byte
	responses [][]byte
}

func (c *scripted) Start() (string, []byte, error) { return "X", c.ir, nil }

func (c *scripted) Next([]byte) ([]byte, error) {
	if len(c.responses) == 0 {
		return nil, sasl.ErrUnexpectedChallenge
	}
	r := c.responses[0]
	c.responses = c.responses[1:]
	return r, nil
}

// echo is a server that challenges rounds times, then succeeds.
type echo struct{ rounds int }

func (s *echo) Next([]byte) ([]byte, bool, error) {
	if s.rounds == 0 {
		return nil, true, nil
	}
	s.rounds--
	return []byte("more"), false, nil
}

func TestRun(t *testing.T) {
	x := Run(&scripted{ir: []byte("ir"), responses: [][]byte{{}, []byte("two")}}, &echo{rounds: 2})
	if x.Fault != nil || x.Err() != nil || !x.Done || x.Rounds != 2 || len(x.Wire) != 5 || x.Mechanism != "X" {
		t.Fatalf("%+v", x)
	}
	x = RunWith(&scripted{ir: []byte("ir"), responses: [][]byte{{}}}, &echo{rounds: 2}, Options{WithholdIR: true})
	if x.Fault == nil || x.Done {
		t.Fatalf("a challenge other than empty to a withheld initial response: %+v", x)
	}
	x = RunWith(&scripted{ir: []byte("ir"), responses: [][]byte{{}}}, &echo{rounds: 1}, Options{MaxRounds: 1})
	if x.Fault != nil || !x.Done || x.Rounds != 1 {
		t.Fatalf("one round: %+v", x)
	}
	x = Run(&scripted{responses: [][]byte{nil}}, &echo{rounds: 1})
	if x.Fault == nil {
		t.Fatal("nil response not reported")
	}
	x = Run(&scripted{}, &echo{rounds: 1})
	if !errors.Is(x.Err(), sasl.ErrUnexpectedChallenge) || x.Fault != nil {
		t.Fatalf("client error: %+v", x)
	}
	many := make([][]byte, 20)
	for i := range many {
		many[i] = []byte{}
	}
	x = Run(&scripted{responses: many}, &echo{rounds: 20})
	if x.Fault == nil || x.Rounds != maxRounds {
		t.Fatal("endless exchange not reported")
	}
}
