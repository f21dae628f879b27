package mechtest

import (
	"errors"
	"strconv"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// maxRounds is Run's bound on challenges: no built-in mechanism needs more.
const maxRounds = 10

// Options change how RunWith drives an exchange.
type Options struct {
	// WithholdIR makes the client wait for the server's first challenge
	// before it sends its initial response, as over a protocol without
	// one; the server must answer Next(nil) with an empty challenge.
	WithholdIR bool
	// MaxRounds bounds the challenges the client answers before the
	// server must decide; 0 means ten.
	MaxRounds int
}

// Exchange is what Run observed.
type Exchange struct {
	// Mechanism is the name the client's Start returned.
	Mechanism string
	// Wire holds every message in order: the initial response (nil when
	// the client sent none), then challenge and response in turn.
	Wire [][]byte
	// Rounds counts the server challenges the client answered.
	Rounds int
	// ClientErr is the error the client's Start or Next returned: a
	// protocol library would cancel the exchange.
	ClientErr error
	// ServerErr is the server's final error.
	ServerErr error
	// Done reports whether the server finished.
	Done bool
	// Fault says how the pair broke the go-sasl contract, or is nil: a
	// server error without done, a nil client response while the server
	// waits (go-smtp reads that as success), a withheld initial response
	// the server did not ask for with an empty challenge, or no verdict
	// after the last challenge allowed.
	Fault error
}

// Err returns the error that ended the exchange: the client's, else the
// server's.
func (x Exchange) Err() error {
	if x.ClientErr != nil {
		return x.ClientErr
	}
	return x.ServerErr
}

// Run drives c against s in memory, as a protocol library would carry the
// messages: the initial response inline when there is one, each challenge to
// the client and each response to the server, until the server is done or
// the client cancels. Additional data the server sends with success (SCRAM's
// v=) goes to the client too. Run reports through the Exchange only, so
// callers without a testing.TB can use it.
func Run(c sasl.Client, s sasl.Server) Exchange {
	return RunWith(c, s, Options{})
}

// RunWith is Run with options.
func RunWith(c sasl.Client, s sasl.Server, opts Options) Exchange {
	var x Exchange
	rounds := opts.MaxRounds
	if rounds <= 0 {
		rounds = maxRounds
	}
	mech, resp, err := c.Start()
	x.Mechanism = mech
	if err != nil {
		x.ClientErr = err
		return x
	}
	if opts.WithholdIR && resp != nil {
		x.Wire = append(x.Wire, nil)
		ch, done, err := s.Next(nil)
		if err != nil || done || ch == nil || len(ch) != 0 {
			x.ServerErr, x.Done = err, done
			x.Fault = errors.New("server did not answer a withheld initial response with an empty challenge")
			return x
		}
		x.Wire = append(x.Wire, ch)
	}
	for {
		x.Wire = append(x.Wire, resp)
		ch, done, err := s.Next(resp)
		if err != nil || done {
			x.ServerErr, x.Done = err, done
			switch {
			case !done:
				x.Fault = errors.New("server returned an error without done")
			case err == nil && ch != nil:
				x.Wire = append(x.Wire, ch)
				if _, err := c.Next(ch); err != nil {
					x.ClientErr = err
				}
			}
			return x
		}
		if x.Rounds == rounds {
			x.Fault = errors.New("no verdict after " + strconv.Itoa(rounds) + " challenges")
			return x
		}
		x.Wire = append(x.Wire, ch)
		resp, err = c.Next(ch)
		if err != nil {
			x.ClientErr = err
			return x
		}
		if resp == nil {
			x.Fault = errors.New("client answered nil while the server waits: go-smtp would read that as success")
			return x
		}
		x.Rounds++
	}
}

// Drive is Run for tests: it fails t when the exchange breaks the contract
// (see Exchange.Fault) or when the client's Start names another mechanism
// than mech.
func Drive(t testing.TB, mech string, c sasl.Client, s sasl.Server) Exchange {
	t.Helper()
	x := Run(c, s)
	if x.Fault != nil {
		t.Fatal(x.Fault)
	}
	if len(x.Wire) > 0 && x.Mechanism != mech {
		t.Fatalf("client Start names %q, want %q", x.Mechanism, mech)
	}
	return x
}

// Feed sends msgs to s in order until s is done, and returns its final
// error. It fails t when s returns an error without done, or is still open
// after the last message.
func Feed(t testing.TB, s sasl.Server, msgs ...[]byte) error {
	t.Helper()
	for _, msg := range msgs {
		_, done, err := s.Next(msg)
		if err != nil && !done {
			t.Fatal("error without done")
		}
		if done {
			return err
		}
	}
	t.Fatalf("exchange still open after %d messages", len(msgs))
	return nil
}

// SendOne sends msg to the server of a one-message mechanism (PLAIN,
// EXTERNAL, ANONYMOUS): as the initial response when ir is true, and
// otherwise after checking that Next(nil) answers with an empty, non-nil
// challenge. It fails t unless the server is then done, and returns its
// error.
func SendOne(t testing.TB, s sasl.Server, msg []byte, ir bool) error {
	t.Helper()
	if !ir {
		if ch, done, err := s.Next(nil); ch == nil || len(ch) != 0 || done || err != nil {
			t.Fatalf("Next(nil) = %q %v %v", ch, done, err)
		}
	}
	_, done, err := s.Next(msg)
	if !done {
		t.Fatalf("not done after the message (err %v)", err)
	}
	return err
}

// AssertDone fails t unless s answers nil, an empty response and each of
// more with no challenge, done, and an error wrapping sasl.ErrDone: a
// finished conversation accepts nothing.
func AssertDone(t testing.TB, s sasl.Server, more ...[]byte) {
	t.Helper()
	for _, r := range append([][]byte{nil, {}}, more...) {
		ch, done, err := s.Next(r)
		if !errors.Is(err, sasl.ErrDone) || !done || ch != nil {
			t.Fatalf("Next(%.20q) after done = %q, %v, %v; want ErrDone", r, ch, done, err)
		}
	}
}
