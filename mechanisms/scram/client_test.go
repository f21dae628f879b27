package scram

import (
	"errors"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

const cnonce = "fyko+d2lbbFgONRv9qkxdawL"

// startCounted returns a started SCRAM-SHA-1 client with the RFC 5802
// client nonce and a hash-construction counter.
func startCounted(t *testing.T, opts Options) (*Client, *hashCounter) {
	t.Helper()
	hc := &hashCounter{}
	opts.nonce = fixedNonce(cnonce)
	opts.hashHook = hc.hook
	c := newTestClient(t, MechSHA1, "user", "pencil", nil, &opts)
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if n := hc.n.Load(); n != 0 {
		t.Fatalf("Start constructed %d hashes", n)
	}
	return c, hc
}

// TestClientRejectsServerFirst checks every negative server-first vector
// of test-vectors.md §3 and test-plan.md B.1: each cancels with a typed
// error before any hash (so before PBKDF2) is computed.
func TestClientRejectsServerFirst(t *testing.T) {
	const good = "r=" + cnonce + "3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92"
	cases := []struct {
		name string
		msg  string
		want error
	}{
		{"nonce without client prefix", "r=XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"nonce equal to client nonce", "r=" + cnonce + ",s=QSXCR+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"nonce shorter than client nonce", "r=fyko,s=QSXCR+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"nonce with non-printable byte", "r=" + cnonce + "ab\x7f,s=QSXCR+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"i=4095 below minimum", good + ",i=4095", ErrIterationCount},
		{"i=600001 above maximum", good + ",i=600001", ErrIterationCount},
		{"i=0", good + ",i=0", sasl.ErrMalformed},
		{"i=04096", good + ",i=04096", sasl.ErrMalformed},
		{"i=-1", good + ",i=-1", sasl.ErrMalformed},
		{"i=+4096", good + ",i=+4096", sasl.ErrMalformed},
		{"i=4096x", good + ",i=4096x", sasl.ErrMalformed},
		{"i overflow", good + ",i=99999999999999999999", sasl.ErrMalformed},
		{"i empty", good + ",i=", sasl.ErrMalformed},
		{"i missing", good, sasl.ErrMalformed},
		{"s missing", "r=" + cnonce + "3rfc,i=4096,x=y", sasl.ErrMalformed},
		{"s empty", "r=" + cnonce + "3rfc,s=,i=4096", sasl.ErrMalformed},
		{"s not base64", "r=" + cnonce + "3rfc,s=QSXC!+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"s truncated base64", "r=" + cnonce + "3rfc,s=QSXCR+Q6sek8bf9,i=4096", sasl.ErrMalformed},
		{"s with embedded newline", "r=" + cnonce + "3rfc,s=QSXCR+Q6\nsek8bf92,i=4096", sasl.ErrMalformed},
		{"s with embedded CR", "r=" + cnonce + "3rfc,s=QSXC\rR+Q6sek8bf92,i=4096", sasl.ErrMalformed},
		{"s =AAA", "r=" + cnonce + "3rfc,s==AAA,i=4096", sasl.ErrMalformed},
		{"s AAA=BBBB", "r=" + cnonce + "3rfc,s=AAA=BBBB,i=4096", sasl.ErrMalformed},
		{"m= extension", "m=x," + good + ",i=4096", sasl.ErrMalformed},
		{"bad extension", good + ",i=4096,1=x", sasl.ErrMalformed},
		{"attributes out of order", "s=QSXCR+Q6sek8bf92,r=" + cnonce + "3rfc,i=4096", sasl.ErrMalformed},
		{"empty", "", sasl.ErrMalformed},
		{"oversized", good + ",i=4096,x=" + strings.Repeat("a", DefaultMaxMessageSize), sasl.ErrMalformed},
		{"e= not a value", "e=bad\x00value", sasl.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, hc := startCounted(t, Options{})
			resp, err := c.Next([]byte(tc.msg))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Next = %q, %v; want an error wrapping %v", resp, err, tc.want)
			}
			if resp != nil {
				t.Fatalf("response %q sent with a cancel", resp)
			}
			if n := hc.n.Load(); n != 0 {
				t.Fatalf("%d hashes constructed: PBKDF2 ran on a rejected challenge", n)
			}
			if c.Failure() != nil || c.Verified() {
				t.Fatal("a cancel recorded a failure or success")
			}
			if _, err := c.Next([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
				t.Fatalf("Next after cancel: %v", err)
			}
		})
	}
}

// TestClientAcceptsValidServerFirst is the positive control of the counter
// test above: a valid message runs PBKDF2, and the server nonce may hold any
// printable character, extensions follow i=, and the bounds are inclusive.
func TestClientAcceptsValidServerFirst(t *testing.T) {
	for _, msg := range []string{
		"r=" + cnonce + "3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"r=" + cnonce + "%hv)$~!,s=QSXCR+Q6sek8bf92,i=4096,x=ext=value",
	} {
		c, hc := startCounted(t, Options{MaxIterations: 4096})
		resp, err := c.Next([]byte(msg))
		if err != nil || !strings.HasPrefix(string(resp), "c=biws,r=") {
			t.Fatalf("Next(%q) = %q, %v", msg, resp, err)
		}
		if hc.n.Load() == 0 {
			t.Fatal("no hash constructed for a valid challenge: the counter proves nothing")
		}
	}
}

func TestClientIterationBounds(t *testing.T) {
	const base = "r=" + cnonce + "x,s=QSXCR+Q6sek8bf92,i="
	c, _ := startCounted(t, Options{MinIterations: 100, MaxIterations: 200})
	if _, err := c.Next([]byte(base + "99")); !errors.Is(err, ErrIterationCount) {
		t.Fatalf("i=99 with min 100: %v", err)
	}
	c, _ = startCounted(t, Options{MinIterations: 100, MaxIterations: 200})
	if _, err := c.Next([]byte(base + "201")); !errors.Is(err, ErrIterationCount) {
		t.Fatalf("i=201 with max 200: %v", err)
	}
	c, _ = startCounted(t, Options{MinIterations: 100, MaxIterations: 200})
	if _, err := c.Next([]byte(base + "200")); err != nil {
		t.Fatalf("i=200 with max 200: %v", err)
	}
}

// TestClientServerErrorAtFirst: a server that refuses at the first step
// with e= gets an empty answer, and the failure is recorded; no PBKDF2.
func TestClientServerErrorAtFirst(t *testing.T) {
	c, hc := startCounted(t, Options{})
	resp, err := c.Next([]byte("e=invalid-proof"))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("Next(e=) = %q, %v; want empty response, nil error", resp, err)
	}
	var se *ServerError
	if !errors.As(sasl.FailureOf(c), &se) || se.Value != "invalid-proof" || !errors.Is(se, sasl.ErrAuthFailed) {
		t.Fatalf("Failure = %v", c.Failure())
	}
	if hc.n.Load() != 0 {
		t.Fatal("PBKDF2 ran on a server error")
	}
	if c.Verified() {
		t.Fatal("Verified after a server error")
	}
}

// clientAtFinal returns a client that has sent the RFC 5802 client-final.
func clientAtFinal(t *testing.T) *Client {
	t.Helper()
	g := readGolden(t, "rfc5802-scram-sha-1.golden")
	c := newTestClient(t, MechSHA1, "user", "pencil", nil, &Options{nonce: fixedNonce(cnonce)})
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next([]byte(g["server-first"])); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientServerFinal(t *testing.T) {
	t.Run("wrong verifier", func(t *testing.T) {
		c := clientAtFinal(t)
		resp, err := c.Next([]byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
		if !errors.Is(err, sasl.ErrServerAuth) || resp != nil {
			t.Fatalf("Next = %q, %v; want sasl.ErrServerAuth", resp, err)
		}
		if c.Verified() || c.Failure() != nil {
			t.Fatal("success or failure recorded for a forged verifier")
		}
	})
	for _, tc := range []struct{ name, msg string }{
		{"verifier too short", "v=rmF9pqV8S7suAoZWja4dJRkF"},
		{"verifier not base64", "v=rmF9pqV8S7suAoZWja4dJRkFsKQ!"},
		{"verifier truncated base64", "v=rmF9pqV8S7suAoZWja4dJRkFsKQ"},
		{"verifier with newline", "v=rmF9pqV8S7suAo\nZWja4dJRkFsKQ="},
		{"neither v nor e", "x=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{"empty", ""},
		{"bad extension", "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,="},
		{"oversized", "e=" + strings.Repeat("x", DefaultMaxMessageSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clientAtFinal(t)
			resp, err := c.Next([]byte(tc.msg))
			if !errors.Is(err, sasl.ErrMalformed) || resp != nil {
				t.Fatalf("Next = %q, %v; want sasl.ErrMalformed", resp, err)
			}
			if c.Verified() {
				t.Fatal("verified a malformed verifier")
			}
		})
	}
	t.Run("server error", func(t *testing.T) {
		c := clientAtFinal(t)
		resp, err := c.Next([]byte("e=invalid-proof"))
		if err != nil || resp == nil || len(resp) != 0 {
			t.Fatalf("Next = %q, %v; want a non-nil empty response", resp, err)
		}
		var se *ServerError
		if !errors.As(c.Failure(), &se) || se.Value != ErrValueInvalidProof || !errors.Is(c.Failure(), sasl.ErrAuthFailed) {
			t.Fatalf("Failure = %v", c.Failure())
		}
		if c.Verified() {
			t.Fatal("Verified after e=")
		}
		if _, err := c.Next([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")); !errors.Is(err, sasl.ErrUnexpectedChallenge) || !errors.Is(err, sasl.ErrDone) {
			t.Fatalf("Next after e=: %v", err)
		}
		if c.Verified() {
			t.Fatal("a verifier after e= was accepted")
		}
	})
	t.Run("server error with extension", func(t *testing.T) {
		c := clientAtFinal(t)
		if resp, err := c.Next([]byte("e=other-error,x=detail")); err != nil || resp == nil {
			t.Fatalf("Next = %q, %v", resp, err)
		}
		if got := c.Failure().Error(); got != "scram: server refused authentication: other-error" {
			t.Fatalf("Failure = %q", got)
		}
	})
	t.Run("valid verifier, then more", func(t *testing.T) {
		c := clientAtFinal(t)
		if resp, err := c.Next([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")); err != nil || resp == nil || len(resp) != 0 {
			t.Fatalf("Next = %q, %v", resp, err)
		}
		if !c.Verified() {
			t.Fatal("not verified")
		}
		if _, err := c.Next([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("third challenge: %v", err)
		}
	})
}

func TestClientLifecycle(t *testing.T) {
	c := newTestClient(t, MechSHA256, "user", "pencil", nil, nil)
	if _, err := c.Next([]byte("r=x")); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
		t.Fatalf("Next before Start: %v", err)
	}
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Start(); err == nil {
		t.Fatal("second Start accepted")
	}
}

func TestClientBadNonceGenerator(t *testing.T) {
	c := newTestClient(t, MechSHA256, "user", "pencil", nil, &Options{nonce: fixedNonce("a,b")})
	if _, _, err := c.Start(); err == nil {
		t.Fatal("a nonce with a comma was sent")
	}
}

func TestNewClientErrors(t *testing.T) {
	cases := []struct {
		name string
		mech string
		p    *sasl.ClientParams
		opts *Options
		want error
	}{
		{"nil params", MechSHA256, nil, nil, sasl.ErrNoCredentials},
		{"no username", MechSHA256, &sasl.ClientParams{Password: "p"}, nil, sasl.ErrNoCredentials},
		{"no password", MechSHA256, &sasl.ClientParams{Username: "u"}, nil, sasl.ErrNoCredentials},
		{"unknown mechanism", "SCRAM-MD5", &sasl.ClientParams{Username: "u", Password: "p"}, nil, nil},
		{"not scram", "PLAIN", &sasl.ClientParams{Username: "u", Password: "p"}, nil, nil},
		{"plus without TLS", MechSHA256Plus, &sasl.ClientParams{Username: "u", Password: "p"}, nil, sasl.ErrUnusable},
		{"plus with empty TLS state", MechSHA256Plus, &sasl.ClientParams{Username: "u", Password: "p", Conn: &sasl.ConnState{}}, nil, sasl.ErrUnusable},
		{"bad options", MechSHA256, &sasl.ClientParams{Username: "u", Password: "p"}, &Options{MinIterations: 10, MaxIterations: 5}, nil},
		{"negative options", MechSHA256, &sasl.ClientParams{Username: "u", Password: "p"}, &Options{MinIterations: -1}, nil},
		{"tls-unique", MechSHA256, &sasl.ClientParams{Username: "u", Password: "p"}, &Options{ChannelBindings: []string{"tls-unique"}}, nil},
		{"prohibited username", MechSHA256, &sasl.ClientParams{Username: "u\u0007", Password: "p"}, nil, nil},
		{"prohibited password", MechSHA256, &sasl.ClientParams{Username: "u", Password: "pw\u0007"}, nil, nil},
		{"prohibited authzid", MechSHA256, &sasl.ClientParams{Username: "u", Password: "p", Authzid: "\u0007"}, nil, nil},
		{"username mapped to nothing", MechSHA256, &sasl.ClientParams{Username: "\u00ad", Password: "p"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.mech, tc.p, tc.opts)
			if err == nil || c != nil {
				t.Fatalf("NewClient = %v, %v; want an error", c, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v does not wrap %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "scram: ") && !strings.HasPrefix(err.Error(), "sasl: ") {
				t.Fatalf("error %q lacks a package prefix", err)
			}
		})
	}
}

// TestClientSASLprep: the client sends the SASLprepped username and derives
// the key from the SASLprepped password (RFC 4013 maps U+00A0 to a space
// and removes U+00AD).
func TestClientSASLprep(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"us er", "pass word"})
	c := newTestClient(t, MechSHA256, "us\u00a0er", "pass\u00a0word", nil, nil)
	s := newTestServer(t, MechSHA256, db, nil, nil)
	if r := run(t, c, s); !r.ok() {
		t.Fatalf("exchange failed: %+v", r)
	}
	c = newTestClient(t, MechSHA256, "us er", "pass\u00adword", nil, nil)
	s = newTestServer(t, MechSHA256, db, nil, nil)
	if r := run(t, c, s); r.ok() {
		t.Fatal("U+00AD should be removed, not mapped to space")
	}
}
