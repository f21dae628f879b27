package scram

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// Fuzzing caps the iteration count a client accepts at fuzzMaxIters (the
// production bounds are tested separately), so that coverage is not starved
// by PBKDF2; the RFC seeds, at 4096, stay accepted.
const (
	fuzzMaxIters   = 4096
	fuzzIters      = 16 // stored credentials of fuzz servers
	fuzzUser       = "user"
	fuzzPassword   = "pencil"
	fuzzClientNon  = "rOprNGfwEbeRWgbNEkqO"
	fuzzServerNon  = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfc7677First   = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfc7677Final   = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	rfc7677CFirst  = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfc7677CFinal  = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	fuzzSaltBase64 = "W22ZaJ0SNY7soEsUEjb6gQ=="
)

var fuzzSalt, _ = base64.StdEncoding.DecodeString(fuzzSaltBase64)

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// expectedSignatures computes, independently of the package, the client
// proof and server signature of a SCRAM-SHA-256 exchange with the fuzz
// password.
func expectedSignatures(t *testing.T, salt []byte, iters int, authMsg string) (proof, serverSig []byte) {
	t.Helper()
	salted, err := pbkdf2.Key(sha256.New, fuzzPassword, salt, iters, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	sig := hmacSHA256(stored[:], authMsg)
	proof = make([]byte, len(sig))
	for i := range sig {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return proof, hmacSHA256(hmacSHA256(salted, "Server Key"), authMsg)
}

// FuzzClient feeds a server-first and a server-final message to a
// SCRAM-SHA-256 client. Invariants: no panic; a rejected server-first runs
// no hash (so no PBKDF2); a response is never nil when no error is
// returned; nothing is accepted after the end; and the client reports the
// server verified only when v= is the true server signature for the
// password over the transcript (auth-bypass oracle, computed here with the
// standard library).
func FuzzClient(f *testing.F) {
	f.Add(rfc7677First, rfc7677Final)
	f.Add("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	f.Add("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2,x=ext", "e=invalid-proof")
	for _, first := range []string{
		"r=XXXXNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"m=x,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"e=invalid-proof",
	} {
		f.Add(first, rfc7677Final)
	}
	f.Fuzz(func(t *testing.T, first, final string) {
		hc := &hashCounter{}
		opts := &Options{MinIterations: 1, MaxIterations: fuzzMaxIters, nonce: fixedNonce(fuzzClientNon), hashHook: hc.hook}
		c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: fuzzUser, Password: fuzzPassword}, opts)
		if err != nil {
			t.Fatal(err)
		}
		_, ir, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next([]byte(first))
		if err != nil {
			if resp != nil || hc.n.Load() != 0 {
				t.Fatalf("rejected server-first: response %q, %d hashes", resp, hc.n.Load())
			}
			if _, err := c.Next([]byte(final)); err == nil || c.Verified() {
				t.Fatal("client accepted a challenge after cancelling")
			}
			return
		}
		if resp == nil {
			t.Fatal("nil response without an error")
		}
		if c.Failure() != nil {
			if len(resp) != 0 || hc.n.Load() != 0 {
				t.Fatalf("answer to e= is %q after %d hashes", resp, hc.n.Load())
			}
			return
		}
		resp2, err := c.Next([]byte(final))
		if err == nil && resp2 == nil {
			t.Fatal("nil response without an error")
		}
		if !c.Verified() {
			return
		}
		// Verified: recompute the server signature independently.
		fields := strings.Split(first, ",")
		salt, err1 := base64.StdEncoding.DecodeString(strings.TrimPrefix(fields[1], "s="))
		iters, err2 := strconv.Atoi(strings.TrimPrefix(fields[2], "i="))
		if err1 != nil || err2 != nil {
			t.Fatalf("verified against an unparseable server-first %q", first)
		}
		c2wop := string(resp[:bytes.LastIndex(resp, []byte(",p="))])
		authMsg := strings.TrimPrefix(string(ir), "n,,") + "," + first + "," + c2wop
		_, sig := expectedSignatures(t, salt, iters, authMsg)
		if !strings.HasPrefix(final, "v="+base64.StdEncoding.EncodeToString(sig)) {
			t.Fatalf("client verified a server signature that is not the true one: %q", final)
		}
		if _, err := c.Next([]byte(final)); err == nil {
			t.Fatal("client accepted a challenge after the end")
		}
	})
}

// fuzzServer returns a SCRAM-SHA-256 server for user/pencil with the RFC
// 7677 salt at fuzzIters iterations and the RFC server nonce.
func fuzzServer(t testing.TB, creds sasl.SCRAMCredentials) *Server {
	lookup := sasl.SCRAMLookupFunc(func(_ context.Context, _, user string) (sasl.SCRAMCredentials, error) {
		if user == fuzzUser {
			return creds, nil
		}
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	})
	s, err := NewServer(context.Background(), MechSHA256, lookup, nil, &Options{FakeSaltKey: testKey, Iterations: fuzzIters, nonce: fixedNonce(fuzzServerNon)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fuzzSeedFinal returns a valid client-final for the fuzz server, made by
// the real client.
func fuzzSeedFinal(f *testing.F, creds sasl.SCRAMCredentials) (first, final string) {
	c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: fuzzUser, Password: fuzzPassword}, &Options{MinIterations: 1, nonce: fixedNonce(fuzzClientNon)})
	if err != nil {
		f.Fatal(err)
	}
	s := fuzzServer(f, creds)
	_, ir, _ := c.Start()
	sf, _, err := s.Next(ir)
	if err != nil {
		f.Fatal(err)
	}
	cf, err := c.Next(sf)
	if err != nil {
		f.Fatal(err)
	}
	return string(ir), string(cf)
}

// checkServer drives a fuzz server with first and final and checks the
// invariants: no panic; a server-first that parses, with the identities
// xdg-go/scram reads from the same message; nothing accepted after done;
// success only for user with the proof the true password gives over the
// transcript.
func checkServer(t *testing.T, s *Server, first, final []byte) {
	var transcript []string
	resp := first
	for i := 0; i < 4; i++ {
		ch, done, err := s.Next(resp)
		if done || err != nil {
			if !done {
				t.Fatalf("error %v without done", err)
			}
			if _, d, err2 := s.Next([]byte{}); !errors.Is(err2, sasl.ErrDone) || !d {
				t.Fatalf("server accepted a response after done: %v", err2)
			}
			id, ok := s.Identity()
			if err != nil {
				if ok {
					t.Fatal("identity after failure")
				}
				return
			}
			if !ok || id.Username != fuzzUser || len(transcript) != 2 {
				t.Fatalf("success with identity %+v, transcript %q", id, transcript)
			}
			cfirst, sfirst := transcript[0], transcript[1]
			cfinal := string(final)
			bare := cfirst[strings.Index(cfirst, "n="):]
			c2wop := cfinal[:strings.LastIndex(cfinal, ",p=")]
			proof, _ := expectedSignatures(t, fuzzSalt, fuzzIters, bare+","+sfirst+","+c2wop)
			if !strings.HasSuffix(cfinal, ",p="+base64.StdEncoding.EncodeToString(proof)) {
				t.Fatalf("server accepted a proof the password does not give: %q", cfinal)
			}
			return
		}
		if ch == nil {
			t.Fatal("nil challenge without done")
		}
		switch i {
		case 0:
			transcript = append(transcript, string(resp), string(ch))
			if _, reason := parseServerFirst(string(ch)); reason != "" {
				t.Fatalf("server sent a malformed server-first %q: %s", ch, reason)
			}
			// Differential check: xdg-go/scram, which parsed the same
			// message inside the server, read the same identities.
			if s.conv.Username() != s.username || s.conv.AuthzID() != s.authzid {
				t.Fatalf("identities differ from xdg-go/scram's: %q/%q vs %q/%q",
					s.username, s.authzid, s.conv.Username(), s.conv.AuthzID())
			}
			resp = final
		default:
			resp = []byte{}
		}
	}
	t.Fatal("exchange did not end")
}

// FuzzServer feeds a client-first and a client-final message to a
// SCRAM-SHA-256 server (see checkServer for the invariants).
func FuzzServer(f *testing.F) {
	creds, err := StoredCredentials(HashSHA256, fuzzPassword, fuzzSalt, fuzzIters)
	if err != nil {
		f.Fatal(err)
	}
	first, final := fuzzSeedFinal(f, creds)
	f.Add([]byte(first), []byte(final))
	f.Add([]byte(rfc7677CFirst), []byte(rfc7677CFinal))
	for _, cf := range []string{
		"x,,n=user,r=abc", "n,,n=us=2Xer,r=abc", "y,,n=user,r=abc", "n,,m=x,n=user,r=abc",
		"p=tls-exporter,,n=user,r=abc", "n,a=admin,n=user,r=" + fuzzClientNon, "n,,n=ghost,r=" + fuzzClientNon,
	} {
		f.Add([]byte(cf), []byte(final))
	}
	for _, cfin := range []string{
		"c=eSws" + final[6:],
		strings.Replace(final, "r=", "r=x", 1),
		final[:len(final)-1],
		final[:strings.LastIndex(final, "p=")] + "p=AAAA",
	} {
		f.Add([]byte(first), []byte(cfin))
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		checkServer(t, fuzzServer(t, creds), first, final)
	})
}

// FuzzServerFinal feeds a client-final message to a server that has
// received a valid client-first (see checkServer for the invariants).
func FuzzServerFinal(f *testing.F) {
	creds, err := StoredCredentials(HashSHA256, fuzzPassword, fuzzSalt, fuzzIters)
	if err != nil {
		f.Fatal(err)
	}
	first, final := fuzzSeedFinal(f, creds)
	f.Add([]byte(final))
	f.Add([]byte(rfc7677CFinal))
	f.Add([]byte("c=biws,r=" + fuzzClientNon + fuzzServerNon + ",x=y,p=" + strings.Repeat("A", 43) + "="))
	f.Fuzz(func(t *testing.T, final []byte) {
		checkServer(t, fuzzServer(t, creds), []byte(first), final)
	})
}

// FuzzExchange runs the real client against the real server with fuzzed
// credentials. Oracle: the exchange succeeds exactly when the SASLprepped
// username and password are the stored ones.
func FuzzExchange(f *testing.F) {
	creds, err := StoredCredentials(HashSHA256, fuzzPassword, fuzzSalt, fuzzIters)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fuzzUser, fuzzPassword, "")
	f.Add(fuzzUser, "pencil2", "")
	f.Add("ghost", fuzzPassword, "")
	f.Add("us\u00a0er", "pen\u00adcil", "admin")
	f.Add("user", "PENCIL", "a,b=c")
	f.Fuzz(func(t *testing.T, user, pass, authz string) {
		c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: user, Password: pass, Authzid: authz}, &Options{MinIterations: 1})
		if err != nil {
			return
		}
		s := fuzzServer(t, creds)
		r := run(t, c, s)
		pu, _ := prep(user, "username")
		pp, _ := prep(pass, "password")
		pa, _ := prep(authz, "authzid")
		want := pu == fuzzUser && pp == fuzzPassword
		if r.ok() != want {
			t.Fatalf("user %q password %q: success=%t, want %t (%+v)", user, pass, r.ok(), want, r)
		}
		if r.ok() {
			id, _ := s.Identity()
			if id.Username != fuzzUser || id.Authzid != pa || !c.Verified() {
				t.Fatalf("identity %+v, verified %t", id, c.Verified())
			}
		} else if r.clientErr != nil {
			t.Fatalf("client cancelled a well-formed exchange: %v", r.clientErr)
		}
	})
}
