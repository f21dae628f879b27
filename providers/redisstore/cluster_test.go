package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

// exerciseStore runs the store's operations for accounts whose names
// stress the hash tag, through c.
func exerciseStore(t *testing.T, c Client) {
	t.Helper()
	ctx := context.Background()
	s := newTestStore(t, c, &Options{Prefix: "cl", LeaseTTL: time.Second})
	for _, account := range []string{testAccount, "a}b", "{x}", "with space", "ünïcødé"} {
		tok := testToken("at-"+account, "rt-"+account, time.Hour)
		if err := s.Save(ctx, account, nil, tok); err != nil {
			t.Fatalf("%q: save: %v", account, err)
		}
		loaded, err := s.Load(ctx, account)
		if err != nil || loaded.AccessToken != tok.AccessToken {
			t.Fatalf("%q: load: %v", account, err)
		}
		unlock, err := s.Lock(ctx, account)
		if err != nil {
			t.Fatalf("%q: lock: %v", account, err)
		}
		if err := s.Save(ctx, account, loaded, testToken("at2", "rt2", time.Hour)); err != nil {
			t.Fatalf("%q: save under the lease: %v", account, err)
		}
		unlock()
		if err := s.Delete(ctx, account, &oauth2.Token{RefreshToken: "rt2"}); err != nil {
			t.Fatalf("%q: delete: %v", account, err)
		}
	}
}

// TestRedisCluster runs the store against a one-node Redis Cluster, which
// refuses any script whose keys span two slots (CROSSSLOT): an account's
// token and lease share the {account} hash tag.
func TestRedisCluster(t *testing.T) {
	r := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := context.Background()
	admin := r.client(t)
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := admin.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready: %v %s", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The control: keys in two slots are refused, so the checks below mean
	// something.
	if err := admin.Eval(ctx, "return 1", []string{"a", "b"}).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a script over two slots ran: %v", err)
	}
	s := newTestStore(t, admin, &Options{Prefix: "cl"})
	for _, account := range []string{testAccount, "a}b", "{x}"} {
		tk, lk := s.Keys(account)
		st, err1 := admin.ClusterKeySlot(ctx, tk).Result()
		sl, err2 := admin.ClusterKeySlot(ctx, lk).Result()
		if err1 != nil || err2 != nil || st != sl {
			t.Fatalf("%q: token slot %d, lease slot %d (%v %v)", account, st, sl, err1, err2)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.addr}, MaxRetries: -1})
	t.Cleanup(func() { _ = cc.Close() })
	exerciseStore(t, cc)
}

// TestRedisTLSAndAuth runs the store over TLS with a password, and checks
// that a wrong password is a configuration error, not an outage, and is
// never printed.
func TestRedisTLSAndAuth(t *testing.T) {
	const password = "redis-password-secret"
	dir := t.TempDir()
	pool := writeCert(t, dir)
	r := startRedisOpts(t, true, "--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "cert.pem"), "--tls-auth-clients", "no", "--requirepass", password)
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c := redis.NewClient(&redis.Options{Addr: r.addr, Password: password, TLSConfig: tlsConf, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	exerciseStore(t, c)

	bad := redis.NewClient(&redis.Options{Addr: r.addr, Password: "wrong-" + password, TLSConfig: tlsConf, MaxRetries: -1})
	t.Cleanup(func() { _ = bad.Close() })
	s := newTestStore(t, bad, nil)
	_, err := s.Load(context.Background(), testAccount)
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("wrong password: %v, want an authentication error", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatal("the password is in the error")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 to dir and
// returns a pool that trusts it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redis test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
