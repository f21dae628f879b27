package jsonerr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestKindNeverQuotesTheInput(t *testing.T) {
	const secret = "ya29.SECRET-token-value"
	type rec struct {
		AccessToken string `json:"access_token"`
		Expiry      int64  `json:"expiry"`
	}
	for _, tc := range []struct {
		in, want string
		strict   bool
	}{
		{`{"access_token":"` + secret + `"`, "truncated JSON", false},
		{`{"access_token":"` + secret + `" x}`, "JSON syntax error at offset", false},
		{`{"access_token":"` + secret + `","expiry":"` + secret + `"}`, `wrong JSON type for field "expiry"`, false},
		{`{"access_token":"x","` + secret + `":1}`, "unknown field", true},
		{``, "truncated JSON", false},
	} {
		var r rec
		d := json.NewDecoder(bytes.NewReader([]byte(tc.in)))
		if tc.strict {
			d.DisallowUnknownFields()
		}
		err := d.Decode(&r)
		if err == nil {
			t.Fatalf("%q decoded", tc.in)
		}
		got := Kind(err)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("Kind(%q) = %q, want prefix %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "SECRET") {
			t.Errorf("Kind quotes the input: %q", got)
		}
	}
}
