package scram

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
)

// StoredCredentials computes the values a SCRAM server stores for a user
// (RFC 5802 §3): StoredKey and ServerKey derived from the password with
// PBKDF2 over salt and iters, for hash "SHA-1", "SHA-256" or "SHA-512". The
// password is SASLprepped first, as the client does. Store the result, not
// the password; one set is needed per hash the server offers.
func StoredCredentials(hash, password string, salt []byte, iters int) (sasl.SCRAMCredentials, error) {
	s, ok := specFor(hash)
	if !ok {
		return sasl.SCRAMCredentials{}, fmt.Errorf("scram: unknown hash %s", strconv.Quote(hash))
	}
	if iters <= 0 {
		return sasl.SCRAMCredentials{}, errors.New("scram: iteration count must be positive")
	}
	if len(salt) == 0 {
		return sasl.SCRAMCredentials{}, errors.New("scram: salt is empty")
	}
	pass, err := prep(password, "password")
	if err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	if pass == "" {
		return sasl.SCRAMCredentials{}, errors.New("scram: password is empty")
	}
	xc, err := xdgscram.HashGeneratorFcn(s.newHash).NewClientUnprepped("", pass, "")
	if err != nil {
		return sasl.SCRAMCredentials{}, fmt.Errorf("scram: %w", err)
	}
	sc, err := xc.GetStoredCredentialsWithError(xdgscram.KeyFactors{Salt: string(salt), Iters: iters})
	if err != nil {
		return sasl.SCRAMCredentials{}, fmt.Errorf("scram: deriving keys: %w", err)
	}
	return sasl.SCRAMCredentials{
		Salt:       append([]byte(nil), salt...),
		Iterations: iters,
		StoredKey:  sc.StoredKey,
		ServerKey:  sc.ServerKey,
	}, nil
}

// NewSalt returns SaltSize random bytes, a salt for StoredCredentials of the
// same length as the fake salts a server announces for unknown users.
func NewSalt() []byte {
	b := make([]byte, SaltSize)
	// crypto/rand.Read never returns an error (Go 1.24 and later).
	_, _ = rand.Read(b)
	return b
}
