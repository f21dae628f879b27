package plugins_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"sort"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// A host opens a token-source plugin, checked against its SHA-256, and uses
// its tokens for XOAUTH2 and OAUTHBEARER.
func ExampleOpen() {
	ctx := context.Background()
	p, err := plugins.Open(ctx, "/usr/local/lib/saslkit/tokenfile", &plugins.Options{
		Checksum: "4f5d1c7b0a3e9d2c8b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c",
		Args:     []string{"/run/saslkit/tokens.json"},
		Logger:   slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	creds := &sasl.Credentials{Username: "alice@example.com", TokenSource: p.TokenSource("alice@example.com")}
	n, err := mechanisms.Builtin().Negotiate(ctx, []string{"XOAUTH2", "OAUTHBEARER"}, creds, &sasl.ConnState{Host: "localhost"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.Mechanism.Name)
}

// A host loads every plugin of a directory listed in its SHA256SUMS and
// adds their mechanisms to a registry.
func ExampleOpenDir() {
	set, err := plugins.OpenDir(context.Background(), "/usr/local/lib/saslkit/plugins", nil)
	if err != nil {
		log.Fatal(err) // a file the manifest does not list is named here
	}
	defer set.Close()
	reg := mechanisms.Builtin()
	if err := set.Register(reg); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reg.Names())
}

// A token-source plugin is a main package that calls Serve. Here every
// account gets a token from a refresh-token provider; run by hand, the
// program says it is a plugin and exits.
func ExampleServe() {
	plugins.Serve(&plugins.ServeConfig{
		Name: "static-tokens",
		TokenSourceFor: func(ctx context.Context, account string, scopes []string) (sasl.TokenSource, error) {
			tok := os.Getenv("TOKEN_" + account)
			if tok == "" {
				return nil, fmt.Errorf("%w: no token for %s", providers.ErrReauthRequired, account)
			}
			return providers.StaticToken(tok), nil
		},
	})
}

// A mechanism plugin serves mechanisms and the verifiers their servers
// check credentials with.
func ExampleServe_mechanisms() {
	users := map[string]string{"alice@example.com": "correct horse"}
	plugins.Serve(&plugins.ServeConfig{
		Name:       "passwords",
		Mechanisms: mechanisms.Builtin().Mechanisms(),
		Verifiers: &sasl.Verifiers{
			Password: sasl.PasswordVerifierFunc(func(ctx context.Context, authzid, user, password string) (sasl.Identity, error) {
				if want, ok := users[user]; !ok || want != password {
					return sasl.Identity{}, sasl.ErrAuthFailed
				}
				return sasl.Identity{Username: user, Authzid: authzid}, nil
			}),
		},
		Logger: plugins.NewLogger(slog.LevelDebug),
	})
}

// ParseManifest reads a SHA256SUMS file as sha256sum writes it.
func ExampleParseManifest() {
	sums, err := plugins.ParseManifest("SHA256SUMS", []byte(
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  tokenfile\n"+
			"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 *userdb\n"))
	if err != nil {
		log.Fatal(err)
	}
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Println(name, sums[name][:12])
	}

	_, err = plugins.ParseManifest("SHA256SUMS", []byte("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  ../evil\n"))
	fmt.Println(err)
	// Output:
	// tokenfile 9f86d081884c
	// userdb 60303ae22b99
	// plugins: manifest "SHA256SUMS" line 1: "../evil": not a plain file name
}
