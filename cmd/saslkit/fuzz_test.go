package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzConfig: any file gives a config or an error naming the file, never
// a panic, and never an error that quotes the value of a secret key.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(configExample))
	f.Add([]byte("[accounts.a]\nuser = \"a@example.com\"\nprovider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s3cr3tvalue\"\n"))
	f.Add([]byte("a = [\n"))
	f.Add([]byte("[accounts]\nx = 1\n"))
	f.Add([]byte("accounts = 3\n"))
	f.Add([]byte("[accounts.\"a.b\"]\nuser = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig("f.toml", data)
		if err == nil {
			for _, a := range cfg.accounts {
				if a.user == "" || a.provider == "" {
					t.Fatalf("account %q accepted without user or provider", a.name)
				}
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "f.toml") && !strings.Contains(err.Error(), "token directory") {
			t.Fatalf("error does not name the file: %v", err)
		}
		var ce *configError
		if !errors.As(err, &ce) && !strings.Contains(err.Error(), "token directory") {
			t.Fatalf("%T is not a configError", err)
		}
		if strings.Contains(err.Error(), "s3cr3tvalue") && onlyUnderSecretKeys(data, "s3cr3tvalue") {
			t.Fatalf("error quotes a secret: %v", err)
		}
	})
}

// onlyUnderSecretKeys reports whether every occurrence of lit in the TOML
// data is inside the value of a key a secret is written under
// (literalSecretKeys), or the data does not parse (then any quoting of lit
// counts). A value the parser echoes from another key (an unknown
// provider's name, say) is not a secret the file was asked to hold.
func onlyUnderSecretKeys(data []byte, lit string) bool {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return true
	}
	var walk func(v any, key string) int
	walk = func(v any, key string) int {
		n := 0
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				n += walk(x, k)
			}
		case []map[string]any:
			for _, x := range v {
				n += walk(x, key)
			}
		case []any:
			for _, x := range v {
				n += walk(x, key)
			}
		case string:
			if _, secret := literalSecretKeys[key]; secret {
				n += strings.Count(v, lit)
			}
		}
		return n
	}
	return walk(doc, "") == bytes.Count(data, []byte(lit))
}

// FuzzServerURL: any string parses or fails cleanly; a parsed URL prints
// back to one that parses the same.
func FuzzServerURL(f *testing.F) {
	for _, s := range []string{"imaps://u@h:993", "smtp://h", "pop3://[::1]:110", "imap://%zz@h", "smtps://h:0", "imaps://u:p@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseServerURL(s)
		if err != nil {
			return
		}
		v, err := parseServerURL(u.String())
		if err != nil || v.String() != u.String() || v.protocol != u.protocol || v.startTLS != u.startTLS {
			t.Fatalf("%q → %q → %v, %v", s, u, v, err)
		}
		if u.port <= 0 || u.port > 65535 || u.host == "" {
			t.Fatalf("%q: host %q port %d", s, u.host, u.port)
		}
	})
}
