package anonymous

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// admit records traces and admits everybody unless told otherwise.
type admit struct {
	traces []string
	err    error
}

func (a *admit) VerifyAnonymous(_ context.Context, trace string) error {
	a.traces = append(a.traces, trace)
	return a.err
}

func TestTranscripts(t *testing.T) {
	for file, trace := range map[string]string{"empty-ir.txt": "", "email-noir.txt": "fred@example.com"} {
		t.Run(file, func(t *testing.T) {
			steps := mechtest.ReadTranscript(t, file)
			mechtest.ReplayClient(t, NewClient(trace), steps)
			mechtest.ReplayClient(t, gosasl.NewAnonymousClient(trace), steps)
			a := &admit{}
			s := NewServer(context.Background(), a)
			if err := mechtest.ReplayServer(t, s, steps); err != nil {
				t.Fatal(err)
			}
			if len(a.traces) != 1 || a.traces[0] != trace {
				t.Fatalf("traces %q", a.traces)
			}
			if id, ok := s.Identity(); !ok || id != (sasl.Identity{Mechanism: Name, Username: "anonymous"}) {
				t.Fatalf("Identity = %+v %v", id, ok)
			}
		})
	}
}

func TestTraceLimits(t *testing.T) {
	ok := []string{
		"",
		"fred@example.com",
		"sirhc",
		strings.Repeat("a", MaxTraceChars),
		strings.Repeat("é", MaxTraceChars), // 510 octets
		strings.Repeat("\U0001F600", MaxTraceChars), // 1020 octets
		"\uFFFD",
	}
	bad := []string{
		strings.Repeat("a", MaxTraceChars+1),
		strings.Repeat("é", MaxTraceChars+1),
		strings.Repeat("\U0001F600", MaxTraceChars+1),
		strings.Repeat("a", 1<<20),
		"a\x00b",
		"line\r\nbreak",
		"tab\there",
		"del\x7f",
		"c1\u0085",
		"\xff",
		"\xed\xa0\x80", // surrogate
		"trunc\xe2\x82",
	}
	for _, tr := range ok {
		a := &admit{}
		if _, done, err := NewServer(context.Background(), a).Next([]byte(tr)); err != nil || !done {
			t.Errorf("server refused %q: %v", tr, err)
		}
		if _, ir, err := NewClient(tr).Start(); err != nil || string(ir) != tr || ir == nil {
			t.Errorf("client refused %q: %v", tr, err)
		}
	}
	for _, tr := range bad {
		a := &admit{}
		s := NewServer(context.Background(), a)
		_, done, err := s.Next([]byte(tr))
		var me *sasl.MalformedError
		if !errors.As(err, &me) || !done || me.Mechanism != Name || len(a.traces) != 0 {
			t.Errorf("server took %.20q: %v", tr, err)
		}
		if _, ok := s.Identity(); ok {
			t.Error("identity after failure")
		}
		if _, ir, err := NewClient(tr).Start(); err == nil || ir != nil || !strings.HasPrefix(err.Error(), "anonymous: ") {
			t.Errorf("client sent %.20q", tr)
		}
		if _, err := Mechanism().NewClient(&sasl.ClientParams{Trace: tr}); err == nil {
			t.Errorf("descriptor accepted %.20q", tr)
		}
	}
}

func TestServer(t *testing.T) {
	// Refused by the verifier.
	a := &admit{err: fmt.Errorf("anonymous access disabled: %w", sasl.ErrAuthFailed)}
	s := NewServer(context.Background(), a)
	if _, done, err := s.Next([]byte("x")); !errors.Is(err, sasl.ErrAuthFailed) || !done {
		t.Fatal(err)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity after refusal")
	}
	// A verifier that cannot decide.
	down := errors.New("audit log unavailable")
	_, _, err := NewServer(context.Background(), &admit{err: down}).Next([]byte{})
	if !errors.Is(err, down) || errors.Is(err, sasl.ErrAuthFailed) || !strings.HasPrefix(err.Error(), "anonymous: ") {
		t.Fatalf("err = %v", err)
	}
	// No initial response, then the trace; then done.
	a = &admit{}
	s = NewServer(context.Background(), a)
	if ch, done, err := s.Next(nil); ch == nil || len(ch) != 0 || done || err != nil {
		t.Fatalf("Next(nil) = %q %v %v", ch, done, err)
	}
	if _, done, err := s.Next(nil); !done || err != nil || len(a.traces) != 1 || a.traces[0] != "" {
		t.Fatalf("empty response: %v %v %q", done, err, a.traces)
	}
	mechtest.AssertDone(t, s, []byte("x"))
}

func TestNoVerifierAdmitsNobody(t *testing.T) {
	s := NewServer(context.Background(), nil)
	if _, done, err := s.Next([]byte("trace")); !errors.Is(err, sasl.ErrNoVerifier) || !done {
		t.Fatal(err)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("admitted without a verifier")
	}
	if _, err := Mechanism().NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatal(err)
	}
	r := sasl.NewRegistry()
	r.MustRegister(Mechanism())
	if _, err := r.NewServer(context.Background(), Name, nil, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatal(err)
	}
}

func TestClient(t *testing.T) {
	c := NewClient("sirhc")
	if r, err := c.Next([]byte{}); r != nil || !errors.Is(err, sasl.ErrUnexpectedChallenge) {
		t.Fatal(r, err)
	}
	if _, err := Mechanism().NewClient(nil); err == nil {
		t.Fatal("NewClient(nil) succeeded")
	}
	if got := fmt.Sprintf("%#v", c); got != `anonymous.Client{Trace:"sirhc"}` {
		t.Fatal(got)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "ANONYMOUS" || m.Properties != sasl.Anonymous|sasl.OffByDefault || m.Needs != sasl.NeedNothing || m.Strength != 0 || m.Standard != "RFC 4505" {
		t.Fatalf("%+v", m)
	}
	r := sasl.NewRegistry()
	r.MustRegister(m)
	ctx := context.Background()
	if _, err := r.Negotiate(ctx, []string{"ANONYMOUS"}, &sasl.Credentials{}, nil, nil); !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("negotiated ANONYMOUS by default: %v", err)
	}
	n, err := r.Negotiate(ctx, []string{"ANONYMOUS"}, &sasl.Credentials{Trace: "fred@example.com"}, nil, &sasl.Policy{Allow: []string{"ANONYMOUS"}})
	if err != nil {
		t.Fatal(err)
	}
	_, ir, _ := n.Client.Start()
	a := &admit{}
	s, _ := r.NewServer(ctx, Name, &sasl.Verifiers{Anonymous: a}, nil)
	if _, _, err := s.Next(ir); err != nil || a.traces[0] != "fred@example.com" {
		t.Fatal(err, a.traces)
	}
	if got := fmt.Sprintf("%v", s); got != "anonymous.Server{state:done Admitted:true}" {
		t.Fatal(got)
	}
}
