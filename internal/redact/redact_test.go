package redact_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/internal/redact"
)

type holder struct{ secret string }

func (h holder) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "holder{secret:"+redact.Secret(h.secret)+"}")
}

func TestFormatEveryVerb(t *testing.T) {
	h := holder{secret: "hunter2-Secret"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%10v"} {
		for _, v := range []any{h, &h, struct{ H holder }{h}, []holder{h}, map[string]holder{"k": h}} {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, "hunter2") {
				t.Errorf("%s of %T shows the secret: %s", verb, v, got)
			}
		}
	}
	if got, want := fmt.Sprintf("%q", h), `"holder{secret:[REDACTED]}"`; got != want {
		t.Errorf("%%q = %s, want %s", got, want)
	}
	if got := fmt.Sprintf("%v", holder{}); got != "holder{secret:}" {
		t.Errorf("empty secret: %s", got)
	}
}
