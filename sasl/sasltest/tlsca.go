package sasltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
)

// CA is a certificate authority generated in memory when a MailServer
// starts. It signs the mail servers' certificate and, for EXTERNAL, client
// certificates, so that a test's clients verify the servers exactly as they
// would verify a real provider: through a root pool, by host name.
//
// Its private key never leaves the process and is never printed.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
	now  func() time.Time
}

// caValidity is how long generated certificates are valid, around now.
const caValidity = 7 * 24 * time.Hour

// newCA generates a CA named name. now gives the certificates' validity
// window (a test's fake clock may run far from the real one, and TLS
// verifies with the real clock, so the window covers both).
func newCA(name string, now func() time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sasltest: generating the CA key: %w", err)
	}
	notBefore, notAfter := validity(now)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"saslkit sasltest"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sasltest: creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sasltest: parsing the CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, der: der, now: now}, nil
}

// validity returns a window around both the real time and now(): TLS
// verification uses the real clock whatever clock the test injects.
func validity(now func() time.Time) (time.Time, time.Time) {
	wall := time.Now()
	lo, hi := wall, wall
	if now != nil {
		if t := now(); t.Before(lo) {
			lo = t
		} else if t.After(hi) {
			hi = t
		}
	}
	return lo.Add(-time.Hour), hi.Add(caValidity)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a new certificate pool holding the CA, for a client's
// tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// PEM returns the CA certificate PEM-encoded, to write to a file for a
// client outside the process (curl --cacert, Python's ssl.create_default_context).
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
}

// Format prints the CA's subject, never its key.
func (ca *CA) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "sasltest.CA{Subject:"+ca.cert.Subject.CommonName+"}")
}

// IssueServer returns a server certificate for hosts (DNS names and IP
// literals), signed by the CA, with the chain attached.
func (ca *CA) IssueServer(hosts ...string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("sasltest: a server certificate needs at least one host")
	}
	tmpl := ca.leafTemplate(hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.sign(tmpl)
}

// IssueClient returns a TLS client certificate naming user (common name
// and e-mail address), signed by the CA. A MailServer in the all profile
// accepts it for EXTERNAL as user.
func (ca *CA) IssueClient(user string) (tls.Certificate, error) {
	if user == "" {
		return tls.Certificate{}, errors.New("sasltest: a client certificate needs a user")
	}
	tmpl := ca.leafTemplate(user)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.EmailAddresses = []string{user}
	return ca.sign(tmpl)
}

func (ca *CA) leafTemplate(cn string) *x509.Certificate {
	notBefore, notAfter := validity(ca.now)
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"saslkit sasltest"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) sign(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sasltest: generating a key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sasltest: signing a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sasltest: parsing a certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.der}, PrivateKey: key, Leaf: leaf}, nil
}
