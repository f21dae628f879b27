package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/saslkit/saslkit/providers"
)

// BenchmarkParseConfig parses the example accounts file (eight accounts,
// one plugin), as every account command does first.
func BenchmarkParseConfig(b *testing.B) {
	data := []byte(configExample)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseConfig("/home/u/.config/saslkit/accounts.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEnv is a test server, an accounts file and a stored token that is
// still valid: what a mail client's password command meets nearly every
// time. It returns the token file's path.
func benchEnv(b *testing.B) (*cliEnv, string) {
	b.Helper()
	e := newCLIEnv(b, nil)
	e.seed("test", testUser, false)
	return e, providers.NewFileStore(e.tokenDir, nil).Path("test")
}

// BenchmarkToken runs "saslkit token" in this process against a stored,
// valid token: the accounts file, the token store's lock and load, the
// output. Its peer reads the same token file and nothing else: the floor
// of any file-backed helper.
func BenchmarkToken(b *testing.B) {
	e, path := benchEnv(b)
	b.Setenv(secretEnv, e.secret)
	ctx := context.Background()
	b.Run("saslkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out, errb bytes.Buffer
			if code := run(ctx, &stdio{stdout: &out, stderr: &errb}, []string{"token", "--config", e.config, "test"}); code != 0 {
				b.Fatalf("exit %d: %s", code, errb.String())
			}
		}
	})
	b.Run("read-file", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if data, err := os.ReadFile(path); err != nil || len(data) == 0 {
				b.Fatal(err)
			}
		}
	})
	if n := e.oauth.Requests("*"); n != 0 {
		b.Errorf("%d token requests; the stored token should have been used", n)
	}
}

// BenchmarkTokenProcess runs "saslkit token" as a mail client does: the
// built command, a new process each time. Its peer is the cheapest password
// command there is: cat of the token file.
func BenchmarkTokenProcess(b *testing.B) {
	e, path := benchEnv(b)
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "saslkit")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	b.Run("saslkit", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(bin, "token", "--config", e.config, "test")
			cmd.Env = append(os.Environ(), secretEnv+"="+e.secret)
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("cat", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("cat", path).Output(); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}
