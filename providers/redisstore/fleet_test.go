//go:build linux

package redisstore

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// checkRound verifies that every worker got a valid token for every
// account, and that all workers hold the same token per account (the one
// refresh, or the one adopted).
func checkRound(t *testing.T, e *fleetEnv, res []roundResult, accounts int) {
	t.Helper()
	for p, r := range res {
		if len(r.Errors) > 0 {
			t.Fatalf("worker %d: %d+ errors, first: %s", p, len(r.Errors), r.Errors[0])
		}
		if len(r.Tokens) != accounts {
			t.Fatalf("worker %d reported %d tokens", p, len(r.Tokens))
		}
	}
	for i := range accounts {
		tok := res[0].Tokens[i]
		for p := range res {
			if res[p].Tokens[i] != tok {
				t.Fatalf("account %d: workers 0 and %d hold different tokens", i, p)
			}
		}
		info, ok := e.oauth.Lookup(tok)
		if !ok || !info.Active || info.Kind != "access_token" || info.User != accountName(i) {
			t.Fatalf("account %d: token is not an active access token of its user (known %v, %+v)", i, ok, info)
		}
	}
}

// TestFleetRefreshesOncePerCycle runs 10 worker processes sharing 1,000
// accounts whose tokens expire together, for several expiry cycles, against
// an OAuth server that rotates refresh tokens once and revokes the grant on
// reuse: each cycle costs exactly one refresh per account.
func TestFleetRefreshesOncePerCycle(t *testing.T) {
	const (
		procs    = 10
		accounts = 1000
		cycles   = 2
		lifetime = time.Hour
	)
	if testing.Short() {
		t.Skip("starts 10 processes")
	}
	e := newFleetEnv(t, lifetime)
	ws := make([]*worker, procs)
	for i := range ws {
		ws[i] = e.startWorker(t, "ACCOUNTS="+strconv.Itoa(accounts), "GOROUTINES=8",
			"ADOPT_MARGIN=20m", "REFRESH_MARGIN=5m", "MIN_VALIDITY=30s")
	}
	for _, w := range ws {
		if err := w.ready(); err != nil {
			t.Fatal(err)
		}
	}
	e.seed(t, accounts, false)

	// Round 0: every worker adopts the stored tokens; nobody refreshes.
	start := time.Now()
	checkRound(t, e, rounds(t, ws, 0), accounts)
	if n := e.oauth.Requests("*"); n != 0 {
		t.Fatalf("%d token requests while the stored tokens were valid", n)
	}
	t.Logf("round 0 (adopt): %v", time.Since(start))

	for c := 1; c <= cycles; c++ {
		// Move the fleet past the expiry of every token.
		off := time.Duration(c) * (lifetime + time.Minute)
		e.offset.Store(int64(off))
		start := time.Now()
		checkRound(t, e, rounds(t, ws, off), accounts)
		t.Logf("cycle %d: %v", c, time.Since(start))
		if got := e.oauth.Issued(sasltest.GrantRefreshToken); got != c*accounts {
			t.Fatalf("cycle %d: %d refreshes in total, want exactly %d", c, got, c*accounts)
		}
		if req := e.oauth.Requests(sasltest.GrantRefreshToken); req != c*accounts {
			t.Fatalf("cycle %d: %d refresh requests for %d refreshes: some were refused (invalid_grant)", c, req, c*accounts)
		}
		if n := e.oauth.ReuseDetected(); n != 0 {
			t.Fatalf("cycle %d: %d refresh token reuses", c, n)
		}
	}
	// The store holds each account's live refresh token.
	ctx := context.Background()
	for i := range accounts {
		tok, err := e.store.Load(ctx, accountName(i))
		if err != nil {
			t.Fatal(err)
		}
		if info, ok := e.oauth.Lookup(tok.RefreshToken); !ok || !info.Active {
			t.Fatalf("account %d: stored refresh token is not the live one", i)
		}
	}
}

// TestLeaseHolderKilledMidRefresh kills the worker holding an account's
// lease while its refresh request is held at the token endpoint: another
// worker takes over within the lease TTL plus one refresh, with the
// refresh token the dead worker never spent.
func TestLeaseHolderKilledMidRefresh(t *testing.T) {
	const leaseTTL = time.Second
	e := newFleetEnv(t, time.Hour)
	e.seed(t, 1, true)
	hold := make(chan struct{})
	defer close(hold)
	taken := make(chan struct{}, 1)
	e.oauth.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultSlow, Grant: sasltest.GrantRefreshToken, Hold: hold, Taken: taken})

	ws := make([]*worker, 3)
	for i := range ws {
		ws[i] = e.startWorker(t, "ACCOUNTS=1", "GOROUTINES=1", "LEASE_TTL="+leaseTTL.String(), "ROUND_TIMEOUT=30s")
	}
	for _, w := range ws {
		if err := w.ready(); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		if err := w.send(0); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-taken:
	case <-time.After(30 * time.Second):
		t.Fatal("no refresh request reached the token endpoint")
	}
	ctx := context.Background()
	holder, err := e.store.LeaseHolder(ctx, accountName(0))
	if err != nil || holder == "" {
		t.Fatalf("no lease holder during the refresh: %q %v", holder, err)
	}
	parts := strings.Split(holder, "/")
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	var victim *worker
	var survivors []*worker
	for _, w := range ws {
		if w.cmd.Process.Pid == pid {
			victim = w
		} else {
			survivors = append(survivors, w)
		}
	}
	if victim == nil {
		t.Fatalf("lease holder %q is none of the workers", holder)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	var tok string
	for _, w := range survivors {
		res, err := w.result()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) > 0 {
			t.Fatalf("survivor: %s", res.Errors[0])
		}
		if tok != "" && res.Tokens[0] != tok {
			t.Fatal("survivors hold different tokens")
		}
		tok = res.Tokens[0]
		took := time.Unix(0, res.Done[0]).Sub(killed)
		t.Logf("survivor %d served %v after the kill (lease TTL %v)", w.cmd.Process.Pid, took, leaseTTL)
		// Within the lease TTL plus one refresh; the extra second is a
		// generous allowance for a loaded machine, not a timing claim.
		if took > leaseTTL+2*time.Second {
			t.Fatalf("takeover took %v, want under the lease TTL %v plus one refresh", took, leaseTTL)
		}
	}
	if info, ok := e.oauth.Lookup(tok); !ok || !info.Active {
		t.Fatal("survivors' token is not active")
	}
	if got, reqs, reuse := e.oauth.Issued(sasltest.GrantRefreshToken), e.oauth.Requests(sasltest.GrantRefreshToken), e.oauth.ReuseDetected(); got != 1 || reqs != 2 || reuse != 0 {
		t.Fatalf("issued %d, requests %d, reuse %d; want 1 refresh after the aborted one, no reuse", got, reqs, reuse)
	}
	// Nothing was lost: the stored refresh token is live and refreshes.
	f, err := e.store.NewFetcher(&oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}},
		accountName(0), &FetcherOptions{Refresh: &providers.RefreshOptions{AdoptMargin: 2 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := f.Fetch(ctx)
	if err != nil {
		t.Fatalf("refresh after the takeover: %v", err)
	}
	if next.AccessToken == tok || e.oauth.Issued(sasltest.GrantRefreshToken) != 2 || e.oauth.ReuseDetected() != 0 {
		t.Fatal("the account did not refresh cleanly after the takeover")
	}
}
