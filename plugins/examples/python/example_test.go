package python_test

import (
	"context"
	"fmt"
	"os"

	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/sasl"
)

// A program loads the Python plugin like any other plugin: with the
// script's SHA-256, recorded when it was installed (here with
// "sha256sum token_file_plugin.py > token_file_plugin.sha256"), and the
// token file as its argument.
func Example() {
	const (
		script = "/opt/saslkit/python/token_file_plugin.py"
		sums   = "/etc/saslkit/token_file_plugin.sha256"
	)
	data, err := os.ReadFile(sums)
	if err != nil {
		fmt.Println(err)
		return
	}
	manifest, err := plugins.ParseManifest(sums, data)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p, err := plugins.Open(ctx, script, &plugins.Options{
		Checksum: manifest["token_file_plugin.py"],
		Args:     []string{"/run/mail-tokens.json"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	creds := &sasl.Credentials{Username: "alice@example.com", TokenSource: p.TokenSource("alice@example.com")}
	tok, err := creds.TokenSource.Token(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.Expiry)
}
