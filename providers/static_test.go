package providers

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestStatic(t *testing.T) {
	clk := newFakeClock()
	s := Static(&oauth2.Token{AccessToken: "at", Expiry: clk.Now().Add(time.Minute)})
	s.now = clk.Now
	tok, err := s.Token(context.Background())
	if err != nil || tok.AccessToken != "at" || tok.TokenType != "Bearer" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	clk.Advance(time.Minute)
	if tok, err := s.Fetch(context.Background()); !errors.Is(err, ErrTokenExpired) || tok != nil {
		t.Fatalf("at expiry: %v", err)
	}
	if tok, err := StaticToken("x").Token(context.Background()); err != nil || tok.AccessToken != "x" || !tok.Expiry.IsZero() {
		t.Fatalf("StaticToken: %v", err)
	}
	for _, s := range []*StaticSource{Static(nil), StaticToken(""), Static(&oauth2.Token{RefreshToken: "r"})} {
		if _, err := s.Token(context.Background()); !errors.Is(err, ErrNoToken) {
			t.Fatalf("empty static: %v", err)
		}
	}
	// The token is copied at construction.
	orig := &oauth2.Token{AccessToken: "a"}
	s2 := Static(orig)
	orig.AccessToken = "b"
	if tok, _ := s2.Token(context.Background()); tok.AccessToken != "a" {
		t.Fatal("Static kept a reference to the caller's token")
	}
}
