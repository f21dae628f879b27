package sasltest_test

import (
	"context"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// printer reports violations on standard output; in a test, pass the
// *testing.T instead.
type printer struct{ n int }

func (p *printer) Helper() {}
func (p *printer) Errorf(format string, args ...any) {
	p.n++
	fmt.Printf(format+"\n", args...)
}

// CheckMechanism runs a mechanism (here the built-in PLAIN) through the
// contract: success, rejection, withheld initial response, hostile input,
// nothing accepted after the end, and no secret in any error or formatting.
func ExampleCheckMechanism() {
	verifier := sasl.PasswordVerifierFunc(func(_ context.Context, authzid, user, pass string) (sasl.Identity, error) {
		if user == "tim" && pass == "tanstaaftanstaaf" {
			return sasl.Identity{Username: user, Authzid: authzid}, nil
		}
		return sasl.Identity{}, sasl.ErrAuthFailed
	})
	var t printer
	sasltest.CheckMechanism(&t, sasltest.MechanismCheck{
		Mechanism: plain.Mechanism(),
		Verifiers: &sasl.Verifiers{Password: verifier},
		Good:      &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"},
		Bad:       &sasl.Credentials{Username: "tim", Password: "guess"},
	})
	fmt.Println("violations:", t.n)
	// Output:
	// violations: 0
}
