package imap_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/adaptertest"
)

const (
	alice    = adaptertest.Alice
	password = adaptertest.Password
)

type x509UnknownAuthority struct {
	err *tls.CertificateVerificationError
}

// syncBuilder is a strings.Builder safe for the client's two goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type oauth2Token = oauth2.Token

type staticToken struct{ tok *oauth2.Token }

func (s staticToken) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }
