package scram

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// wantServerEnd checks that a server ended with an error matching want and
// refuses anything after.
func wantServerEnd(t *testing.T, s *Server, ch []byte, done bool, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("Next = %q, done=%t, %v; want an error wrapping %v", ch, done, err, want)
	}
	if !done || ch != nil {
		t.Fatalf("Next = %q, done=%t with an error", ch, done)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("Identity reported after a failure")
	}
	if _, done, err := s.Next([]byte("c=biws,r=x,p=AAAA")); !errors.Is(err, sasl.ErrDone) || !done {
		t.Fatalf("Next after the end: done=%t, %v", done, err)
	}
}

func serverErrorValue(err error) string {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Value
	}
	return ""
}

// TestServerRejectsClientFirst checks the negative client-first vectors of
// test-vectors.md §3 and test-plan.md B.2.
func TestServerRejectsClientFirst(t *testing.T) {
	cert := newCertificate(t, "ecdsa-p256")
	_, sconn := tlsPair(t, cert, 0x0304, nil)
	tlsConn := sasl.ConnStateOf(sconn, "localhost", 0)
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	cases := []struct {
		name  string
		mech  string
		conn  *sasl.ConnState
		msg   string
		want  error
		value string // expected ServerError value, if any
	}{
		{"gs2 flag x", MechSHA256, nil, "x,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"gs2 flag empty", MechSHA256, nil, ",,n=user,r=abc", sasl.ErrMalformed, ""},
		{"gs2 flag p without name", MechSHA256Plus, tlsConn, "p=,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"gs2 flag p with bad name", MechSHA256Plus, tlsConn, "p=tls exporter,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"bad escape =2X", MechSHA256, nil, "n,,n=us=2Xer,r=abc", sasl.ErrMalformed, ""},
		{"bad escape trailing =", MechSHA256, nil, "n,,n=user=,r=abc", sasl.ErrMalformed, ""},
		{"lower-case escape =2c", MechSHA256, nil, "n,,n=us=2cer,r=abc", sasl.ErrMalformed, ""},
		{"bad authzid escape", MechSHA256, nil, "n,a=ad=2Xmin,n=user,r=abc", sasl.ErrMalformed, ""},
		{"empty authzid", MechSHA256, nil, "n,a=,n=user,r=abc", sasl.ErrMalformed, ""},
		{"authzid without a=", MechSHA256, nil, "n,admin,n=user,r=abc", sasl.ErrMalformed, ""},
		{"empty username", MechSHA256, nil, "n,,n=,r=abc", sasl.ErrMalformed, ""},
		{"NUL in username", MechSHA256, nil, "n,,n=us\x00er,r=abc", sasl.ErrMalformed, ""},
		{"invalid UTF-8 username", MechSHA256, nil, "n,,n=us\xffer,r=abc", sasl.ErrMalformed, ""},
		{"missing nonce", MechSHA256, nil, "n,,n=user,x=abc", sasl.ErrMalformed, ""},
		{"empty nonce", MechSHA256, nil, "n,,n=user,r=", sasl.ErrMalformed, ""},
		{"non-printable nonce", MechSHA256, nil, "n,,n=user,r=ab c", sasl.ErrMalformed, ""},
		{"too few fields", MechSHA256, nil, "n,,n=user", sasl.ErrMalformed, ""},
		{"empty", MechSHA256, nil, "", sasl.ErrMalformed, ""},
		{"bad extension", MechSHA256, nil, "n,,n=user,r=abc,=x", sasl.ErrMalformed, ""},
		{"oversized", MechSHA256, nil, "n,,n=user,r=abc,x=" + strings.Repeat("a", DefaultMaxMessageSize), sasl.ErrMalformed, ""},
		{"m= extension", MechSHA256, nil, "n,,m=x,n=user,r=abc", sasl.ErrAuthFailed, ErrValueExtensionsNotSupported},
		{"y while -PLUS is offered (downgrade)", MechSHA256, tlsConn, "y,,n=user,r=abc", sasl.ErrAuthFailed, ErrValueServerDoesSupportCB},
		{"p on a mechanism without -PLUS", MechSHA256, tlsConn, "p=tls-exporter,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"n on -PLUS", MechSHA256Plus, tlsConn, "n,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"y on -PLUS", MechSHA256Plus, tlsConn, "y,,n=user,r=abc", sasl.ErrMalformed, ""},
		{"p=tls-unique on -PLUS", MechSHA256Plus, tlsConn, "p=tls-unique,,n=user,r=abc", sasl.ErrAuthFailed, ErrValueUnsupportedChannelBindingType},
		{"p=tls-server-end-point without a server certificate", MechSHA256Plus, tlsConn, "p=tls-server-end-point,,n=user,r=abc", sasl.ErrAuthFailed, ErrValueUnsupportedChannelBindingType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.mech, db, tc.conn, nil)
			ch, done, err := s.Next([]byte(tc.msg))
			wantServerEnd(t, s, ch, done, err, tc.want)
			if got := serverErrorValue(err); got != tc.value {
				t.Fatalf("server error value %q, want %q", got, tc.value)
			}
		})
	}
}

// TestServerAcceptsClientFirst covers the grammar's positive corners.
func TestServerAcceptsClientFirst(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"us,er=", "pencil"})
	for _, msg := range []string{
		"n,,n=us=2Cer=3D,r=abc",
		"y,,n=us=2Cer=3D,r=abc", // no TLS: "y" is the right flag
		"n,a=ad=2Cmin,n=us=2Cer=3D,r=%$)~,x=ext",
	} {
		s := newTestServer(t, MechSHA256, db, nil, nil)
		ch, done, err := s.Next([]byte(msg))
		if err != nil || done || !strings.HasPrefix(string(ch), "r=") {
			t.Fatalf("Next(%q) = %q, %t, %v", msg, ch, done, err)
		}
	}
}

// serverAtFinal returns an RFC 7677 server that has sent its server-first
// message.
func serverAtFinal(t *testing.T, opts *Options) (*Server, golden) {
	t.Helper()
	g := readGolden(t, "rfc7677-scram-sha-256.golden")
	creds, err := StoredCredentials(HashSHA256, "pencil", g.hex(t, "salt-hex"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	lookup := sasl.SCRAMLookupFunc(func(context.Context, string, string) (sasl.SCRAMCredentials, error) { return creds, nil })
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.nonce = fixedNonce(g["server-nonce"])
	s := newTestServer(t, MechSHA256, lookup, nil, &o)
	if _, _, err := s.Next([]byte(g["client-first"])); err != nil {
		t.Fatal(err)
	}
	return s, g
}

// TestServerRejectsClientFinal checks the client-final negative vectors:
// refusals the client should hear about are sent as e=, and the error
// follows the client's reply; malformed messages end the exchange at once.
func TestServerRejectsClientFinal(t *testing.T) {
	g := readGolden(t, "rfc7677-scram-sha-256.golden")
	final := g["client-final"]
	nonce := "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	proof := final[strings.LastIndex(final, ",p=")+3:]
	flipped := "eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" // first byte changed
	sent := []struct {
		name, msg, value string
	}{
		{"c= of another gs2 header", "c=eSws,r=" + nonce + ",p=" + proof, ErrValueChannelBindingsDontMatch},
		{"c= with binding data", "c=biwsAAAA,r=" + nonce + ",p=" + proof, ErrValueChannelBindingsDontMatch},
		{"nonce differs from the issued one", "c=biws,r=" + nonce + "x,p=" + proof, ErrValueOtherError},
		{"nonce is the client's only", "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=" + proof, ErrValueOtherError},
		{"wrong proof", "c=biws,r=" + nonce + ",p=" + flipped, ErrValueInvalidProof},
	}
	for _, tc := range sent {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serverAtFinal(t, nil)
			ch, done, err := s.Next([]byte(tc.msg))
			if err != nil || done || string(ch) != "e="+tc.value {
				t.Fatalf("Next = %q, %t, %v; want e=%s", ch, done, err, tc.value)
			}
			ch, done, err = s.Next([]byte{})
			wantServerEnd(t, s, ch, done, err, sasl.ErrAuthFailed)
			if got := serverErrorValue(err); got != tc.value {
				t.Fatalf("error value %q, want %q", got, tc.value)
			}
		})
	}
	malformed := []struct{ name, msg string }{
		{"proof too short", "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgs"},
		{"proof too long", "c=biws,r=" + nonce + ",p=" + strings.Repeat("A", 44)}, // 33 bytes
		{"proof not base64", "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV!="},
		{"proof truncated base64", "c=biws,r=" + nonce + ",p=" + proof[:len(proof)-1]},
		{"proof with embedded newline", "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9\nytag9zjfMHgsqmmiz7AndVQ="},
		{"proof missing", "c=biws,r=" + nonce},
		{"proof not last", "c=biws,r=" + nonce + ",p=" + proof + ",x=y"},
		{"c= not base64", "c=biws!,r=" + nonce + ",p=" + proof},
		{"c= empty", "c=,r=" + nonce + ",p=" + proof},
		{"c= missing", "r=" + nonce + ",x=y,p=" + proof},
		{"nonce missing", "c=biws,x=y,p=" + proof},
		{"bad extension", "c=biws,r=" + nonce + ",xy,p=" + proof},
		{"empty", ""},
		{"oversized", "c=biws,r=" + nonce + ",x=" + strings.Repeat("a", DefaultMaxMessageSize) + ",p=" + proof},
	}
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serverAtFinal(t, nil)
			ch, done, err := s.Next([]byte(tc.msg))
			wantServerEnd(t, s, ch, done, err, sasl.ErrMalformed)
		})
	}
	t.Run("size cap option", func(t *testing.T) {
		s, _ := serverAtFinal(t, &Options{MaxMessageSize: len(final) - 1})
		ch, done, err := s.Next([]byte(final))
		wantServerEnd(t, s, ch, done, err, sasl.ErrMalformed)
	})
	t.Run("non-empty reply to v=", func(t *testing.T) {
		s, _ := serverAtFinal(t, nil)
		if _, _, err := s.Next([]byte(final)); err != nil {
			t.Fatal(err)
		}
		ch, done, err := s.Next([]byte("x"))
		wantServerEnd(t, s, ch, done, err, sasl.ErrMalformed)
	})
}

// TestServerUnknownUser checks test-plan.md B.3: an unknown user's
// server-first message has the same shape, salt length and iteration count
// as a known user's, its salt is the same on every attempt, and the
// exchange fails at proof time exactly like a wrong password.
func TestServerUnknownUser(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	shape := regexp.MustCompile(`^r=abc[A-Za-z0-9+/=]{32},s=([A-Za-z0-9+/=]{24}),i=4096$`)
	first := func(key []byte, user string) string {
		t.Helper()
		s := newTestServer(t, MechSHA256, db, nil, &Options{FakeSaltKey: key})
		ch, done, err := s.Next([]byte("n,,n=" + user + ",r=abc"))
		if err != nil || done {
			t.Fatalf("Next: %t, %v", done, err)
		}
		m := shape.FindStringSubmatch(string(ch))
		if m == nil {
			t.Fatalf("server-first %q does not have the known-user shape", ch)
		}
		return m[1]
	}
	known := first(testKey, "user")
	ghost := first(testKey, "ghost")
	if ghost == known {
		t.Fatal("unknown user got the known user's salt")
	}
	if again := first(testKey, "ghost"); again != ghost {
		t.Fatalf("fake salt changed between attempts: %s then %s", ghost, again)
	}
	if other := first(testKey, "ghost2"); other == ghost {
		t.Fatal("two unknown users share a salt")
	}
	if rekeyed := first([]byte("another key"), "ghost"); rekeyed == ghost {
		t.Fatal("fake salt does not depend on FakeSaltKey")
	}

	// The wire of a failed exchange is the same for an unknown user and a
	// wrong password; only the server's error tells them apart.
	outcome := func(user, pass string) (string, error, error) {
		c := newTestClient(t, MechSHA256, user, pass, nil, nil)
		s := newTestServer(t, MechSHA256, db, nil, nil)
		r := run(t, c, s)
		return serverErrorValue(c.Failure()), c.Failure(), r.serverErr
	}
	wrongValue, wrongClient, wrongServer := outcome("user", "wrong")
	ghostValue, ghostClient, ghostServer := outcome("ghost", "pencil")
	if wrongValue != ErrValueInvalidProof || ghostValue != ErrValueInvalidProof {
		t.Fatalf("client failures %q and %q, want invalid-proof for both", wrongValue, ghostValue)
	}
	if wrongClient.Error() != ghostClient.Error() {
		t.Fatalf("client errors differ: %v / %v", wrongClient, ghostClient)
	}
	if !errors.Is(wrongServer, sasl.ErrAuthFailed) || errors.Is(wrongServer, sasl.ErrUnknownUser) {
		t.Fatalf("wrong password server error: %v", wrongServer)
	}
	if !errors.Is(ghostServer, sasl.ErrAuthFailed) || !errors.Is(ghostServer, sasl.ErrUnknownUser) {
		t.Fatalf("unknown user server error: %v", ghostServer)
	}
}

// TestDescriptorFakeSaltKey: a descriptor without FakeSaltKey generates one
// key and keeps it, so an unknown user's salt is stable across
// conversations of that descriptor.
func TestDescriptorFakeSaltKey(t *testing.T) {
	db := newUserDB(t, 4096)
	v := &sasl.Verifiers{SCRAM: db}
	salt := func(m sasl.Mechanism) string {
		s, err := m.NewServer(context.Background(), v, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, _, err := s.Next([]byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(ch), ",")[1]
	}
	m := SHA256(nil)
	if a, b := salt(m), salt(m); a != b {
		t.Fatalf("salt changed within one descriptor: %s, %s", a, b)
	}
	if salt(m) == salt(SHA256(nil)) {
		t.Fatal("two descriptors without FakeSaltKey share a key")
	}
	keyed1, keyed2 := SHA256(&Options{FakeSaltKey: testKey}), SHA256(&Options{FakeSaltKey: testKey})
	if salt(keyed1) != salt(keyed2) {
		t.Fatal("the same FakeSaltKey gave different salts")
	}
}

func TestServerNoInitialResponse(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	s := newTestServer(t, MechSHA256, db, nil, nil)
	ch, done, err := s.Next(nil)
	if err != nil || done || ch == nil || len(ch) != 0 {
		t.Fatalf("Next(nil) = %q, %t, %v; want an empty challenge", ch, done, err)
	}
	c := newTestClient(t, MechSHA256, "user", "pencil", nil, nil)
	_, ir, _ := c.Start()
	resp := ir
	for {
		ch, done, err = s.Next(resp)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if resp, err = c.Next(ch); err != nil {
			t.Fatal(err)
		}
	}
	if id, ok := s.Identity(); !ok || id.Username != "user" {
		t.Fatalf("Identity = %+v, %t", id, ok)
	}
}

func TestServerLookupFailures(t *testing.T) {
	down := errors.New("database down")
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	db.err = down
	s := newTestServer(t, MechSHA256, db, nil, nil)
	ch, done, err := s.Next([]byte("n,,n=user,r=abc"))
	wantServerEnd(t, s, ch, done, err, down)
	if errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatal("a failure to check was reported as wrong credentials")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db.err = nil
	s2, err := NewServer(ctx, MechSHA256, db, nil, &Options{FakeSaltKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ch, done, err = s2.Next([]byte("n,,n=user,r=abc"))
	wantServerEnd(t, s2, ch, done, err, context.Canceled)

	bad := sasl.SCRAMLookupFunc(func(context.Context, string, string) (sasl.SCRAMCredentials, error) {
		return sasl.SCRAMCredentials{Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("short"), ServerKey: []byte("short")}, nil
	})
	s3 := newTestServer(t, MechSHA256, bad, nil, nil)
	ch, done, err = s3.Next([]byte("n,,n=user,r=abc"))
	if err == nil || !done || ch != nil {
		t.Fatalf("invalid stored credentials accepted: %q, %t, %v", ch, done, err)
	}
}

func TestNewServerErrors(t *testing.T) {
	db := newUserDB(t, 4096)
	ctx := context.Background()
	if _, err := NewServer(ctx, MechSHA256, db, nil, nil); err == nil {
		t.Fatal("NewServer without FakeSaltKey accepted")
	}
	if _, err := NewServer(ctx, MechSHA256, nil, nil, &Options{FakeSaltKey: testKey}); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("nil lookup: %v", err)
	}
	if _, err := NewServer(ctx, "SCRAM-SHA-3", db, nil, &Options{FakeSaltKey: testKey}); err == nil {
		t.Fatal("unknown mechanism accepted")
	}
	if _, err := NewServer(ctx, MechSHA256Plus, db, nil, &Options{FakeSaltKey: testKey}); !errors.Is(err, sasl.ErrUnusable) {
		t.Fatalf("-PLUS without TLS: %v", err)
	}
	if _, err := NewServer(ctx, MechSHA256, db, nil, &Options{FakeSaltKey: testKey, MaxMessageSize: -1}); err == nil {
		t.Fatal("negative MaxMessageSize accepted")
	}
	if _, err := SHA256(nil).NewServer(ctx, &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("descriptor without Verifiers.SCRAM: %v", err)
	}
	if _, err := SHA256(nil).NewServer(ctx, nil, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("descriptor with nil Verifiers: %v", err)
	}
}
