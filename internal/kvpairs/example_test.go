package kvpairs_test

import (
	"fmt"

	"github.com/saslkit/saslkit/internal/kvpairs"
)

func ExampleScanner() {
	msg := []byte("host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01")
	sc := kvpairs.NewScanner(msg, false)
	for sc.Next() {
		if string(sc.Key()) == "auth" {
			fmt.Println("auth: (redacted)")
			continue
		}
		fmt.Printf("%s: %s\n", sc.Key(), sc.Value())
	}
	fmt.Println("error:", sc.Err())
	// Output:
	// host: server.example.com
	// port: 143
	// auth: (redacted)
	// error: <nil>
}

func ExampleParseError() {
	e, err := kvpairs.ParseError([]byte(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n"))
	fmt.Printf("%+v %v\n", e, err)
	// Output:
	// {Status:401 Schemes:bearer mac Scope:https://mail.google.com/ OpenIDConfiguration:} <nil>
}

func ExampleParseBearer() {
	tok, err := kvpairs.ParseBearer([]byte("bearer abc.def"))
	fmt.Println(string(tok), err)
	_, err = kvpairs.ParseBearer([]byte("Basic dXNlcjpwYXNz"))
	fmt.Println(err)
	// Output:
	// abc.def <nil>
	// authorization scheme is not Bearer
}
