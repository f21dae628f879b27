package mechtest

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// NewServerFunc creates the server conversation for one authentication on a
// loopback server. ctx is the test's context. conn describes the
// connection: Host and Port are the listener's, TLS is set on a TLS
// connection, RemoteAddr is the client's.
type NewServerFunc func(ctx context.Context, conn *sasl.ConnState) sasl.ServerConversation

// outcomeTimeout bounds Outcome's wait.
const outcomeTimeout = 10 * time.Second

// results records what the authentications on a loopback server came to.
type results struct {
	mu       sync.Mutex
	ids      []sasl.Identity
	outcomes chan error // buffered; a full buffer drops outcomes
}

func newResults() results { return results{outcomes: make(chan error, 64)} }

func (r *results) finish(id sasl.Identity, err error) {
	if err == nil {
		r.mu.Lock()
		r.ids = append(r.ids, id)
		r.mu.Unlock()
	}
	select {
	case r.outcomes <- err:
	default:
	}
}

// Identities returns the identities of the successful authentications so
// far, in order.
func (r *results) Identities() []sasl.Identity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sasl.Identity(nil), r.ids...)
}

// Outcome waits for the next authentication to finish and returns the
// conversation's error (nil for a success), as it was before the server
// mapped it to a protocol reply. Outcomes are returned in order; the server
// records them before it answers the client.
func (r *results) Outcome(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.outcomes:
		return err
	case <-time.After(outcomeTimeout):
		t.Fatal("no authentication finished")
		return nil
	}
}

// conversation runs a saslkit server conversation inside a protocol server:
// it records the outcome, calls onOK on success, and hands the protocol
// server the error mapErr makes of a failure.
type conversation struct {
	conv   sasl.ServerConversation
	res    *results
	mapErr func(error) error
	onOK   func(sasl.Identity)
}

func (c *conversation) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := c.conv.Next(resp)
	switch {
	case err != nil:
		c.res.finish(sasl.Identity{}, err)
		return nil, true, c.mapErr(err)
	case done:
		id, _ := c.conv.Identity()
		c.onOK(id)
		c.res.finish(id, nil)
	}
	return ch, done, nil
}

// listen opens a loopback listener, speaking TLS when cfg is set.
func listen(t testing.TB, cfg *tls.Config) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// connState describes a server's connection c accepted on ln.
func connState(ln net.Listener, c net.Conn, st *tls.ConnectionState) *sasl.ConnState {
	cs := &sasl.ConnState{TLS: st}
	if h, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		cs.Host = h
		cs.Port, _ = strconv.Atoi(p)
	}
	if c != nil {
		cs.RemoteAddr = c.RemoteAddr()
	}
	return cs
}

// serve runs serve(ln) until the test ends.
func serve(t testing.TB, ln net.Listener, serve func(net.Listener) error, closeServer func() error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ln)
	}()
	t.Cleanup(func() {
		_ = closeServer()
		<-done
	})
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
