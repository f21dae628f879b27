package oauthbearer

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// golden reads a testdata file, without its final newline. Files holding
// the published "^A" rendering are converted to real 0x01 bytes.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if strings.HasSuffix(name, ".txt") {
		b = bytes.ReplaceAll(b, []byte("^A"), []byte{1})
	}
	return b
}

// goldenB64 reads a base64 testdata file and decodes it strictly.
func goldenB64(t testing.TB, name string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.Strict().DecodeString(string(golden(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// tokenTable is a verifier that accepts the listed token for its user and
// rejects every other token with a *sasl.TokenError. It records calls.
type tokenTable struct {
	tokens map[string]string // token -> user
	reject sasl.TokenError

	mu    sync.Mutex
	calls []sasl.TokenRequest
}

func newTable(user, token string) *tokenTable {
	return &tokenTable{
		tokens: map[string]string{token: user},
		reject: sasl.TokenError{Status: "invalid_token", Schemes: "bearer mac", Scope: "https://mail.example.com/"},
	}
}

func (tt *tokenTable) VerifyToken(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
	tt.mu.Lock()
	tt.calls = append(tt.calls, req)
	tt.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return sasl.Identity{}, err
	}
	if u, ok := tt.tokens[req.Token]; ok && u == req.Username {
		return sasl.Identity{Username: u}, nil
	}
	te := tt.reject
	return sasl.Identity{}, &te
}

func (tt *tokenTable) Calls() []sasl.TokenRequest {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]sasl.TokenRequest(nil), tt.calls...)
}

// result is what an in-memory exchange produced.
type result struct {
	clientErr error // Next returned an error: the protocol would cancel
	serverErr error // the server's final error
	done      bool  // the server finished
	rounds    int   // server challenges the client answered
	wire      [][]byte
}

// exchange runs a client against a server in memory, as a protocol library
// would: the initial response first, challenges to the client, responses to
// the server, until the server is done or the client cancels.
func exchange(t testing.TB, c sasl.Client, s sasl.Server) result {
	t.Helper()
	var r result
	mech, resp, err := c.Start()
	if err != nil {
		r.clientErr = err
		return r
	}
	if mech != Name {
		t.Fatalf("mechanism %q", mech)
	}
	for i := 0; i < 10; i++ {
		r.wire = append(r.wire, resp)
		ch, done, err := s.Next(resp)
		if err != nil || done {
			r.serverErr, r.done = err, done
			return r
		}
		r.wire = append(r.wire, ch)
		resp, err = c.Next(ch)
		if err != nil {
			r.clientErr = err
			return r
		}
		if resp == nil {
			t.Fatal("client answered nil: go-smtp would read that as success")
		}
		r.rounds++
	}
	t.Fatal("exchange did not end")
	return r
}

// secretForms returns the forms in which a token must never appear.
func secretForms(secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s,
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawStdEncoding.EncodeToString([]byte(s)),
			base64.URLEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	return forms
}

// leaks reports whether text holds any of the forms.
func leaks(text string, forms []string) bool {
	for _, f := range forms {
		if f != "" && strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// assertNoSecret fails if text holds any of the forms.
func assertNoSecret(t testing.TB, what, text string, forms []string) {
	t.Helper()
	if leaks(text, forms) {
		t.Errorf("%s reveals a secret", what)
	}
}
