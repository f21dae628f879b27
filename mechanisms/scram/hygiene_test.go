package scram

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

const secretPassword = "Zq7-secret-PENCIL-4096"

var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}

// leakChecker collects text and fails when a secret appears in it, raw,
// base64 or hex encoded.
type leakChecker struct {
	t       *testing.T
	secrets map[string][]byte
}

func (lc *leakChecker) add(name string, b []byte) {
	if len(b) > 0 {
		lc.secrets[name] = b
	}
}

func (lc *leakChecker) check(where, text string) {
	lc.t.Helper()
	for name, s := range lc.secrets {
		for _, form := range []string{
			string(s),
			base64.StdEncoding.EncodeToString(s),
			base64.RawStdEncoding.EncodeToString(s),
			base64.URLEncoding.EncodeToString(s),
			hex.EncodeToString(s),
			strings.ToUpper(hex.EncodeToString(s)),
			fmt.Sprintf("%q", s),
		} {
			if strings.Contains(text, form) {
				lc.t.Errorf("%s reveals %s: %q", where, name, text)
			}
		}
		// A byte slice printed with %v is a list of decimal numbers.
		if len(s) >= 4 && strings.Contains(text, strings.Trim(fmt.Sprint(s[:4]), "[]")) {
			lc.t.Errorf("%s reveals %s as decimal bytes", where, name)
		}
	}
}

func (lc *leakChecker) value(where string, v any) {
	lc.t.Helper()
	for _, verb := range verbs {
		lc.check(where+" "+verb, fmt.Sprintf(verb, v))
	}
	lc.check(where+" nested", fmt.Sprintf("%+v", struct{ V any }{v}))
}

func (lc *leakChecker) err(where string, err error) {
	lc.t.Helper()
	if err == nil {
		return
	}
	lc.check(where+" Error()", err.Error())
	lc.value(where+" error", err)
}

// TestSecretHygiene formats every value that holds a secret with every verb
// and collects every error the package returns around a secret, and checks
// that no password, key, salted key or fake-salt key appears in any form.
func TestSecretHygiene(t *testing.T) {
	fakeKey := []byte("fake-salt-key-SECRET-0123456789!")
	salt := []byte("salt-0123456789a")
	creds, err := StoredCredentials(HashSHA256, secretPassword, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	lc := &leakChecker{t: t, secrets: map[string][]byte{}}
	lc.add("password", []byte(secretPassword))
	lc.add("fake-salt key", fakeKey)
	lc.add("StoredKey", creds.StoredKey)
	lc.add("ServerKey", creds.ServerKey)

	opts := &Options{FakeSaltKey: fakeKey}
	lc.value("Options", opts)
	lc.value("Options value", *opts)
	lc.value("config", newConfig(opts, false))
	lc.value("SCRAMCredentials", creds)

	db := sasl.SCRAMLookupFunc(func(_ context.Context, _, user string) (sasl.SCRAMCredentials, error) {
		if user == "user" {
			return creds, nil
		}
		return sasl.SCRAMCredentials{}, fmt.Errorf("%w: %s", sasl.ErrUnknownUser, user)
	})
	for _, tc := range []struct{ user, pass string }{
		{"user", secretPassword},
		{"user", secretPassword + "x"},
		{"ghost", secretPassword},
	} {
		c := newTestClient(t, MechSHA256, tc.user, tc.pass, nil, opts)
		s := newTestServer(t, MechSHA256, db, nil, opts)
		lc.value("new client", c)
		lc.value("new server", s)
		r := run(t, c, s)
		lc.value("finished client", c)
		lc.value("finished server", s)
		lc.err("server error", r.serverErr)
		lc.err("client cancel", r.clientErr)
		lc.err("client failure", c.Failure())
		_, err := c.Next([]byte("v=x"))
		lc.err("client after end", err)
		_, _, err = s.Next([]byte("x"))
		lc.err("server after end", err)
	}

	// Cancels and malformed messages around a secret-bearing exchange.
	c := newTestClient(t, MechSHA256, "user", secretPassword, nil, opts)
	s := newTestServer(t, MechSHA256, db, nil, opts)
	_, ir, _ := c.Start()
	first, _, _ := s.Next(ir)
	final, err := c.Next(first)
	if err != nil {
		t.Fatal(err)
	}
	lc.value("client at final", c)
	_, err = c.Next([]byte("v=" + base64.StdEncoding.EncodeToString(creds.ServerKey)))
	lc.err("forged verifier", err)
	if !errors.Is(err, sasl.ErrServerAuth) {
		t.Fatalf("forged verifier: %v", err)
	}
	_, _, err = s.Next(append(final[:len(final)-2:len(final)-2], "!="...))
	lc.err("malformed proof", err)

	// Construction errors with the secret in the input.
	_, err = NewClient(MechSHA256, &sasl.ClientParams{Username: "user", Password: secretPassword + "\u0007"}, nil)
	if err == nil {
		t.Fatal("prohibited password accepted")
	}
	lc.err("SASLprep password", err)
	_, err = StoredCredentials(HashSHA256, secretPassword+"\u0007", salt, 4096)
	lc.err("StoredCredentials SASLprep", err)
	_, err = StoredCredentials("SHA-3", secretPassword, salt, 4096)
	lc.err("StoredCredentials hash", err)
	_, err = NewClient(MechSHA256Plus, &sasl.ClientParams{Username: "user", Password: secretPassword}, opts)
	lc.err("-PLUS without TLS", err)
	n := &sasl.Negotiated{Mechanism: SHA256(opts), Client: c}
	lc.value("Negotiated", n)
}
