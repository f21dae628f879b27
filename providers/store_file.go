package providers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/jsonerr"
	"github.com/saslkit/saslkit/internal/keyedlock"
	"github.com/saslkit/saslkit/internal/redact"
)

// maxTokenFile bounds what Load reads; a token file is a few kilobytes.
const maxTokenFile = 1 << 20

// fileFormatVersion is the version field of token files.
const fileFormatVersion = 1

// FileStoreOptions configure a FileStore.
type FileStoreOptions struct {
	// Logger receives warnings (a token directory readable by others).
	// Nil discards them.
	Logger *slog.Logger
	// Now returns the current time for the saved_at field. Nil means
	// time.Now.
	Now func() time.Time
}

// FileStore is a TokenStore keeping one JSON file per account in a
// directory.
//
// One file per account keeps a write to one account from ever touching
// another's token, and keeps each file small enough to rewrite atomically.
// The file of account is named after the SHA-256 of the account key (so
// any key is a safe file name); the key itself is stored inside and checked
// on load.
//
// The directory is created with mode 0700 and files with mode 0600. A file
// that others can read or write is refused (ErrInsecureFile); a directory
// that others can read is reported as a warning.
//
// Every write goes to a temporary file in the same directory, which is
// fsynced, renamed over the account's file, and followed by an fsync of the
// directory: after a crash the file holds either the old or the new token,
// never a torn one. Writes are compare-and-swap (see TokenStore) under a
// short advisory write lock; Lock takes a separate advisory lock (flock(2)
// on Unix) held across a refresh, so that processes sharing the directory
// refresh an account once. On platforms without flock, Lock serialises
// only the goroutines of one process.
type FileStore struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	locks  keyedlock.Set // refresh locks, in-process half
	wlocks keyedlock.Set // write locks, in-process half
	warned atomic.Bool   // the open-directory warning was logged

	// hook, when set by a test, is called at the crash points of a write:
	// "temp-written" and "renamed".
	hook func(point string)
}

// NewFileStore returns a FileStore over dir. The directory is created on
// the first write.
func NewFileStore(dir string, opts *FileStoreOptions) *FileStore {
	s := &FileStore{dir: filepath.Clean(dir), now: time.Now}
	if opts != nil {
		s.log = opts.Logger
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Path returns the file that holds account's token.
func (s *FileStore) Path(account string) string {
	return filepath.Join(s.dir, s.base(account)+".json")
}

func (s *FileStore) base(account string) string {
	sum := sha256.Sum256([]byte(account))
	return "token-" + hex.EncodeToString(sum[:16])
}

// fileRecord is the JSON layout of a token file.
type fileRecord struct {
	Version int        `json:"version"`
	Account string     `json:"account"`
	Token   *fileToken `json:"token"`
	SavedAt time.Time  `json:"saved_at"`
}

type fileToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// encodeTokenFile renders the file content for account and tok.
func encodeTokenFile(account string, tok *oauth2.Token, now time.Time) ([]byte, error) {
	rec := fileRecord{
		Version: fileFormatVersion,
		Account: account,
		Token: &fileToken{
			AccessToken:  tok.AccessToken,
			TokenType:    tok.TokenType,
			RefreshToken: tok.RefreshToken,
			Expiry:       tok.Expiry.UTC(),
		},
		SavedAt: now.UTC().Truncate(time.Second),
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("providers: encoding token file: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeTokenFile parses a token file and checks that it belongs to
// account. Errors wrap ErrCorruptStore and never quote the content.
func decodeTokenFile(b []byte, account string) (*oauth2.Token, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rec fileRecord
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorruptStore, jsonerr.Kind(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrCorruptStore)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrCorruptStore)
	}
	switch {
	case rec.Version != fileFormatVersion:
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorruptStore, rec.Version)
	case rec.Account != account:
		return nil, fmt.Errorf("%w: file belongs to another account", ErrCorruptStore)
	case rec.Token == nil:
		return nil, fmt.Errorf("%w: no token", ErrCorruptStore)
	case rec.Token.AccessToken == "" && rec.Token.RefreshToken == "":
		return nil, fmt.Errorf("%w: token has neither an access nor a refresh token", ErrCorruptStore)
	}
	return &oauth2.Token{
		AccessToken:  rec.Token.AccessToken,
		TokenType:    rec.Token.TokenType,
		RefreshToken: rec.Token.RefreshToken,
		Expiry:       rec.Token.Expiry,
	}, nil
}

// Load reads account's token.
func (s *FileStore) Load(ctx context.Context, account string) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok, err := s.read(account)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, account)
	}
	return tok, nil
}

// read returns the stored token, or nil when there is none.
func (s *FileStore) read(account string) (*oauth2.Token, error) {
	path := s.Path(account)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("providers: reading token file: %w", err)
	}
	defer f.Close()
	if runtime.GOOS != "windows" {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("providers: reading token file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%w: %s has mode %v; want 0600 (chmod 600 it)", ErrInsecureFile, path, fi.Mode().Perm())
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("providers: reading token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorruptStore, path, maxTokenFile)
	}
	tok, err := decodeTokenFile(b, account)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return tok, nil
}

// Save writes tok for account if the precondition prev holds.
func (s *FileStore) Save(ctx context.Context, account string, prev, tok *oauth2.Token) error {
	if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
		return fmt.Errorf("%w: cannot save an empty token", ErrNoToken)
	}
	return s.update(ctx, account, prev, tok)
}

// Delete removes account's file if the precondition prev holds.
func (s *FileStore) Delete(ctx context.Context, account string, prev *oauth2.Token) error {
	return s.update(ctx, account, prev, nil)
}

// update replaces (tok != nil) or removes (tok == nil) the file under the
// write lock, after checking the precondition.
func (s *FileStore) update(ctx context.Context, account string, prev, tok *oauth2.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.ensureDir(); err != nil {
		return err
	}
	unlock, err := s.lockFile(ctx, &s.wlocks, account, ".wlock")
	if err != nil {
		return err
	}
	defer unlock()

	cur, err := s.read(account)
	if err != nil && (prev != nil || tok == nil) {
		// A precondition cannot be checked against an unreadable file. An
		// unconditional write may replace it.
		return err
	}
	if tok == nil && cur == nil {
		return nil // nothing to delete
	}
	if !casMatch(cur, prev) {
		return fmt.Errorf("%w: account %q", ErrConflict, account)
	}
	if tok == nil {
		if err := os.Remove(s.Path(account)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("providers: removing token file: %w", err)
		}
		return syncDir(s.dir)
	}
	return s.writeAtomic(account, tok)
}

// writeAtomic writes the file through a temporary file: write, fsync,
// rename, fsync the directory.
func (s *FileStore) writeAtomic(account string, tok *oauth2.Token) error {
	b, err := encodeTokenFile(account, tok, s.now())
	if err != nil {
		return err
	}
	base := s.base(account)
	tmp, err := os.CreateTemp(s.dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("providers: creating temporary token file: %w", err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; Chmod also clears bits a umask or an
	// ACL default could not remove.
	if runtime.GOOS != "windows" {
		if err := tmp.Chmod(0o600); err != nil {
			return fmt.Errorf("providers: temporary token file: %w", err)
		}
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("providers: writing temporary token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("providers: syncing temporary token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("providers: closing temporary token file: %w", err)
	}
	if s.hook != nil {
		s.hook("temp-written")
	}
	if err := os.Rename(tmpName, s.Path(account)); err != nil {
		return fmt.Errorf("providers: replacing token file: %w", err)
	}
	ok = true
	if s.hook != nil {
		s.hook("renamed")
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	// Temporary files left by a writer that crashed before its rename; the
	// write lock guarantees no live writer owns one.
	if stale, _ := filepath.Glob(filepath.Join(s.dir, "."+base+".tmp-*")); len(stale) > 0 {
		for _, p := range stale {
			_ = os.Remove(p)
		}
	}
	return nil
}

// ensureDir creates the directory with mode 0700, and warns when an
// existing one is open to others.
func (s *FileStore) ensureDir() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("providers: creating token directory: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("providers: token directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("providers: token directory %s is not a directory", s.dir)
	}
	if fi.Mode().Perm()&0o077 != 0 && s.warned.CompareAndSwap(false, true) {
		s.log.Warn("providers: token directory is accessible to other users; want mode 0700",
			slog.String("dir", s.dir), slog.String("mode", fi.Mode().Perm().String()))
	}
	return nil
}

// Lock takes account's refresh lock: first among the goroutines of this
// process, then across processes with an advisory lock on a lock file next
// to the token file. Lock files are never removed (removing one would let
// two processes lock different files).
func (s *FileStore) Lock(ctx context.Context, account string) (func(), error) {
	if err := s.ensureDir(); err != nil {
		return nil, err
	}
	return s.lockFile(ctx, &s.locks, account, ".lock")
}

func (s *FileStore) lockFile(ctx context.Context, kl *keyedlock.Set, account, suffix string) (func(), error) {
	unlockMem, err := kl.Lock(ctx, account)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, s.base(account)+suffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		unlockMem()
		return nil, fmt.Errorf("providers: opening lock file: %w", err)
	}
	if err := lockFileCtx(ctx, f); err != nil {
		_ = f.Close()
		unlockMem()
		return nil, err
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		unlockOSFile(f)
		_ = f.Close()
		unlockMem()
	}, nil
}

// lockFileCtx takes an exclusive advisory lock on f, polling so that ctx
// can end the wait: flock(2) itself cannot be interrupted by a context.
func lockFileCtx(ctx context.Context, f *os.File) error {
	delay := time.Millisecond
	for {
		ok, err := tryLockOSFile(f)
		if err != nil {
			return fmt.Errorf("providers: locking token file: %w", err)
		}
		if ok {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 25*time.Millisecond)
	}
}

// Format prints the store; it holds no secret in memory.
func (s *FileStore) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "providers.FileStore{dir="+strconv.Quote(s.dir)+"}")
}

// String describes the store.
func (s *FileStore) String() string { return fmt.Sprint(s) }

// refreshJournal is implemented by stores that survive the process: it
// records that a refresh was started with a given refresh token, so that
// after a crash between the token response and the save, the next
// invalid_grant can be told apart from a revocation. It is a diagnostic
// and best effort; only a digest of the refresh token is written.
type refreshJournal interface {
	// interruptedRefresh reports when a refresh with refreshToken was
	// started and never finished.
	interruptedRefresh(account, refreshToken string) (time.Time, bool)
	beginRefresh(account, refreshToken string, now time.Time)
	endRefresh(account string)
}

type journalRecord struct {
	Digest  string    `json:"refresh_token_sha256"`
	Started time.Time `json:"started"`
}

func tokenDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (s *FileStore) journalPath(account string) string {
	return filepath.Join(s.dir, s.base(account)+".refreshing")
}

func (s *FileStore) interruptedRefresh(account, refreshToken string) (time.Time, bool) {
	b, err := os.ReadFile(s.journalPath(account))
	if err != nil || len(b) > 4096 {
		return time.Time{}, false
	}
	var rec journalRecord
	if json.Unmarshal(b, &rec) != nil || rec.Digest != tokenDigest(refreshToken) {
		return time.Time{}, false
	}
	return rec.Started, true
}

func (s *FileStore) beginRefresh(account, refreshToken string, now time.Time) {
	b, err := json.Marshal(journalRecord{Digest: tokenDigest(refreshToken), Started: now.UTC()})
	if err == nil {
		_ = os.WriteFile(s.journalPath(account), b, 0o600)
	}
}

func (s *FileStore) endRefresh(account string) {
	_ = os.Remove(s.journalPath(account))
}
