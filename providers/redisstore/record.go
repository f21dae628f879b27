package redisstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/jsonerr"
	"github.com/saslkit/saslkit/providers"
)

// maxRecord bounds the encoded token a Store accepts from Redis; a token
// record is a few kilobytes.
const maxRecord = 64 << 10

// versionKey is the oauth2.Token extra field (Token.Extra) under which Load
// returns the version of the record it read. Save and Delete given such a
// token as prev compare the version as well as the refresh token.
const versionKey = "saslkit_redisstore_version"

// record is the JSON layout of a stored token (hash field "d").
type record struct {
	AccessToken  string `json:"at,omitempty"`
	TokenType    string `json:"tt,omitempty"`
	RefreshToken string `json:"rt,omitempty"`
	// Expiry is in Unix milliseconds; 0 means none.
	Expiry int64 `json:"exp,omitempty"`
}

// encodeRecord renders tok for hash field "d".
func encodeRecord(tok *oauth2.Token) ([]byte, error) {
	r := record{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken}
	if !tok.Expiry.IsZero() {
		r.Expiry = tok.Expiry.UnixMilli()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("redisstore: encoding token: %w", err)
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("redisstore: encoded token is %d bytes, more than %d", len(b), maxRecord)
	}
	return b, nil
}

// refreshDigest is what the scripts compare instead of the refresh token
// itself: its SHA-256 in hex, or "" for no refresh token.
func refreshDigest(rt string) string {
	if rt == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(rt))
	return hex.EncodeToString(sum[:])
}

// decodeRecord parses the version (hash field "v") and the encoded token
// (field "d") read from Redis. Errors wrap providers.ErrCorruptStore and
// never quote the input.
func decodeRecord(v string, d []byte) (*oauth2.Token, int64, error) {
	ver, err := parseVersion(v)
	if err != nil {
		return nil, 0, err
	}
	if len(d) > maxRecord {
		return nil, 0, fmt.Errorf("%w: token record is %d bytes, more than %d", providers.ErrCorruptStore, len(d), maxRecord)
	}
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.DisallowUnknownFields()
	var r record
	if err := dec.Decode(&r); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", providers.ErrCorruptStore, jsonerr.Kind(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, fmt.Errorf("%w: trailing data after the token record", providers.ErrCorruptStore)
	}
	switch {
	case r.AccessToken == "" && r.RefreshToken == "":
		return nil, 0, fmt.Errorf("%w: token record has neither an access nor a refresh token", providers.ErrCorruptStore)
	case r.Expiry < 0:
		return nil, 0, fmt.Errorf("%w: negative expiry in token record", providers.ErrCorruptStore)
	}
	tok := &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken}
	if r.Expiry != 0 {
		tok.Expiry = time.UnixMilli(r.Expiry)
	}
	return tok.WithExtra(map[string]any{versionKey: ver}), ver, nil
}

// parseVersion reads a record version: a positive decimal integer in
// canonical form.
func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
		return 0, fmt.Errorf("%w: record version is not a positive integer", providers.ErrCorruptStore)
	}
	return n, nil
}

// versionOf returns the record version a token loaded from a Store
// carries, or 0.
func versionOf(tok *oauth2.Token) int64 {
	if tok == nil {
		return 0
	}
	v, _ := tok.Extra(versionKey).(int64)
	return v
}

// plainToken returns a copy of tok with only its serialisable fields.
func plainToken(tok *oauth2.Token) *oauth2.Token {
	if tok == nil {
		return nil
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
}
