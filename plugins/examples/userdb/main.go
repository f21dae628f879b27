// Command userdb is a saslkit mechanism plugin that keeps a mail server's
// user database in a process of its own. It serves PLAIN, SCRAM-SHA-256
// and SCRAM-SHA-256-PLUS, client and server side; its servers check credentials against a user file
// given as its only argument, so the mail server process never reads the
// file and never sees a stored key.
//
// The user file has one "username:password" line per user; blank lines and
// lines starting with '#' are skipped. SCRAM credentials are derived from
// the passwords once, at start, with a fresh random salt per user.
//
// SCRAM-SHA-256-PLUS binds the exchange to the host's TLS connection
// although the exchange runs in this process: the host sends the
// connection's tls-exporter value and the server's certificate with every
// conversation, and the plugin binds to them (sasl.ConnState.ChannelBinding).
// Because its SCRAM server can bind, it treats a client's gs2 flag "y" as a
// downgrade (RFC 5802 §6): a host serving SCRAM-SHA-256 from this plugin
// over TLS advertises SCRAM-SHA-256-PLUS too.
//
// Build it, record its checksum and open it from a host:
//
//	go build -o /usr/local/lib/saslkit/plugins/userdb ./plugins/examples/userdb
//	cd /usr/local/lib/saslkit/plugins && sha256sum userdb > SHA256SUMS
//
//	set, err := plugins.OpenDir(ctx, "/usr/local/lib/saslkit/plugins", &plugins.Options{Args: []string{"/etc/mail/users"}})
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/sasl"
)

// iterations is the SCRAM iteration count of the derived credentials.
const iterations = 4096

type user struct {
	password string
	scram    sasl.SCRAMCredentials
}

func main() {
	log := plugins.NewLogger(nil)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: userdb USERFILE (run by a saslkit host)")
		os.Exit(2)
	}
	users, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "userdb:", err)
		os.Exit(1)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	opts := &scram.Options{FakeSaltKey: key, Iterations: iterations}
	plugins.Serve(&plugins.ServeConfig{
		Name:       "userdb",
		Version:    "1",
		Mechanisms: []sasl.Mechanism{scram.SHA256Plus(opts), scram.SHA256(opts), plain.Mechanism()},
		Verifiers: &sasl.Verifiers{
			Password: sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
				u, ok := users[username]
				if !ok || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
					log.Info("authentication failed", "user", username)
					return sasl.Identity{}, sasl.ErrAuthFailed
				}
				if authzid != "" && authzid != username {
					return sasl.Identity{}, fmt.Errorf("%w: %s may not act as %s", sasl.ErrAuthFailed, username, authzid)
				}
				return sasl.Identity{Username: username, Authzid: authzid}, nil
			}),
			SCRAM: sasl.SCRAMLookupFunc(func(_ context.Context, hash, username string) (sasl.SCRAMCredentials, error) {
				u, ok := users[username]
				if !ok || hash != "SHA-256" {
					return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
				}
				return u.scram, nil
			}),
		},
		Logger: log,
	})
}

// load reads the user file and derives each user's SCRAM credentials.
func load(path string) (map[string]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users := map[string]user{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, password, ok := strings.Cut(line, ":")
		if !ok || name == "" || password == "" {
			return nil, fmt.Errorf("%s line %d: want username:password", path, n)
		}
		creds, err := scram.StoredCredentials("SHA-256", password, scram.NewSalt(), iterations)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		users[name] = user{password: password, scram: creds}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, errors.New(path + ": no users")
	}
	return users, nil
}
