//go:build linux

package redisstore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// The fleet tests run copies of the test binary as worker processes: a
// child runs TestWorkerProcess with workerEnv set. It builds one
// TokenSource per account, prints "ready", then obeys lines on stdin:
//
//	round <clock offset ns>   ask every account for a token; print a JSON roundResult
//	exit
//
// The clock offset shifts the workers' clocks and the OAuth server's
// together, so that tests move a whole fleet past token expiry without
// sleeping.

const workerEnv = "SASLKIT_REDISSTORE_WORKER"

const (
	fleetClientID     = "fleet-client"
	fleetClientSecret = "fleet-client-secret-value"
)

// roundResult is what a worker reports for one round.
type roundResult struct {
	Tokens []string `json:"tokens"` // access token per account; "" on error
	Errors []string `json:"errors"` // the first few errors
	// Done is when each account's Token call returned (Unix ns).
	Done []int64 `json:"done"`
	Err  string  `json:"err"`
}

func TestWorkerProcess(t *testing.T) {
	if os.Getenv(workerEnv) == "" {
		t.Skip("entry point of the worker processes the fleet tests start")
	}
	if err := runWorker(os.Stdin, os.Stdout); err != nil {
		_ = json.NewEncoder(os.Stdout).Encode(roundResult{Err: err.Error()})
	}
	os.Exit(0)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func accountName(i int) string { return fmt.Sprintf("user%04d@example.test", i) }

func runWorker(in io.Reader, out io.Writer) error {
	n := envInt("ACCOUNTS", 1)
	goroutines := envInt("GOROUTINES", 8)
	client := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), PoolSize: 2 * goroutines, MaxRetries: -1})
	defer client.Close()
	store, err := New(client, &Options{Prefix: os.Getenv("PREFIX"), LeaseTTL: envDuration("LEASE_TTL", 0)})
	if err != nil {
		return err
	}
	defer store.Close()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * goroutines}, Timeout: 30 * time.Second}
	cfg := &oauth2.Config{ClientID: fleetClientID, ClientSecret: os.Getenv("CLIENT_SECRET"),
		Endpoint: oauth2.Endpoint{TokenURL: os.Getenv("TOKEN_URL"), AuthStyle: oauth2.AuthStyleInParams}}
	srcs := make([]*providers.Cache, n)
	for i := range srcs {
		srcs[i], err = store.TokenSource(cfg, accountName(i),
			&FetcherOptions{Refresh: &providers.RefreshOptions{HTTPClient: httpc, Now: now, AdoptMargin: envDuration("ADOPT_MARGIN", 0)}},
			&providers.CacheOptions{Now: now, RefreshMargin: envDuration("REFRESH_MARGIN", 0), RefreshJitter: -1,
				MinValidity: envDuration("MIN_VALIDITY", 0), Retry: &providers.RetryPolicy{MaxAttempts: 2}})
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "round":
			off, _ := strconv.ParseInt(f[1], 10, 64)
			offset.Store(off)
			if err := enc.Encode(runRound(srcs, goroutines, envDuration("ROUND_TIMEOUT", time.Minute))); err != nil {
				return err
			}
		case "exit":
			return nil
		}
	}
	return sc.Err()
}

// runRound asks every source for a token, goroutines at a time, in account
// order (so that the processes of a fleet contend for the same accounts).
func runRound(srcs []*providers.Cache, goroutines int, timeout time.Duration) roundResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := roundResult{Tokens: make([]string, len(srcs)), Done: make([]int64, len(srcs))}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(srcs) {
					return
				}
				tok, err := srcs[i].Token(ctx)
				res.Done[i] = time.Now().UnixNano()
				if err != nil {
					mu.Lock()
					if len(res.Errors) < 5 {
						res.Errors = append(res.Errors, accountName(i)+": "+err.Error())
					}
					mu.Unlock()
					continue
				}
				res.Tokens[i] = tok.AccessToken
			}
		})
	}
	wg.Wait()
	return res
}

// fleetEnv is a Redis, an OAuth server and a store seeded with accounts,
// on a clock the test can shift.
type fleetEnv struct {
	redis  *redisServer
	oauth  *sasltest.OAuthServer
	store  *Store
	offset atomic.Int64
	prefix string
}

func newFleetEnv(t *testing.T, lifetime time.Duration) *fleetEnv {
	t.Helper()
	e := &fleetEnv{redis: startRedis(t), prefix: "fleet"}
	e.oauth = sasltest.NewOAuthServer(&sasltest.OAuthOptions{
		Profile:       sasltest.OAuthMicrosoft,
		Refresh:       sasltest.RefreshRotateDetectReuse,
		TokenLifetime: lifetime,
		Clock:         e.now,
	})
	t.Cleanup(e.oauth.Close)
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: fleetClientID, Secret: fleetClientSecret}); err != nil {
		t.Fatal(err)
	}
	e.store = newTestStore(t, e.redis.client(t), &Options{Prefix: e.prefix})
	return e
}

func (e *fleetEnv) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// seed issues a grant per account and stores it; expired stores the
// access token as already expired, so that the first use refreshes.
func (e *fleetEnv) seed(t *testing.T, n int, expired bool) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		tok, err := e.oauth.IssueToken(fleetClientID, accountName(i), "https://outlook.office.com/IMAP.AccessAsUser.All")
		if err != nil {
			t.Fatal(err)
		}
		if expired {
			tok.Expiry = e.now().Add(-time.Second)
		}
		if err := e.store.Save(ctx, accountName(i), nil, tok); err != nil {
			t.Fatal(err)
		}
	}
}

// worker is one worker process.
type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func (e *fleetEnv) startWorker(t *testing.T, env ...string) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), workerEnv+"=1", "REDIS_ADDR="+e.redis.addr, "PREFIX="+e.prefix,
		"TOKEN_URL="+e.oauth.TokenURL(), "CLIENT_SECRET="+fleetClientSecret)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<20)}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return w
}

// ready waits for the worker's "ready" line.
func (w *worker) ready() error {
	line, err := w.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	if line != "ready\n" {
		return fmt.Errorf("worker %d said %q", w.cmd.Process.Pid, strings.TrimSpace(line))
	}
	return nil
}

// send asks the worker for a round at the given clock offset.
func (w *worker) send(offset time.Duration) error {
	_, err := fmt.Fprintf(w.stdin, "round %d\n", int64(offset))
	return err
}

// result reads the worker's report of a round.
func (w *worker) result() (roundResult, error) {
	var res roundResult
	line, err := w.out.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}

// rounds runs a round on every worker at once and returns their reports.
func rounds(t *testing.T, ws []*worker, offset time.Duration) []roundResult {
	t.Helper()
	for _, w := range ws {
		if err := w.send(offset); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]roundResult, len(ws))
	for i, w := range ws {
		var err error
		if out[i], err = w.result(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
