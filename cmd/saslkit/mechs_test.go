package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMechs(t *testing.T) {
	t.Setenv(configEnv, t.TempDir()+"/none.toml")
	code, out, stderr := runInProcess(t.Context(), "mechs")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "MECHANISM") || !strings.HasPrefix(lines[1], "EXTERNAL ") || !strings.Contains(out, "\nANONYMOUS ") {
		t.Errorf("text output:\n%s", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "XOAUTH2" && (f[1] != "40" || f[2] != "yes" || f[5] != "on" || f[6] != "token") {
			t.Errorf("XOAUTH2 row: %q", l)
		}
		if len(f) > 0 && f[0] == "CRAM-MD5" && f[5] != "off" {
			t.Errorf("CRAM-MD5 row: %q", l)
		}
	}

	code, out, _ = runInProcess(t.Context(), "mechs", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	var j mechsJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Mechanisms) != 13 {
		t.Errorf("%d mechanisms, want the 13 built-in ones", len(j.Mechanisms))
	}
	by := map[string]mechJSON{}
	for i, m := range j.Mechanisms {
		by[m.Name] = m
		if i > 0 && m.Strength > j.Mechanisms[i-1].Strength {
			t.Errorf("not strongest first: %s after %s", m.Name, j.Mechanisms[i-1].Name)
		}
	}
	if m := by["SCRAM-SHA-256-PLUS"]; !m.ChannelBinding || !m.MutualAuth || m.SendsSecret || m.Needs[0] != "password" || !m.Client || !m.Server {
		t.Errorf("SCRAM-SHA-256-PLUS: %+v", m)
	}
	if m := by["OAUTHBEARER"]; !m.SendsSecret || m.Standard != "RFC 7628" || m.Needs[0] != "token" {
		t.Errorf("OAUTHBEARER: %+v", m)
	}
	if m := by["ANONYMOUS"]; !m.OffByDefault || !m.Anonymous || m.Needs[0] != "nothing" {
		t.Errorf("ANONYMOUS: %+v", m)
	}
	if m := by["CRAM-MD5"]; !m.Dictionary || !m.OffByDefault {
		t.Errorf("CRAM-MD5: %+v", m)
	}
}

func TestAccountCommandsUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"help"}, code: exitOK, stdout: "authorize"},
		{args: []string{"help", "token"}, code: exitOK, stdout: "Usage: saslkit token [flags] ACCOUNT"},
		{args: []string{"help", "check"}, code: exitOK, stdout: "pop3://[user@]host[:110]"},
		{args: []string{"authorize", "-h"}, code: exitOK, stdout: "-no-browser"},
		{args: []string{"config", "--help"}, code: exitOK, stdout: "6 accounts file missing or wrong"},
		{args: []string{"token", "a", "b"}, code: exitUsage, stderr: "saslkit: token: want one ACCOUNT, got 2 arguments"},
		{args: []string{"authorize"}, code: exitUsage, stderr: "want one ACCOUNT"},
		{args: []string{"check"}, code: exitUsage, stderr: "want one TARGET"},
		{args: []string{"check", "--timeout", "0", "x"}, code: exitUsage, stderr: "--timeout must be positive"},
		{args: []string{"mechs", "x"}, code: exitUsage, stderr: `unexpected argument "x"`},
		{args: []string{"token", "--frob"}, code: exitUsage, stderr: "flag provided but not defined: -frob"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runInProcess(t.Context(), tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q", code, tc.code, stdout, stderr)
			}
		})
	}
}
