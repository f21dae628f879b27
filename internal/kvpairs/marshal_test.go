package kvpairs

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The encoding/json forms the hand-written encoders must match byte for
// byte.
type xoauth2JSON struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

type oauthBearerJSON struct {
	Status              string `json:"status"`
	Schemes             string `json:"schemes,omitempty"`
	Scope               string `json:"scope,omitempty"`
	OpenIDConfiguration string `json:"openid-configuration,omitempty"`
}

func stdMarshal(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func checkMarshal(t testing.TB, e Error) {
	t.Helper()
	if got, want := MarshalXOAUTH2(e), stdMarshal(t, xoauth2JSON{e.Status, e.Schemes, e.Scope}); !bytes.Equal(got, want) {
		t.Fatalf("MarshalXOAUTH2(%q)\n got %s\nwant %s", e, got, want)
	}
	if got, want := MarshalOAuthBearer(e), stdMarshal(t, oauthBearerJSON(e)); !bytes.Equal(got, want) {
		t.Fatalf("MarshalOAuthBearer(%q)\n got %s\nwant %s", e, got, want)
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	var all []byte
	for c := 0; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	for _, e := range []Error{
		{},
		{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"},
		{Status: "invalid_token", Scope: "a&b<c>", OpenIDConfiguration: "https://example.com/.well-known/openid-configuration"},
		{Status: string(all), Schemes: "\u00e9\u2028\u2029\U0001F600", Scope: "\xff\xfe bad \xc3", OpenIDConfiguration: "\"\\/\b\f\n\r\t\x00\x1f\x7f"},
	} {
		checkMarshal(t, e)
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add("401", "bearer mac", "https://mail.google.com/", "")
	f.Add("\x00\"\\", "\u2028", "\xff", "<&>")
	f.Fuzz(func(t *testing.T, status, schemes, scope, oidc string) {
		checkMarshal(t, Error{status, schemes, scope, oidc})
	})
}
