package scram_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/sasl"
)

// users is an application's credential store: SCRAM credentials computed
// once from the password, by hash.
type users map[string]map[string]sasl.SCRAMCredentials

func (u users) LookupSCRAM(_ context.Context, hash, username string) (sasl.SCRAMCredentials, error) {
	c, ok := u[username][hash]
	if !ok {
		return sasl.SCRAMCredentials{}, fmt.Errorf("%w: %s", sasl.ErrUnknownUser, username)
	}
	return c, nil
}

// exchange relays messages between a client and a server in memory, as a
// protocol library would over IMAP, SMTP or POP3.
func exchange(c sasl.Client, s sasl.Server) error {
	_, resp, err := c.Start()
	if err != nil {
		return err
	}
	for {
		challenge, done, err := s.Next(resp)
		if err != nil || done {
			return err
		}
		if resp, err = c.Next(challenge); err != nil {
			return err
		}
	}
}

// A SCRAM-SHA-256 client authenticates to a server in memory.
func ExampleNewClient() {
	creds, err := scram.StoredCredentials(scram.HashSHA256, "pencil", scram.NewSalt(), 4096)
	if err != nil {
		panic(err)
	}
	db := users{"user": {scram.HashSHA256: creds}}
	opts := &scram.Options{FakeSaltKey: []byte("a long, random, secret key of the server")}

	client, err := scram.NewClient(scram.MechSHA256, &sasl.ClientParams{Username: "user", Password: "pencil"}, nil)
	if err != nil {
		panic(err)
	}
	server, err := scram.NewServer(context.Background(), scram.MechSHA256, db, nil, opts)
	if err != nil {
		panic(err)
	}
	if err := exchange(client, server); err != nil {
		panic(err)
	}
	id, _ := server.Identity()
	fmt.Println("server: authenticated", id.Username, "with", id.Mechanism)
	fmt.Println("client: server verified:", client.Verified())

	// A wrong password: the client answers the server's e= and records why.
	client, _ = scram.NewClient(scram.MechSHA256, &sasl.ClientParams{Username: "user", Password: "wrong"}, nil)
	server, _ = scram.NewServer(context.Background(), scram.MechSHA256, db, nil, opts)
	err = exchange(client, server)
	fmt.Println("server:", errors.Is(err, sasl.ErrAuthFailed))
	fmt.Println("client:", sasl.FailureOf(client))
	// Output:
	// server: authenticated user with SCRAM-SHA-256
	// client: server verified: true
	// server: true
	// client: scram: server refused authentication: invalid-proof
}

// StoredCredentials derives what a server stores instead of the password.
// With the salt and iteration count of RFC 7677 §3 it gives the keys behind
// that exchange.
func ExampleStoredCredentials() {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	creds, err := scram.StoredCredentials(scram.HashSHA256, "pencil", salt, 4096)
	if err != nil {
		panic(err)
	}
	fmt.Println("StoredKey:", base64.StdEncoding.EncodeToString(creds.StoredKey))
	fmt.Println("ServerKey:", base64.StdEncoding.EncodeToString(creds.ServerKey))
	fmt.Println(creds) // the keys never print
	// Output:
	// StoredKey: WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=
	// ServerKey: wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=
	// sasl.SCRAMCredentials{Iterations:4096 Keys:[REDACTED]}
}

// The descriptors go into a sasl.Registry; negotiation then picks the
// strongest SCRAM form both sides support (the -PLUS forms need TLS).
func ExampleAll() {
	reg := sasl.NewRegistry()
	for _, m := range scram.All(nil) {
		reg.MustRegister(m)
	}
	creds, _ := scram.StoredCredentials(scram.HashSHA512, "pencil", scram.NewSalt(), 4096)
	db := users{"user": {scram.HashSHA512: creds}}

	ctx := context.Background()
	advertised := reg.ServerMechanisms(&sasl.ConnState{}, nil)
	fmt.Println("advertised without TLS:", advertised)
	n, err := reg.Negotiate(ctx, advertised, &sasl.Credentials{Username: "user", Password: "pencil"}, &sasl.ConnState{}, nil)
	if err != nil {
		panic(err)
	}
	server, err := reg.NewServer(ctx, n.Mechanism.Name, &sasl.Verifiers{SCRAM: db}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("negotiated:", n.Mechanism.Name, exchange(n.Client, server))
	// Output:
	// advertised without TLS: [SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1]
	// negotiated: SCRAM-SHA-512 <nil>
}
