package providers

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func testStores(t *testing.T) map[string]func() TokenStore {
	dir := filepath.Join(t.TempDir(), "tokens")
	mem := NewMemoryStore()
	return map[string]func() TokenStore{
		"memory": func() TokenStore { return mem },
		// A new FileStore value per call: instances share only the files.
		"file": func() TokenStore { return NewFileStore(dir, nil) },
	}
}

func TestTokenStoreSemantics(t *testing.T) {
	ctx := context.Background()
	for name, open := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("empty Load: %v", err)
			}
			exp := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
			t1 := &oauth2.Token{AccessToken: "at1", TokenType: "Bearer", RefreshToken: "rt1", Expiry: exp}
			// "Nothing stored" precondition.
			if err := s.Save(ctx, "a", &oauth2.Token{}, t1); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(ctx, "a", &oauth2.Token{}, t1); !errors.Is(err, ErrConflict) {
				t.Fatalf("second create: %v", err)
			}
			got, err := open().Load(ctx, "a")
			if err != nil || got.AccessToken != "at1" || got.RefreshToken != "rt1" || !got.Expiry.Equal(exp) || got.TokenType != "Bearer" {
				t.Fatalf("Load = %+v, %v", got, err)
			}
			got.RefreshToken = "mutated"
			if again, _ := s.Load(ctx, "a"); again.RefreshToken != "rt1" {
				t.Fatal("Load returned shared state")
			}
			t2 := &oauth2.Token{AccessToken: "at2", RefreshToken: "rt2"}
			if err := s.Save(ctx, "a", &oauth2.Token{RefreshToken: "other"}, t2); !errors.Is(err, ErrConflict) {
				t.Fatalf("CAS with wrong prev: %v", err)
			}
			if err := s.Save(ctx, "a", t1, t2); err != nil {
				t.Fatalf("CAS: %v", err)
			}
			if err := s.Delete(ctx, "a", t1); !errors.Is(err, ErrConflict) {
				t.Fatalf("Delete of a replaced token: %v", err)
			}
			if got, _ := s.Load(ctx, "a"); got.RefreshToken != "rt2" {
				t.Fatal("conflicting Delete removed the token")
			}
			if err := s.Save(ctx, "b", nil, &oauth2.Token{AccessToken: "other account"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "a", t2); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after Delete: %v", err)
			}
			if err := s.Delete(ctx, "a", t2); err != nil {
				t.Fatalf("Delete of nothing: %v", err)
			}
			if got, err := s.Load(ctx, "b"); err != nil || got.AccessToken != "other account" {
				t.Fatal("other account disturbed")
			}
			if err := s.Save(ctx, "c", nil, nil); !errors.Is(err, ErrNoToken) {
				t.Fatalf("nil Save: %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Load(cctx, "b"); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Load: %v", err)
			}
		})
	}
}

func TestTokenStoreLock(t *testing.T) {
	for name, open := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			var inside, maxInside atomic.Int64
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					unlock, err := open().Lock(context.Background(), "acct")
					if err != nil {
						t.Error(err)
						return
					}
					n := inside.Add(1)
					for {
						m := maxInside.Load()
						if n <= m || maxInside.CompareAndSwap(m, n) {
							break
						}
					}
					runtime.Gosched()
					inside.Add(-1)
					unlock()
					unlock() // idempotent
				}()
			}
			wg.Wait()
			if maxInside.Load() != 1 {
				t.Fatalf("%d holders at once", maxInside.Load())
			}
			// A waiter leaves when its context ends.
			unlock, err := open().Lock(context.Background(), "acct")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := open().Lock(ctx, "acct"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Lock while held: %v", err)
			}
			// Another account is independent.
			u2, err := open().Lock(context.Background(), "other")
			if err != nil {
				t.Fatal(err)
			}
			u2()
			unlock()
		})
	}
}

func TestFileStorePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tok")
	var logs lockedBuffer
	s := NewFileStore(dir, &FileStoreOptions{Logger: captureLogger(&logs)})
	if err := s.Save(ctx, "a", nil, &oauth2.Token{AccessToken: "at", RefreshToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", fi.Mode().Perm())
	}
	fi, _ = os.Stat(s.Path("a"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode().Perm())
	}
	if err := os.Chmod(s.Path("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("world-readable file: %v", err)
	}
	_ = os.Chmod(s.Path("a"), 0o600)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "a", nil, &oauth2.Token{AccessToken: "at2"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "accessible to other users") {
		t.Fatalf("no warning for an open directory: %s", logs.String())
	}
}

func TestFileStoreCorruptAndForeignFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewFileStore(dir, nil)
	secret := "1//0gSECRETREFRESH"
	for _, content := range []string{
		"", "{", `{"version":1,"account":"a","token":{"refresh_token":"` + secret + `"}`,
		`{"version":2,"account":"a","token":{"refresh_token":"` + secret + `"}}`,
		`{"version":1,"account":"b","token":{"refresh_token":"` + secret + `"}}`,
		`{"version":1,"account":"a","token":{}}`,
		`{"version":1,"account":"a","token":{"refresh_token":"` + secret + `"},"x":1}`,
		`{"version":1,"account":"a","token":{"refresh_token":5}}`,
		`{"version":1,"account":"a","token":{"refresh_token":"` + secret + `"}} trailing`,
	} {
		if err := os.WriteFile(s.Path("a"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx, "a")
		if !errors.Is(err, ErrCorruptStore) {
			t.Errorf("%q: err = %v, want ErrCorruptStore", content, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes the file: %v", err)
		}
		// A conditional write refuses to guess; an unconditional one
		// repairs the file.
		if err := s.Save(ctx, "a", &oauth2.Token{}, &oauth2.Token{AccessToken: "x"}); !errors.Is(err, ErrCorruptStore) {
			t.Errorf("CAS over a corrupt file: %v", err)
		}
	}
	if err := s.Save(ctx, "a", nil, &oauth2.Token{AccessToken: "fixed"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "a"); err != nil || got.AccessToken != "fixed" {
		t.Fatalf("after repair: %v", err)
	}
	big := bytes.Repeat([]byte(" "), maxTokenFile+10)
	_ = os.WriteFile(s.Path("big"), big, 0o600)
	if _, err := s.Load(ctx, "big"); !errors.Is(err, ErrCorruptStore) {
		t.Fatalf("oversized file: %v", err)
	}
}

func TestFileStoreRemovesStaleTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewFileStore(dir, nil)
	stale := filepath.Join(dir, "."+s.base("a")+".tmp-123")
	if err := os.WriteFile(stale, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "a", nil, &oauth2.Token{AccessToken: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale temporary file left behind")
	}
}

func TestFileRoundTripRandom(t *testing.T) {
	ctx := context.Background()
	s := NewFileStore(t.TempDir(), nil)
	var prev *oauth2.Token
	for i := range 60 {
		tok := &oauth2.Token{AccessToken: randHex(1 + i%40), RefreshToken: randHex(1 + i%17), TokenType: "Bearer",
			Expiry: time.Unix(1700000000+int64(i)*977, int64(i)*1000).UTC()}
		if err := s.Save(ctx, "acct\x00/../é", prev, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "acct\x00/../é")
		if err != nil || got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken || !got.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round %d: %v", i, err)
		}
		prev = tok
	}
}

func FuzzDecodeTokenFile(f *testing.F) {
	good, _ := encodeTokenFile("a", &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Unix(1, 0)}, time.Unix(0, 0))
	f.Add(good)
	f.Add([]byte(`{"version":1,"account":"a","token":{"access_token":"x","expiry":"not a time"}}`))
	f.Add([]byte(`{"version":1,"account":"a","token":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decodeTokenFile(b, "a")
		if (tok == nil) == (err == nil) {
			t.Fatal("token and error both set or both nil")
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptStore) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What decodes re-encodes and decodes to the same token.
		again, err := encodeTokenFile("a", tok, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		tok2, err := decodeTokenFile(again, "a")
		if err != nil || tok2.AccessToken != tok.AccessToken || tok2.RefreshToken != tok.RefreshToken || !tok2.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
