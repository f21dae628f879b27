package providers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const e2eSAEmail = "relay@mail-project.iam.gserviceaccount.com"

var e2eSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// serviceAccountKeyFile returns a JSON key as the Google Cloud console
// downloads it, for key, with token_uri set.
func serviceAccountKeyFile(key *rsa.PrivateKey, tokenURI string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "mail-project",
		"private_key_id": "0123456789abcdef0123456789abcdef01234567",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   e2eSAEmail,
		"client_id":      "100000000000000000042",
		"token_uri":      tokenURI,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// e2eGoogle starts the test kit's Google-profile server with a service
// account, optionally allowed domain-wide delegation for the Gmail scope.
func e2eGoogle(t *testing.T, delegation bool, users ...string) *sasltest.OAuthServer {
	t.Helper()
	srv := sasltest.NewOAuthServer(nil)
	t.Cleanup(srv.Close)
	srv.AddUser(users...)
	if err := srv.AddServiceAccount(sasltest.OAuthServiceAccount{
		Email:      e2eSAEmail,
		KeyID:      "0123456789abcdef0123456789abcdef01234567",
		PublicKey:  &e2eSAKey().PublicKey,
		Delegation: delegation,
		Scopes:     []string{providers.ScopeGmail},
	}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestServiceAccountEndToEnd(t *testing.T) {
	t.Parallel()
	srv := e2eGoogle(t, true, "alice@example.test", "bob@example.test")
	sa, err := providers.NewServiceAccount(serviceAccountKeyFile(e2eSAKey(), srv.TokenURL()), &providers.ServiceAccountOptions{
		HTTPClient: srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	verifier := srv.TokenVerifier(providers.ScopeGmail)
	for _, user := range []string{"alice@example.test", "bob@example.test"} {
		tok, err := sa.User(user).Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		info, ok := srv.Lookup(tok.AccessToken)
		if !ok || info.User != user || info.Grant != sasltest.GrantJWTBearer || !info.Active {
			t.Fatalf("%s: token info %+v", user, info)
		}
		// The mail server accepts it for that user.
		if _, err := verifier.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: user, Token: tok.AccessToken}); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		// Cached: a second call makes no request.
		if _, err := sa.User(user).Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(sasltest.GrantJWTBearer); n != 2 {
		t.Fatalf("%d JWT bearer requests, want 2", n)
	}

	// Presented for another mailbox, Gmail answers 400; Diagnose says
	// what to check.
	tok, _ := sa.User("alice@example.test").Token(ctx)
	_, verr := verifier.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "bob@example.test", Token: tok.AccessToken})
	err = sa.User("alice@example.test").Diagnose(verr)
	if !errors.Is(err, providers.ErrDelegationDenied) || !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("diagnosis of %v: %v", verr, err)
	}
}

func TestServiceAccountEndToEndNoDelegation(t *testing.T) {
	t.Parallel()
	srv := e2eGoogle(t, false, "alice@example.test")
	sa, err := providers.NewServiceAccount(serviceAccountKeyFile(e2eSAKey(), srv.TokenURL()), &providers.ServiceAccountOptions{
		HTTPClient: srv.HTTPClient(),
		Cache:      &providers.CacheOptions{Retry: &providers.RetryPolicy{MaxAttempts: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sa.User("alice@example.test").Token(context.Background())
	var de *providers.DelegationError
	if !errors.As(err, &de) || de.ClientID != "100000000000000000042" || de.User != "alice@example.test" {
		t.Fatalf("got %v", err)
	}
	// Not retried: one request.
	if n := srv.Requests(sasltest.GrantJWTBearer); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

// TestServiceAccountLogHygiene runs tokens, failures and retries through
// the per-user caches with debug logging captured, and checks that no
// token and no part of the private key appears in any log record, error or
// formatted value.
func TestServiceAccountLogHygiene(t *testing.T) {
	t.Parallel()
	srv := e2eGoogle(t, true, "alice@example.test")
	srv.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultStatus, Status: 503, Times: 1})
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sa, err := providers.NewServiceAccount(serviceAccountKeyFile(e2eSAKey(), srv.TokenURL()), &providers.ServiceAccountOptions{
		HTTPClient: srv.HTTPClient(),
		Cache: &providers.CacheOptions{
			Logger: logger,
			Retry:  &providers.RetryPolicy{MaxAttempts: 3, BaseDelay: 1, MaxDelay: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := sa.User("alice@example.test")
	tok, err := u.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u.Invalidate(tok)
	tok2, err := u.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, unknownErr := sa.User("nobody@example.test").Token(ctx)
	if unknownErr == nil {
		t.Fatal("unknown user got a token")
	}

	der, _ := x509.MarshalPKCS8PrivateKey(e2eSAKey())
	keyB64 := base64.StdEncoding.EncodeToString(der)
	mu.Lock()
	text := logs.String()
	mu.Unlock()
	text += unknownErr.Error() + fmt.Sprintf("%v %+v %#v", sa, u, u)
	if !strings.Contains(text, "alice@example.test") {
		t.Fatalf("nothing was logged: %q", text)
	}
	for _, secret := range []string{tok.AccessToken, tok2.AccessToken, keyB64[40:80], keyB64[len(keyB64)-64:]} {
		if strings.Contains(text, secret) {
			t.Fatalf("secret in logs or errors:\n%s", text)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
