package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrors: every kind of mistake is reported with the file, the
// line and the key, without quoting a secret.
func TestConfigErrors(t *testing.T) {
	const good = `[accounts.a]
user = "a@example.com"
provider = "google"
client_id = "id"
`
	for _, tc := range []struct {
		name, text string
		want       []string // "line:text" fragments, in order
	}{
		{"syntax", "[accounts.a]\nuser = \"a@example.com\nprovider = \"google\"\n", []string{":2: TOML syntax:"}},
		{"duplicate", good + "user = \"b@example.com\"\n", []string{":5: TOML syntax:"}},
		{"unknown top-level key", "colour = true\n" + good, []string{":1: colour: unknown key"}},
		{"unknown account key", good + "usr = \"x\"\n", []string{`:5: accounts.a.usr: unknown key (did you mean "user"?)`}},
		{"wrong type", good + "scopes = \"https://mail.google.com/\"\n", []string{":5: accounts.a.scopes: must be an array of strings"}},
		{"wrong type number", good + "imap = 993\n", []string{":5: accounts.a.imap: must be a string"}},
		{"literal client secret", good + "client_secret = \"GOCSPX-s3cr3t\"\n", []string{":5: accounts.a.client_secret: secrets do not belong in the accounts file; use client_secret_env or client_secret_cmd"}},
		{"literal password", "[accounts.p]\nuser = \"p\"\nprovider = \"password\"\npassword = \"hunter2\"\n", []string{":4: accounts.p.password: secrets do not belong"}},
		{"literal refresh token", good + "refresh_token = \"1//0gabc\"\n", []string{":5: accounts.a.refresh_token: secrets do not belong in the accounts file; use saslkit authorize"}},
		{"secret in an env key", good + "client_secret_env = \"GOCSPX-s3cr3t value\"\n", []string{":5: accounts.a.client_secret_env: must name an environment variable"}},
		{"missing user", "\n[accounts.a]\nprovider = \"google\"\nclient_id = \"id\"\n", []string{`:2: accounts.a: missing key "user"`}},
		{"missing client_id", "[accounts.a]\nuser = \"a@example.com\"\nprovider = \"microsoft\"\n", []string{`:1: accounts.a: provider "microsoft" needs "client_id"`}},
		{"missing provider", "[accounts.a]\nuser = \"a@example.com\"\n", []string{`:1: accounts.a: missing key "provider"`}},
		{"unknown provider", "[accounts.a]\nuser = \"a@example.com\"\nprovider = \"yahoo\"\n", []string{`:3: accounts.a.provider: unknown provider "yahoo"`}},
		{"bad server URL", good + "smtp = \"imaps://mail.example.com\"\n", []string{":5: accounts.a.smtp: imaps is a IMAP URL"}},
		{"http token URL", "[accounts.o]\nuser = \"o@example.com\"\nprovider = \"oauth2\"\nclient_id = \"c\"\ntoken_url = \"http://login.example.com/token\"\n", []string{":5: accounts.o.token_url:", "plain http is allowed only to a loopback host"}},
		{"not applicable", good + "key_file = \"k.json\"\n", []string{`:1: accounts.a: "key_file" does not apply to provider "google"`}},
		{"both env and cmd", good + "client_secret_env = \"X\"\nclient_secret_cmd = [\"pass\"]\n", []string{"either by environment variable"}},
		{"bad duration", "[accounts.x]\nuser = \"x@example.com\"\nprovider = \"exec\"\ncommand = [\"helper\"]\nlifetime = \"soon\"\n", []string{`:5: accounts.x.lifetime: "soon" is not a positive duration`}},
		{"unknown plugin", "[accounts.p]\nuser = \"p@example.com\"\nprovider = \"plugin\"\nplugin = \"nope\"\n", []string{`:1: accounts.p: plugin "nope" is neither a [plugins.nope] table nor in a plugin_dir`}},
		{"plugin without checksum", "[plugins.x]\npath = \"/bin/x\"\n", []string{`:1: plugins.x: missing key "sha256"`}},
		{"plugin bad checksum", "[plugins.x]\npath = \"/bin/x\"\nsha256 = \"abc\"\n", []string{`:3: plugins.x.sha256: must be the file's SHA-256`}},
		{"several", "a = 1\n" + good + "b = 2\n", []string{":1: a: unknown key", ":6: accounts.a.b: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "accounts.toml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], path+w)
				if strings.HasPrefix(w, ":") && i < 0 || !strings.HasPrefix(w, ":") && !strings.Contains(msg, w) {
					t.Fatalf("error %q lacks %q", msg, w)
				}
				if i >= 0 {
					at += i
				}
			}
			for _, secret := range []string{"GOCSPX-s3cr3t", "hunter2", "1//0gabc"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error quotes a secret: %q", msg)
				}
			}
			var ce *configError
			if !errors.As(err, &ce) {
				t.Errorf("%T is not a *configError", err)
			}
			// The program reports it with exit code 6.
			code, _, stderr := runInProcess(t.Context(), "config", "--config", path)
			if code != exitConfig || !strings.HasPrefix(stderr, "saslkit: "+path+":") {
				t.Errorf("config: exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// TestConfigExample: the example parses, lists every provider kind, and
// docs/cli.md shows it verbatim.
func TestConfigExample(t *testing.T) {
	cfg, err := parseConfig("/home/u/.config/saslkit/accounts.toml", []byte(configExample))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[providerKind]bool{}
	for _, a := range cfg.accounts {
		kinds[a.provider] = true
	}
	for _, k := range providerKinds {
		if !kinds[k] {
			t.Errorf("the example has no %s account", k)
		}
	}
	if got := strings.Join(cfg.names(), " "); got != "gmail work example relay archive helper fleet home" {
		t.Errorf("accounts in file order: %s", got)
	}
	if a := cfg.lookup("relay"); a.keyFile != filepath.Join(os.Getenv("HOME"), ".config/saslkit/relay-key.json") && os.Getenv("HOME") != "" {
		t.Errorf("key_file %q: ~ not expanded", a.keyFile)
	}
	if a := cfg.lookup("work"); a.smtp.String() != "smtp://smtp.office365.com:587" || !a.smtp.startTLS {
		t.Errorf("work smtp %+v", a.smtp)
	}
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```toml\n"+configExample+"```\n") {
		t.Error("docs/cli.md does not hold the example of saslkit config --example verbatim")
	}
	code, out, _ := runInProcess(t.Context(), "config", "--example")
	if code != 0 || out != configExample {
		t.Errorf("config --example: exit %d", code)
	}
}

// TestConfigCommand lists the accounts of a good file.
func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(path, []byte("token_dir = \"tok\"\n"+configExample), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runInProcess(t.Context(), "config", "--config", path, "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, w := range []string{`"token_dir":"` + filepath.Join(dir, "tok") + `"`, `"name":"archive"`, `"scopes":["https://outlook.office365.com/.default"]`, `"servers":["imaps://outlook.office365.com:993","pop3s://outlook.office365.com:995","smtp://smtp.office365.com:587"]`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}
	t.Setenv(configEnv, path)
	code, out, _ = runInProcess(t.Context(), "config")
	if code != 0 || !strings.Contains(out, "8 accounts") {
		t.Errorf("config via $%s: exit %d, %q", configEnv, code, out)
	}
	t.Setenv(configEnv, filepath.Join(dir, "none.toml"))
	code, _, stderr = runInProcess(t.Context(), "config")
	if code != exitConfig || !strings.Contains(stderr, "no accounts file at "+filepath.Join(dir, "none.toml")) {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}

// TestSecretCommand: a password command's first line, spaces kept; a
// failing command reported without its output.
func TestSecretCommand(t *testing.T) {
	ctx := t.Context()
	got, err := secretRef{cmd: []string{"sh", "-c", "printf 'correct horse battery\\nsecond line\\n'"}}.resolve(ctx, "password", nil)
	if err != nil || got != "correct horse battery" {
		t.Errorf("got %q, %v", got, err)
	}
	_, err = secretRef{cmd: []string{"sh", "-c", "echo leaked-secret-output; echo leaked-secret-err >&2; exit 3"}}.resolve(ctx, "password", nil)
	if err == nil || !strings.Contains(err.Error(), "password_cmd: sh exited with status 3") || strings.Contains(err.Error(), "leaked") {
		t.Errorf("failing command: %v", err)
	}
	_, err = secretRef{cmd: []string{"sh", "-c", "true"}}.resolve(ctx, "password", nil)
	if err == nil || !strings.Contains(err.Error(), "printed nothing") {
		t.Errorf("silent command: %v", err)
	}
	_, err = secretRef{env: "SASLKIT_TEST_UNSET_VARIABLE"}.resolve(ctx, "client_secret", nil)
	if err == nil || err.Error() != "client_secret_env: $SASLKIT_TEST_UNSET_VARIABLE is not set" {
		t.Errorf("unset variable: %v", err)
	}
}

// TestServerURL parses the URLs check takes.
func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"imaps://mail.example.com":          "imaps://mail.example.com:993 imap tls",
		"IMAP://u@mail.example.com":         "imap://mail.example.com:143 imap starttls u",
		"smtp://smtp.office365.com":         "smtp://smtp.office365.com:587 smtp starttls",
		"smtps://smtp.gmail.com:465/":       "smtps://smtp.gmail.com:465 smtp tls",
		"pop3://[::1]:1110":                 "pop3://[::1]:1110 pop3 starttls",
		"pop3s://a%40b.example@pop.example": "pop3s://pop.example:995 pop3 tls a@b.example",
	} {
		u, err := parseServerURL(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		mode := "tls"
		if u.startTLS {
			mode = "starttls"
		}
		got := strings.TrimSpace(u.String() + " " + u.protocol + " " + mode + " " + u.user)
		if got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"mail.example.com":               "not a server URL",
		"https://mail.example.com":       "unknown scheme",
		"imaps://u:pw@mail.example.com":  "must not carry a password",
		"imaps://mail.example.com/INBOX": "without a path",
		"imaps://:993":                   "needs a host",
		"imaps://h:99999":                "out of range",
	} {
		_, err := parseServerURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") && strings.Contains(in, "pw") {
			t.Errorf("%s: error quotes the password: %v", in, err)
		}
	}
}

// TestPickAccount: check's choice of account from a URL.
func TestPickAccount(t *testing.T) {
	cfg, err := parseConfig("/a.toml", []byte(`
[accounts.a]
user = "alice@example.com"
provider = "google"
client_id = "x"
imap = "imaps://imap.example.com"
[accounts.a2]
user = "alice@example.com"
provider = "google"
client_id = "x"
imap = "imaps://imap.other.example"
[accounts.b]
user = "bob@example.com"
provider = "google"
client_id = "x"
imap = "imaps://imap.other.example"
[accounts.c]
user = "carol@example.com"
provider = "google"
client_id = "x"
smtp = "smtps://smtp.only.example"
`))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"imaps://alice%40example.com@imap.example.com":   "a",
		"imaps://alice%40example.com@imap.other.example": "a2",
		"imaps://bob%40example.com@imap.example.com":     "b", // the only bob, whatever the host
		"smtps://smtp.only.example":                      "c", // the only account on the host
		"imaps://alice%40example.com@nowhere.example":    "error: several accounts match",
		"imaps://imap.other.example":                     "error: several accounts use imap.other.example: a2, b",
		"imaps://dave%40example.com@imap.example.com":    "error: no account of /a.toml matches",
		"imaps://mail.unknown.example":                   "error: no account",
	} {
		u, err := parseServerURL(in)
		if err != nil {
			t.Fatal(err)
		}
		a, err := pickAccount(cfg, u)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = a.name
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "gmail": true, "work.alice@x+y-z_": true, "9lives": true, "": false, ".x": false, "a b": false, "é": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false} {
		if validAccountName(s) != want {
			t.Errorf("account name %q: %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"X": true, "_X1": true, "GMAIL_SECRET": true, "1X": false, "": false, "A-B": false, "GOCSPX secret": false, strings.Repeat("A", 129): false} {
		if validEnvName(s) != want {
			t.Errorf("env name %q: %v", s, !want)
		}
	}
}

// TestConfigHelpNamesEveryKey keeps "saslkit help config" and docs/cli.md
// in step with the parser.
func TestConfigHelpNamesEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append(knownAccountKeys(), "token_dir", "plugin_dir", "sha256", "args") {
		short := strings.TrimSuffix(k, "_cmd") + "_env/_cmd"
		if !strings.Contains(configAbout, k) && !strings.Contains(configAbout, short) {
			t.Errorf("saslkit help config does not name %s", k)
		}
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/cli.md does not name `%s`", k)
		}
	}
	for _, k := range providerKinds {
		if !strings.Contains(configAbout, string(k)) || !strings.Contains(string(doc), "| `"+string(k)+"` |") {
			t.Errorf("provider %s missing from the help or the docs' table", k)
		}
	}
}
