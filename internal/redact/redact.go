// Package redact formats values that hold secrets without revealing them.
//
// Types that carry a password, token or key implement fmt.Formatter with
// Format, so that every verb (%v, %+v, %#v, %s, %q, %x) prints a description
// instead of the struct's fields.
package redact

import (
	"fmt"
	"io"
)

// Placeholder is printed instead of a secret value.
const Placeholder = "[REDACTED]"

// Format writes desc for every verb. It is meant to be called from a type's
// Format method:
//
//	func (c *client) Format(f fmt.State, verb rune) { redact.Format(f, verb, "xoauth2.Client{user=…}") }
func Format(f fmt.State, verb rune, desc string) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", desc)
		return
	}
	_, _ = io.WriteString(f, desc)
}

// Secret returns Placeholder when s is not empty and "" otherwise, so that a
// description can say whether a secret is set without showing it.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	return Placeholder
}
