package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParseManifest(t *testing.T) {
	got, err := ParseManifest("SHA256SUMS", []byte("# plugins\n\n"+hexA+"  tokenfile\n"+strings.ToUpper(hexA[:64])+" *userdb\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["tokenfile"] != hexA || got["userdb"] != hexA {
		t.Fatalf("got %v", got)
	}
	for in, reason := range map[string]string{
		hexA + "  a\n" + hexA + "  a\n": "listed twice",
		hexA + "  ../evil\n":            "not a plain file name",
		hexA + "  dir/plugin\n":         "not a plain file name",
		hexA + "  \n":                   "missing file name",
		hexA[:63] + "g  x\n":            "not hex",
		hexA + " x\n":                   "want",
		`\` + hexA + "  a\\nb\n":        "escaped",
		hexA + "  ..\n":                 "missing file name",
		hexA + "  tab\tname\n":          "not a plain file name",
	} {
		_, err := ParseManifest("SHA256SUMS", []byte(in))
		var me *ManifestError
		if !errors.As(err, &me) || !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseManifest(%q) = %v, want %q", in, err, reason)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(hexA + "  tokenfile\n"))
	f.Add([]byte(hexA + " *a\r\n# c\n\n" + hexA + "  b"))
	f.Add([]byte(`\` + hexA + "  a\\\\b\n"))
	f.Add([]byte(hexA + "  ../x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := ParseManifest("m", data)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for name, sum := range sums {
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00\n\r") || filepath.Base(name) != name {
				t.Fatalf("accepted name %q", name)
			}
			if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
				t.Fatalf("accepted digest %q", sum)
			}
		}
	})
}

// writePluginDir copies the test plugin into a new directory as name,
// with a manifest listing it.
func writePluginDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(bins.test)
	if err != nil {
		t.Fatal(err)
	}
	var manifest strings.Builder
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o700); err != nil {
			t.Fatal(err)
		}
		manifest.WriteString(sum(t, path) + "  " + name + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifest.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenDir(t *testing.T) {
	dir := writePluginDir(t, "one", "two")
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := OpenDir(bounded(t), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Plugins) != 2 || set.Plugin("one") == nil || set.Plugin("two") == nil || set.Plugin("three") != nil {
		t.Fatalf("set %v", set.Plugins)
	}
	reg := newTestRegistry(t)
	if err := set.Register(reg); err == nil {
		t.Fatal("two plugins registered the same mechanism names without an error")
	}
	if _, err := set.Plugin("two").TokenSource("a").Token(bounded(t)); err != nil {
		t.Fatal(err)
	}
	pids := []int{set.Plugins[0].pidForTest(), set.Plugins[1].pidForTest()}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("plugin %d alive after Close", pid)
		}
	}
}

func TestOpenDirRefuses(t *testing.T) {
	t.Run("unlisted", func(t *testing.T) {
		dir := writePluginDir(t, "one")
		if err := os.WriteFile(filepath.Join(dir, "intruder"), []byte("#!/bin/sh\ntouch ran\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := OpenDir(bounded(t), dir, nil)
		var me *ManifestError
		if !errors.As(err, &me) || me.Name != "intruder" || !strings.Contains(err.Error(), `"intruder"`) {
			t.Fatalf("OpenDir: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := writePluginDir(t, "one")
		os.Remove(filepath.Join(dir, "one"))
		_, err := OpenDir(bounded(t), dir, nil)
		var me *ManifestError
		if !errors.As(err, &me) || me.Name != "one" {
			t.Fatalf("OpenDir: %v", err)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		dir := writePluginDir(t, "one")
		os.Remove(filepath.Join(dir, ManifestName))
		if _, err := OpenDir(bounded(t), dir, nil); !errors.Is(err, ErrManifest) {
			t.Fatalf("OpenDir: %v", err)
		}
	})
	t.Run("modified", func(t *testing.T) {
		dir := writePluginDir(t, "one", "two")
		sentinel := filepath.Join(t.TempDir(), "ran")
		if err := os.WriteFile(filepath.Join(dir, "two"), []byte("#!/bin/sh\necho changed\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := OpenDir(bounded(t), dir, &Options{Env: []string{envSentinel + "=" + sentinel}})
		var ce *ChecksumError
		if !errors.As(err, &ce) || !strings.HasSuffix(ce.Path, "two") {
			t.Fatalf("OpenDir: %v", err)
		}
		// "one" was started, then closed when "two" failed.
		waitGone(t, sentinelPID(t, sentinel), testTimeout)
	})
}
