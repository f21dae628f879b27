package providers

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

type blockingSource struct {
	calls   atomic.Int64
	release chan struct{}
	tok     *oauth2.Token
	err     error
}

func (b *blockingSource) Token() (*oauth2.Token, error) {
	b.calls.Add(1)
	<-b.release
	return b.tok, b.err
}

func TestFromOAuth2ReturnsOnCancel(t *testing.T) {
	src := &blockingSource{release: make(chan struct{}), tok: &oauth2.Token{AccessToken: "at"}}
	a := FromOAuth2(src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Fetch(ctx)
		done <- err
	}()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second): // hang guard only
		t.Fatal("Fetch did not return on cancellation")
	}
	// A new caller joins the call still in progress instead of starting
	// another.
	got := make(chan *oauth2.Token, 1)
	go func() {
		tok, _ := a.Token(context.Background())
		got <- tok
	}()
	for a.joins.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(src.release)
	if tok := <-got; tok == nil || tok.AccessToken != "at" {
		t.Fatal("joined call got no token")
	}
	if src.calls.Load() != 1 {
		t.Fatalf("%d calls to the blocking source, want 1", src.calls.Load())
	}
}

func TestFromOAuth2Errors(t *testing.T) {
	for _, src := range []oauth2.TokenSource{
		&blockingSource{release: closedChan()},
		&blockingSource{release: closedChan(), tok: &oauth2.Token{}},
	} {
		if _, err := FromOAuth2(src).Fetch(context.Background()); !errors.Is(err, ErrNoToken) {
			t.Fatalf("empty token: %v", err)
		}
	}
	if _, err := FromOAuth2(nil).Fetch(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Fatal("nil source")
	}
	re := &oauth2.RetrieveError{ErrorCode: "invalid_grant", Body: []byte(`{"error":"invalid_grant","refresh_token":"SECRETRT"}`)}
	_, err := FromOAuth2(&blockingSource{release: closedChan(), err: re}).Fetch(context.Background())
	if !errors.Is(err, ErrReauthRequired) || strings.Contains(err.Error(), "SECRETRT") {
		t.Fatalf("RetrieveError not sanitised: %v", err)
	}
	if _, err := FromOAuth2(panicSource{}).Fetch(context.Background()); err == nil {
		t.Fatal("panicking source")
	}
}

type panicSource struct{}

func (panicSource) Token() (*oauth2.Token, error) { panic("boom") }

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func TestToOAuth2(t *testing.T) {
	var sawDeadline atomic.Bool
	src := FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return &oauth2.Token{AccessToken: "at"}, nil
	})
	c := NewCache(src, nil)
	ts := ToOAuth2(c, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Minute)
	})
	tok, err := ts.Token()
	if err != nil || tok.AccessToken != "at" || !sawDeadline.Load() {
		t.Fatalf("ToOAuth2 = %v, %v (deadline %v)", tok, err, sawDeadline.Load())
	}
	if tok, err := ToOAuth2(StaticToken("s"), nil).Token(); err != nil || tok.AccessToken != "s" {
		t.Fatal("nil newCtx")
	}
	if _, err := ToOAuth2(nil, nil).Token(); !errors.Is(err, ErrNoToken) {
		t.Fatal("nil source")
	}
	// Round trip: usable by x/oauth2's own helpers.
	if tok, err := oauth2.ReuseTokenSource(nil, ToOAuth2(StaticToken("r"), nil)).Token(); err != nil || tok.AccessToken != "r" {
		t.Fatal("through ReuseTokenSource")
	}
}

// oauth2.NewClient wraps a source in ReuseTokenSource, which writes to the
// tokens it caches: ToOAuth2 must hand out copies, not the Cache's shared
// token (run with -race).
func TestToOAuth2CopiesToken(t *testing.T) {
	c := NewCache(Static(&oauth2.Token{AccessToken: "shared", Expiry: time.Now().Add(time.Hour)}), nil)
	shared := mustToken(t, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = shared.Valid()
		}
	}()
	for range 10 {
		if _, err := oauth2.ReuseTokenSourceWithExpiry(nil, ToOAuth2(c, nil), time.Minute).Token(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	tok, _ := ToOAuth2(c, nil).Token()
	if tok == shared {
		t.Fatal("ToOAuth2 returned the cached token itself")
	}
}
