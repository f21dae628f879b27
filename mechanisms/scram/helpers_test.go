package scram

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"hash"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// testKey is the fake-salt key of test servers.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// userDB is an in-memory sasl.SCRAMLookup holding credentials for every
// hash. Unknown users are reported with sasl.ErrUnknownUser.
type userDB struct {
	mu    sync.Mutex
	users map[string]map[string]sasl.SCRAMCredentials // user -> hash -> creds
	calls int
	err   error // returned for every lookup when set
}

func newUserDB(t testing.TB, iters int, users ...[2]string) *userDB {
	t.Helper()
	db := &userDB{users: map[string]map[string]sasl.SCRAMCredentials{}}
	for _, u := range users {
		db.users[u[0]] = map[string]sasl.SCRAMCredentials{}
		for _, h := range []string{HashSHA1, HashSHA256, HashSHA512} {
			c, err := StoredCredentials(h, u[1], NewSalt(), iters)
			if err != nil {
				t.Fatal(err)
			}
			db.users[u[0]][h] = c
		}
	}
	return db
}

func (db *userDB) LookupSCRAM(ctx context.Context, h, username string) (sasl.SCRAMCredentials, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls++
	if db.err != nil {
		return sasl.SCRAMCredentials{}, db.err
	}
	if err := ctx.Err(); err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	c, ok := db.users[username][h]
	if !ok {
		return sasl.SCRAMCredentials{}, fmt.Errorf("%w: %q", sasl.ErrUnknownUser, username)
	}
	return c, nil
}

// hashCounter counts hash constructions through Options.hashHook. Before
// the server-first message is processed a client constructs no hash at all,
// so a zero count proves PBKDF2 (and every HMAC) never ran.
type hashCounter struct{ n atomic.Int64 }

func (hc *hashCounter) hook(h func() hash.Hash) func() hash.Hash {
	return func() hash.Hash {
		hc.n.Add(1)
		return h()
	}
}

func fixedNonce(s string) func() string { return func() string { return s } }

// result is the outcome of an in-memory exchange.
type result struct {
	serverDone bool
	serverErr  error
	clientErr  error // an error from Client.Next: the client cancelled
	steps      int   // challenges the client answered
}

// ok reports a successful exchange.
func (r result) ok() bool { return r.serverDone && r.serverErr == nil && r.clientErr == nil }

// run drives client against server in memory, as a protocol library would,
// stopping at the server's outcome or the client's cancel.
func run(t testing.TB, c sasl.Client, s sasl.Server) result {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	resp := ir
	var r result
	for r.steps = 0; r.steps < 10; r.steps++ {
		ch, done, err := s.Next(resp)
		if done || err != nil {
			r.serverDone, r.serverErr = done, err
			return r
		}
		resp, err = c.Next(ch)
		if err != nil {
			r.clientErr = err
			return r
		}
		if resp == nil {
			t.Fatal("client returned a nil response where one is due")
		}
	}
	t.Fatal("exchange did not end")
	return r
}

// newTestClient creates a client with the defaults of tests.
func newTestClient(t testing.TB, mech, user, pass string, conn *sasl.ConnState, opts *Options) *Client {
	t.Helper()
	c, err := NewClient(mech, &sasl.ClientParams{Username: user, Password: pass, Conn: conn}, opts)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", mech, err)
	}
	return c
}

func newTestServer(t testing.TB, mech string, db sasl.SCRAMLookup, conn *sasl.ConnState, opts *Options) *Server {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.FakeSaltKey == nil {
		o := *opts
		o.FakeSaltKey = testKey
		opts = &o
	}
	s, err := NewServer(context.Background(), mech, db, conn, opts)
	if err != nil {
		t.Fatalf("NewServer(%s): %v", mech, err)
	}
	return s
}

// certificate is a self-signed certificate valid for 127.0.0.1 and
// localhost.
type certificate struct {
	tls  tls.Certificate
	x509 *x509.Certificate
	pool *x509.CertPool
}

func newCertificate(t testing.TB, kind string) certificate {
	t.Helper()
	var pub, priv any
	var alg x509.SignatureAlgorithm
	switch kind {
	case "ecdsa-p256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, alg = &k.PublicKey, k, x509.ECDSAWithSHA256
	case "ecdsa-p384":
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, alg = &k.PublicKey, k, x509.ECDSAWithSHA384
	case "ed25519":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, alg = p, k, x509.PureEd25519
	default:
		t.Fatalf("unknown key kind %s", kind)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "saslkit scram test " + kind},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		SignatureAlgorithm:    alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return certificate{
		tls:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf},
		x509: leaf,
		pool: pool,
	}
}

// serverCertOf returns an Options.ServerCertificate that reports cert.
func serverCertOf(cert *x509.Certificate) func(*tls.ConnectionState) *x509.Certificate {
	return func(*tls.ConnectionState) *x509.Certificate { return cert }
}

// tlsPair performs a real TLS handshake over loopback TCP and returns both
// ends' connections. clientCfg may adjust the client configuration.
func tlsPair(t testing.TB, cert certificate, version uint16, clientCfg func(*tls.Config)) (client, server *tls.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type acc struct {
		c   *tls.Conn
		err error
	}
	ch := make(chan acc, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			ch <- acc{nil, err}
			return
		}
		sc := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert.tls}, MinVersion: version, MaxVersion: version})
		ch <- acc{sc, sc.Handshake()}
	}()
	cfg := &tls.Config{RootCAs: cert.pool, ServerName: "localhost", MinVersion: version, MaxVersion: version}
	if clientCfg != nil {
		clientCfg(cfg)
	}
	cc, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { cc.Close(); a.c.Close() })
	return cc, a.c
}

func connStates(client, server *tls.Conn) (c, s *sasl.ConnState) {
	return sasl.ConnStateOf(client, "localhost", 0), sasl.ConnStateOf(server, "localhost", 0)
}
