package scram

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// golden is one known-answer exchange from testdata.
type golden map[string]string

func readGolden(t *testing.T, name string) golden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := golden{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: bad line %q", name, line)
		}
		g[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g golden) hex(t *testing.T, k string) []byte {
	t.Helper()
	b, err := hex.DecodeString(g[k])
	if err != nil || len(b) == 0 {
		t.Fatalf("golden %s: bad hex", k)
	}
	return b
}

func (g golden) iters(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(g["iterations"])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var goldenFiles = []string{"rfc5802-scram-sha-1.golden", "rfc7677-scram-sha-256.golden"}

// TestGoldenIntermediates recomputes the RFC 5802 §3 values with the
// standard library alone and checks them, hex-exact, against the golden
// file; then checks StoredCredentials against the same values.
func TestGoldenIntermediates(t *testing.T) {
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			spec, ok := specFor(g["hash"])
			if !ok {
				t.Fatalf("unknown hash %s", g["hash"])
			}
			salt, err := base64.StdEncoding.DecodeString(g["salt-b64"])
			if err != nil || !bytes.Equal(salt, g.hex(t, "salt-hex")) {
				t.Fatalf("salt: base64 and hex disagree")
			}
			mac := func(key []byte, msg string) []byte {
				m := hmac.New(spec.newHash, key)
				m.Write([]byte(msg))
				return m.Sum(nil)
			}
			salted, err := pbkdf2.Key(spec.newHash, g["password"], salt, g.iters(t), spec.size)
			if err != nil {
				t.Fatal(err)
			}
			clientKey := mac(salted, "Client Key")
			h := spec.newHash()
			h.Write(clientKey)
			storedKey := h.Sum(nil)
			serverKey := mac(salted, "Server Key")
			authMsg := strings.TrimPrefix(g["client-first"], "n,,") + "," + g["server-first"] + "," +
				g["client-final"][:strings.LastIndex(g["client-final"], ",p=")]
			clientSig := mac(storedKey, authMsg)
			serverSig := mac(serverKey, authMsg)
			for _, c := range []struct {
				key string
				got []byte
			}{
				{"salted-password-hex", salted},
				{"client-key-hex", clientKey},
				{"stored-key-hex", storedKey},
				{"server-key-hex", serverKey},
				{"client-signature-hex", clientSig},
				{"server-signature-hex", serverSig},
			} {
				if got := hex.EncodeToString(c.got); got != g[c.key] {
					t.Errorf("%s = %s, golden %s", c.key, got, g[c.key])
				}
			}
			if authMsg != g["auth-message"] {
				t.Errorf("AuthMessage = %q, golden %q", authMsg, g["auth-message"])
			}
			// The proof on the wire is ClientKey XOR ClientSignature and the
			// verifier is ServerSignature.
			proof := make([]byte, len(clientKey))
			for i := range proof {
				proof[i] = clientKey[i] ^ clientSig[i]
			}
			if want := "p=" + base64.StdEncoding.EncodeToString(proof); !strings.HasSuffix(g["client-final"], ","+want) {
				t.Errorf("client-final does not end with the computed proof %s", want)
			}
			if want := "v=" + base64.StdEncoding.EncodeToString(serverSig); g["server-final"] != want {
				t.Errorf("server-final = %s, computed %s", g["server-final"], want)
			}

			creds, err := StoredCredentials(g["hash"], g["password"], salt, g.iters(t))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(creds.StoredKey) != g["stored-key-hex"] || base64.StdEncoding.EncodeToString(creds.StoredKey) != g["stored-key-b64"] {
				t.Errorf("StoredCredentials StoredKey = %x, golden %s", creds.StoredKey, g["stored-key-hex"])
			}
			if hex.EncodeToString(creds.ServerKey) != g["server-key-hex"] || base64.StdEncoding.EncodeToString(creds.ServerKey) != g["server-key-b64"] {
				t.Errorf("StoredCredentials ServerKey = %x, golden %s", creds.ServerKey, g["server-key-hex"])
			}
			if creds.Iterations != g.iters(t) || !bytes.Equal(creds.Salt, salt) {
				t.Errorf("StoredCredentials salt or iterations differ")
			}
		})
	}
}

// TestGoldenClient replays the RFC exchange against the client with the
// RFC's client nonce injected: every message it sends is byte-exact.
func TestGoldenClient(t *testing.T) {
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			c := newTestClient(t, g["mechanism"], g["username"], g["password"], nil, &Options{nonce: fixedNonce(g["client-nonce"])})
			mech, ir, err := c.Start()
			if err != nil || mech != g["mechanism"] {
				t.Fatalf("Start = %s, %v", mech, err)
			}
			if string(ir) != g["client-first"] {
				t.Fatalf("client-first = %q, golden %q", ir, g["client-first"])
			}
			final, err := c.Next([]byte(g["server-first"]))
			if err != nil {
				t.Fatal(err)
			}
			if string(final) != g["client-final"] {
				t.Fatalf("client-final = %q, golden %q", final, g["client-final"])
			}
			if c.Verified() {
				t.Fatal("Verified before the server signature arrived")
			}
			last, err := c.Next([]byte(g["server-final"]))
			if err != nil {
				t.Fatal(err)
			}
			if last == nil || len(last) != 0 {
				t.Fatalf("reply to v= = %q, want a non-nil empty response", last)
			}
			if !c.Verified() || c.Failure() != nil || sasl.FailureOf(c) != nil {
				t.Fatalf("Verified = %t, Failure = %v", c.Verified(), c.Failure())
			}
		})
	}
}

// TestGoldenServer replays the RFC exchange against the server with the
// RFC's server nonce injected and the RFC's salt stored: every message it
// sends is byte-exact.
func TestGoldenServer(t *testing.T) {
	for _, name := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			creds, err := StoredCredentials(g["hash"], g["password"], g.hex(t, "salt-hex"), g.iters(t))
			if err != nil {
				t.Fatal(err)
			}
			lookup := sasl.SCRAMLookupFunc(func(_ context.Context, h, user string) (sasl.SCRAMCredentials, error) {
				if h != g["hash"] || user != g["username"] {
					t.Errorf("lookup(%s, %s)", h, user)
				}
				return creds, nil
			})
			s := newTestServer(t, g["mechanism"], lookup, nil, &Options{nonce: fixedNonce(g["server-nonce"])})
			first, done, err := s.Next([]byte(g["client-first"]))
			if err != nil || done {
				t.Fatalf("Next(client-first) done=%t err=%v", done, err)
			}
			if string(first) != g["server-first"] {
				t.Fatalf("server-first = %q, golden %q", first, g["server-first"])
			}
			final, done, err := s.Next([]byte(g["client-final"]))
			if err != nil || done {
				t.Fatalf("Next(client-final) done=%t err=%v", done, err)
			}
			if string(final) != g["server-final"] {
				t.Fatalf("server-final = %q, golden %q", final, g["server-final"])
			}
			if _, ok := s.Identity(); ok {
				t.Fatal("Identity reported before the exchange ended")
			}
			if ch, done, err := s.Next([]byte{}); err != nil || !done || ch != nil {
				t.Fatalf("Next(empty) = %q, %t, %v", ch, done, err)
			}
			id, ok := s.Identity()
			if !ok || id.Username != g["username"] || id.Authzid != "" || id.Mechanism != g["mechanism"] {
				t.Fatalf("Identity = %+v, %t", id, ok)
			}
		})
	}
}
