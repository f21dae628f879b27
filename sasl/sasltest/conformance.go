package sasltest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// TB is the part of testing.TB the conformance checks use. *testing.T and
// *testing.B satisfy it; a check reports every violation with Errorf and
// returns, so a caller can also collect violations with a type of its own.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// MechanismCheck describes a mechanism to run through CheckMechanism.
type MechanismCheck struct {
	// Mechanism is the descriptor under test. It needs both NewClient and
	// NewServer.
	Mechanism sasl.Mechanism
	// Verifiers are what the server checks against. Good must pass them
	// and Bad must not.
	Verifiers *sasl.Verifiers
	// Good are credentials the verifiers accept.
	Good *sasl.Credentials
	// Bad are credentials the verifiers reject (a wrong password, a revoked
	// token). Nil skips the rejection checks, for mechanisms such as
	// ANONYMOUS where nothing can be wrong.
	Bad *sasl.Credentials
	// ClientConn and ServerConn describe the two ends of the connection;
	// nil means a loopback peer without TLS. Mechanisms that need TLS
	// (-PLUS, EXTERNAL) need both.
	ClientConn, ServerConn *sasl.ConnState
	// Policy is used to create clients; nil allows everything, including
	// sending secrets over the test's loopback connection.
	Policy *sasl.Policy
	// MaxSteps bounds a conversation; zero means 16.
	MaxSteps int
}

// CheckMechanism runs a mechanism through the contract every saslkit
// mechanism keeps, reporting each violation to t:
//
//   - the client authenticates against the server with Good credentials, and
//     the server's Identity names the mechanism;
//   - Bad credentials fail with an error wrapping sasl.ErrAuthFailed, no
//     Identity is reported, and when the server sent a failure challenge the
//     client answered it (a response, not an error) and recorded why
//     (sasl.FailureOf);
//   - the server handles a client that withholds its initial response (Next
//     with nil first) and still authenticates it;
//   - after the server is done, it accepts nothing more (sasl.ErrDone);
//   - no panic and no success on hostile input: empty and oversized
//     messages, NULs, control bytes, invalid UTF-8, random bytes, and
//     truncated copies of the real messages, to both server and client;
//   - no secret of Good or Bad (raw, base64) appears in any error or in any
//     formatting of the client, the server or the errors.
func CheckMechanism(t TB, c MechanismCheck) {
	t.Helper()
	m := c.Mechanism
	if m.NewClient == nil || m.NewServer == nil {
		t.Errorf("%s: CheckMechanism needs a client and a server factory", m.Name)
		return
	}
	reg := sasl.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Errorf("%s: %v", m.Name, err)
		return
	}
	if c.Policy == nil {
		c.Policy = &sasl.Policy{AllowInsecure: true, Allow: []string{m.Name}}
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = 16
	}
	if c.ClientConn == nil {
		c.ClientConn = &sasl.ConnState{Host: "localhost"}
	}
	if c.ServerConn == nil {
		c.ServerConn = &sasl.ConnState{Host: "localhost"}
	}
	ck := &mechChecker{t: t, c: c, reg: reg, secrets: secretsOf(c.Good, c.Bad)}
	msgs := ck.good(false)
	ck.good(true)
	if c.Bad != nil {
		ck.bad()
	}
	ck.hostileServer(msgs)
	ck.hostileClient()
}

type mechChecker struct {
	t       TB
	c       MechanismCheck
	reg     *sasl.Registry
	secrets []string
}

// run drives one conversation and returns the server's verdict and every
// client message sent. withhold makes the client wait for the server's
// first challenge before sending its initial response.
func (k *mechChecker) run(creds *sasl.Credentials, withhold bool) (cl sasl.Client, srv sasl.ServerConversation, sent [][]byte, err error) {
	ctx := context.Background()
	n, err := k.reg.NewClient(ctx, k.c.Mechanism.Name, creds, k.c.ClientConn, k.c.Policy)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("NewClient: %w", err)
	}
	cl = n.Client
	srv, err = k.reg.NewServer(ctx, k.c.Mechanism.Name, k.c.Verifiers, k.c.ServerConn)
	if err != nil {
		return cl, nil, nil, fmt.Errorf("NewServer: %w", err)
	}
	mech, resp, err := safeStart(cl)
	if err != nil {
		return cl, srv, nil, fmt.Errorf("client Start: %w", err)
	}
	if mech != k.c.Mechanism.Name {
		k.t.Errorf("%s: client Start names %q", k.c.Mechanism.Name, mech)
	}
	if withhold && resp != nil {
		ch, done, err := safeNext(srv, nil)
		if err != nil || done {
			return cl, srv, nil, fmt.Errorf("server refused a withheld initial response: done=%v err=%w", done, err)
		}
		if len(ch) != 0 {
			return cl, srv, nil, fmt.Errorf("server answered a withheld initial response with a non-empty challenge")
		}
	}
	for step := 0; step < k.c.MaxSteps; step++ {
		sent = append(sent, bytes.Clone(resp))
		ch, done, err := safeNext(srv, resp)
		if err != nil {
			return cl, srv, sent, err
		}
		if done {
			if ch != nil {
				if _, err := safeClientNext(cl, ch); err != nil {
					return cl, srv, sent, fmt.Errorf("client rejected the server's final data: %w", err)
				}
			}
			return cl, srv, sent, nil
		}
		resp, err = safeClientNext(cl, ch)
		if err != nil {
			return cl, srv, sent, fmt.Errorf("client Next: %w", err)
		}
		if resp == nil {
			return cl, srv, sent, errors.New("client Next returned a nil response while the server waits (go-smtp would report success)")
		}
	}
	return cl, srv, sent, fmt.Errorf("no verdict after %d steps", k.c.MaxSteps)
}

func (k *mechChecker) good(withhold bool) [][]byte {
	name := k.c.Mechanism.Name
	cl, srv, sent, err := k.run(k.c.Good, withhold)
	if err != nil {
		k.t.Errorf("%s (withheld IR %v): good credentials failed: %v", name, withhold, err)
		return sent
	}
	id, ok := srv.Identity()
	if !ok || id.Mechanism != name {
		k.t.Errorf("%s: Identity after success = %+v, %v", name, id, ok)
	}
	if _, _, err := safeNext(srv, []byte("again")); !errors.Is(err, sasl.ErrDone) {
		k.t.Errorf("%s: Next after success returned %v, want an error wrapping sasl.ErrDone", name, err)
	}
	k.noSecrets("success", nil, cl, srv)
	return sent
}

func (k *mechChecker) bad() {
	name := k.c.Mechanism.Name
	cl, srv, _, err := k.run(k.c.Bad, false)
	if cl == nil || srv == nil {
		// A client that refuses bad credentials up front is fine.
		k.noSecrets("bad credentials", err)
		return
	}
	if err == nil {
		k.t.Errorf("%s: bad credentials authenticated", name)
	} else if !errors.Is(err, sasl.ErrAuthFailed) {
		k.t.Errorf("%s: bad credentials failed with %v, which does not wrap sasl.ErrAuthFailed", name, err)
	}
	if id, ok := srv.Identity(); ok {
		k.t.Errorf("%s: Identity reported after failure: %+v", name, id)
	}
	if _, _, err := safeNext(srv, []byte("again")); !errors.Is(err, sasl.ErrDone) {
		k.t.Errorf("%s: Next after failure returned %v, want an error wrapping sasl.ErrDone", name, err)
	}
	if k.c.Mechanism.Needs&sasl.NeedToken != 0 {
		var te *sasl.TokenError
		if f := sasl.FailureOf(cl); f != nil && !errors.As(f, &te) {
			k.t.Errorf("%s: recorded failure %v is not a *sasl.TokenError", name, f)
		}
	}
	k.noSecrets("bad credentials", err, cl, srv)
}

// hostile returns the inputs every parser must survive, plus truncations
// and corruptions of the real messages seen.
func hostile(real [][]byte) [][]byte {
	in := [][]byte{
		nil, {}, {0}, {1}, {1, 1}, []byte("="), []byte("*"), []byte(","), []byte("n,,"),
		[]byte("\x00\x00\x00"), []byte("\xff\xfe\xfd"), []byte("user=\x01auth=\x01\x01"),
		[]byte("n,a=,\x01auth=Bearer \x01\x01"), []byte("c=biws,r=,p="), []byte("e=other-error"),
		bytes.Repeat([]byte("A"), 1<<20), bytes.Repeat([]byte{0}, 4096),
		bytes.Repeat([]byte{1}, 4096), []byte("{\"status\":"),
	}
	seed := uint32(2463534242)
	for i := 0; i < 32; i++ {
		b := make([]byte, 1+i*7)
		for j := range b {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			b[j] = byte(seed)
		}
		in = append(in, b)
	}
	for _, r := range real {
		for _, cut := range []int{1, len(r) / 2, len(r) - 1} {
			if cut > 0 && cut < len(r) {
				in = append(in, bytes.Clone(r[:cut]))
			}
		}
		if len(r) > 0 {
			flipped := bytes.Clone(r)
			flipped[len(flipped)/2] ^= 0x01
			in = append(in, flipped)
		}
	}
	return in
}

func (k *mechChecker) hostileServer(real [][]byte) {
	name := k.c.Mechanism.Name
	// Only mechanisms whose message carries no credential may accept
	// arbitrary input: ANONYMOUS (a trace) and EXTERNAL (an authzid the
	// verifier judges against the transport's identity).
	anyInput := k.c.Mechanism.Properties.Has(sasl.Anonymous) || k.c.Mechanism.Needs&sasl.NeedExternal != 0
	for i, first := range hostile(real) {
		srv, err := k.reg.NewServer(context.Background(), name, k.c.Verifiers, k.c.ServerConn)
		if err != nil {
			k.t.Errorf("%s: NewServer: %v", name, err)
			return
		}
		resp := first
		for step := 0; step < k.c.MaxSteps; step++ {
			_, done, err := safeNext(srv, resp)
			var p *panicError
			if errors.As(err, &p) {
				k.t.Errorf("%s: server panicked on hostile input #%d: %v", name, i, p.v)
				break
			}
			if done || err != nil {
				if err == nil && !anyInput {
					k.t.Errorf("%s: server accepted hostile input #%d (%d bytes)", name, i, len(first))
				}
				k.noSecrets("hostile server input", err, srv)
				break
			}
			// Keep feeding the same hostile message to later steps too.
			resp = hostile(nil)[(i+step)%8+1]
		}
	}
}

func (k *mechChecker) hostileClient() {
	name := k.c.Mechanism.Name
	for i, ch := range hostile(nil) {
		n, err := k.reg.NewClient(context.Background(), name, k.c.Good, k.c.ClientConn, k.c.Policy)
		if err != nil {
			k.t.Errorf("%s: NewClient: %v", name, err)
			return
		}
		if _, _, err := safeStart(n.Client); err != nil {
			continue
		}
		for step := 0; step < 3; step++ {
			_, err := safeClientNext(n.Client, ch)
			var p *panicError
			if errors.As(err, &p) {
				k.t.Errorf("%s: client panicked on hostile challenge #%d: %v", name, i, p.v)
				break
			}
			if err != nil {
				k.noSecrets("hostile challenge", err, n.Client)
				break
			}
		}
	}
}

func (k *mechChecker) noSecrets(what string, err error, values ...any) {
	k.t.Helper()
	if leak := findSecret(k.secrets, err, values...); leak != "" {
		k.t.Errorf("%s: %s: a secret is visible: %s", k.c.Mechanism.Name, what, leak)
	}
}

// secretsOf lists the secrets of the credentials, with the token fetched.
func secretsOf(creds ...*sasl.Credentials) []string {
	var out []string
	for _, c := range creds {
		if c == nil {
			continue
		}
		if c.Password != "" {
			out = append(out, c.Password)
		}
		if c.TokenSource != nil {
			if tok, err := c.TokenSource.Token(context.Background()); err == nil && tok != nil {
				if tok.AccessToken != "" {
					out = append(out, tok.AccessToken)
				}
				if tok.RefreshToken != "" {
					out = append(out, tok.RefreshToken)
				}
			}
		}
	}
	return out
}

// findSecret describes where a secret (raw or base64) shows in err or in any
// formatting of values, or returns "".
func findSecret(secrets []string, err error, values ...any) string {
	var texts []string
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	for _, v := range values {
		if v == nil {
			continue
		}
		if cl, ok := v.(sasl.Client); ok {
			if f := sasl.FailureOf(cl); f != nil {
				texts = append(texts, f.Error(), fmt.Sprintf("%#v", f))
			}
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
	}
	for _, s := range secrets {
		if len(s) < 4 {
			continue // too short to search for meaningfully
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
			for _, text := range texts {
				if strings.Contains(text, form) {
					return fmt.Sprintf("%q in %q", form, text)
				}
			}
		}
	}
	return ""
}

// panicError is a recovered panic, reported as an error.
type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }

func safeStart(c sasl.Client) (mech string, ir []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v}
		}
	}()
	return c.Start()
}

func safeClientNext(c sasl.Client, ch []byte) (resp []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v}
		}
	}()
	return c.Next(ch)
}

func safeNext(s sasl.Server, resp []byte) (ch []byte, done bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v}
		}
	}()
	return s.Next(resp)
}

// TokenSourceCheck configures CheckTokenSource.
type TokenSourceCheck struct {
	// Concurrency is how many goroutines call Token at once; zero means 64.
	Concurrency int
	// HangGuard bounds how long a call with a cancelled context may block
	// before the check calls it a hang; zero means 10 s. It guards against
	// a source that ignores its context, and is not a performance bound.
	HangGuard time.Duration
	// Now is the clock expiry is judged by; nil means time.Now.
	Now func() time.Time
	// Secrets are strings that must never appear in errors or in the
	// source's formatting, besides the tokens the source returns.
	Secrets []string
}

// CheckTokenSource runs a token source through the contract every
// sasl.TokenSource keeps, reporting each violation to t:
//
//   - Token returns a non-empty access token that is not expired;
//   - it is safe for concurrent use: many goroutines get valid tokens (run
//     the test with -race to catch data races);
//   - a cancelled context is honoured: the call returns promptly, either
//     with a valid token it already held or with an error matching the
//     context's error;
//   - neither the source's formatting nor its errors show a token.
func CheckTokenSource(t TB, src sasl.TokenSource, opts *TokenSourceCheck) {
	t.Helper()
	if opts == nil {
		opts = &TokenSourceCheck{}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	n := opts.Concurrency
	if n == 0 {
		n = 64
	}
	guard := opts.HangGuard
	if guard == 0 {
		guard = 10 * time.Second
	}
	ctx := context.Background()
	tok, err := src.Token(ctx)
	if err != nil {
		t.Errorf("token source: Token: %v", err)
		return
	}
	if tok == nil {
		t.Errorf("token source: Token returned a nil token and no error")
		return
	}
	if tok.AccessToken == "" {
		t.Errorf("token source: empty access token")
	}
	if !tok.Expiry.IsZero() && !tok.Expiry.After(now()) {
		t.Errorf("token source: returned a token that expired at %v", tok.Expiry)
	}
	secrets := append([]string{tok.AccessToken, tok.RefreshToken}, opts.Secrets...)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := src.Token(ctx)
			switch {
			case err != nil:
				errs <- err
			case tk == nil || tk.AccessToken == "":
				errs <- errors.New("empty token")
			case !tk.Expiry.IsZero() && !tk.Expiry.After(now()):
				errs <- fmt.Errorf("expired token (expiry %v)", tk.Expiry)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("token source: concurrent Token: %v", err)
		if leak := findSecret(secrets, err); leak != "" {
			t.Errorf("token source: a secret is visible in an error: %s", leak)
		}
	}

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		tk, err := src.Token(cctx)
		done <- result{ok: err == nil && tk != nil && tk.AccessToken != "", err: err}
	}()
	select {
	case r := <-done:
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			t.Errorf("token source: with a cancelled context, got %v, want a valid token or an error matching context.Canceled", r.err)
		}
		if r.err == nil && !r.ok {
			t.Errorf("token source: with a cancelled context, returned neither a token nor an error")
		}
	case <-time.After(guard):
		t.Errorf("token source: ignores a cancelled context (still blocked after %v)", guard)
	}
	if leak := findSecret(secrets, nil, src); leak != "" {
		t.Errorf("token source: a secret is visible in its formatting: %s", leak)
	}
}
