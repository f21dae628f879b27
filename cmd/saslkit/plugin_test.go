package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// buildPlugin builds the main package pkg of this module into dir and
// returns the binary's path and SHA-256.
func buildPlugin(t *testing.T, dir, pkg, name string) (path, sum string) {
	t.Helper()
	path = filepath.Join(dir, name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to build the plugins with: ", err)
	}
	cmd := exec.Command(goBin, "build", "-o", path, "github.com/saslkit/saslkit/"+pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	return path, hex.EncodeToString(h[:])
}

// TestPlugins: accounts whose tokens come from a plugin ([plugins.NAME]
// with its checksum, or a plugin_dir with a SHA256SUMS manifest), and the
// plugins' mechanisms in mechs.
func TestPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin programs")
	}
	e := newCLIEnv(t, nil)
	bin := t.TempDir()
	tokenfile, tokenfileSum := buildPlugin(t, bin, "plugins/examples/tokenfile", "tokenfile")
	pdir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, tpSum := buildPlugin(t, pdir, "plugins/internal/testplugin", "testplugin")
	if err := os.WriteFile(filepath.Join(pdir, "SHA256SUMS"), []byte(tpSum+"  testplugin\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tok, err := e.oauth.IssueToken(testClientID, testUser, e.scopes()...)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken)
	tokens := filepath.Join(e.dir, "tokens.json")
	js, _ := json.Marshal(map[string]any{testUser: map[string]any{"access_token": tok.AccessToken, "expiry": tok.Expiry.UTC().Format(time.RFC3339)}})
	if err := os.WriteFile(tokens, js, 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig := func(sum string) {
		e.writeConfig(fmt.Sprintf(`plugin_dir = %q

[plugins.tokens]
path = %q
sha256 = %q
args = [%q]

[accounts.viaplugin]
user = %q
provider = "plugin"
plugin = "tokens"
ca_file = %q
imap = "imaps://%s"
pop3 = "pop3://%s"

[accounts.fromdir]
user = "someone@example.test"
provider = "plugin"
plugin = "testplugin"
`, pdir, tokenfile, sum, tokens, testUser, e.caFile, e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), e.ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS)))
	}
	writeConfig(tokenfileSum)

	t.Run("token", func(t *testing.T) {
		code, out, errOut := e.run("token", "viaplugin")
		if code != 0 || out != tok.AccessToken+"\n" || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, errOut = e.run("token", "fromdir")
		if code != 0 || len(strings.TrimSpace(out)) < 8 {
			t.Fatalf("plugin_dir: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("check", func(t *testing.T) {
		code, out, errOut := e.run("check", "--json", "viaplugin")
		e.noSecrets("check's output", out+errOut)
		var res struct{ Results []*checkResult }
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Results) != 2 {
			t.Fatalf("exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
		}
		for _, r := range res.Results {
			if !r.Authenticated || r.Mechanism != "OAUTHBEARER" {
				t.Errorf("%s: %+v %+v", r.URL, r, r.Failure)
			}
		}
	})
	t.Run("mechs", func(t *testing.T) {
		code, out, errOut := e.run("mechs", "--json")
		var j mechsJSON
		if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
			t.Fatalf("exit %d, %v, stderr %q", code, err, errOut)
		}
		var fromPlugin []string
		for _, m := range j.Mechanisms {
			if m.Source == "plugin testplugin" {
				fromPlugin = append(fromPlugin, fmt.Sprintf("%s:%v", m.Name, m.Shadowed))
			}
		}
		got := strings.Join(fromPlugin, " ")
		if !strings.Contains(got, "TEST-STEP:false") || !strings.Contains(got, "PLAIN:true") {
			t.Errorf("plugin mechanisms: %s", got)
		}
		code, out, _ = e.run("mechs")
		if code != 0 || !strings.Contains(out, "plugin testplugin") || !strings.Contains(out, "(the built-in one is used)") {
			t.Errorf("text: exit %d\n%s", code, out)
		}
	})
	t.Run("checksum", func(t *testing.T) {
		writeConfig(strings.Repeat("0", 64))
		defer writeConfig(tokenfileSum)
		code, out, errOut := e.run("token", "viaplugin")
		if code != exitConfig || out != "" || !strings.Contains(errOut, "plugin tokens") || !strings.Contains(strings.ToLower(errOut), "checksum") {
			t.Errorf("wrong checksum: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
