package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests start their own redis-server (Debian package redis-server) on a
// free loopback port, without persistence, and stop it when they end.
// Without redis-server they skip, or fail when CI=true.

const redisStartTimeout = 10 * time.Second

// redisServer is one redis-server process started by a test.
type redisServer struct {
	addr  string
	dir   string
	extra []string // further command-line arguments (TLS, AUTH)
	tls   bool     // extra makes it listen with TLS only

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// redisBinary returns the redis-server path, skipping or failing tb when
// it is missing.
func redisBinary(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not in PATH (Debian: apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return p
}

// startRedis starts a redis-server for tb and stops it when tb ends.
func startRedis(tb testing.TB, extra ...string) *redisServer {
	tb.Helper()
	return startRedisOpts(tb, false, extra...)
}

func startRedisOpts(tb testing.TB, useTLS bool, extra ...string) *redisServer {
	tb.Helper()
	redisBinary(tb)
	r := &redisServer{dir: tb.TempDir(), extra: extra, tls: useTLS}
	var err error
	// The port is chosen free but released before redis binds it; another
	// process may take it meanwhile, so try again.
	for range 3 {
		r.addr, err = freeAddr()
		if err != nil {
			tb.Fatal(err)
		}
		if err = r.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("starting redis-server: %v", err)
	}
	tb.Cleanup(r.kill)
	return r
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs redis-server on r.addr with r.dir as its directory; it loads
// dump.rdb from there if a previous stop saved one.
func (r *redisServer) start() error {
	_, port, _ := net.SplitHostPort(r.addr)
	args := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--dbfilename", "dump.rdb", "--daemonize", "no", "--logfile", "",
		"--databases", "1"}
	if r.tls {
		args = append(args, "--port", "0", "--tls-port", port)
	} else {
		args = append(args, "--port", port)
	}
	args = append(args, r.extra...)
	out := new(bytes.Buffer)
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = out, out
	// The kernel stops the server if the test binary dies without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.cmd, r.exited, r.out = cmd, exited, out
	r.mu.Unlock()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
			if r.tls || r.ping() == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server did not answer on %s within %v: %v", r.addr, redisStartTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping checks that the server answers and has loaded its data.
func (r *redisServer) ping() error {
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, Password: r.password()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func (r *redisServer) password() string {
	for i, a := range r.extra {
		if a == "--requirepass" && i+1 < len(r.extra) {
			return r.extra[i+1]
		}
	}
	return ""
}

// client returns a client for the server, closed when tb ends. It does not
// retry, so that an outage shows at once.
func (r *redisServer) client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, Password: r.password()})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// stop shuts the server down, saving its data to r.dir (SHUTDOWN SAVE), as
// a server with persistence restarts.
func (r *redisServer) stop(tb testing.TB) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, Password: r.password()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Do(ctx, "SHUTDOWN", "SAVE").Err(); err != nil && !errors.Is(err, redis.ErrClosed) && !isEOF(err) {
		tb.Fatalf("SHUTDOWN SAVE: %v", err)
	}
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		tb.Fatal("redis-server did not stop")
	}
	if _, err := os.Stat(filepath.Join(r.dir, "dump.rdb")); err != nil {
		tb.Fatalf("no dump after SHUTDOWN SAVE: %v", err)
	}
}

func isEOF(err error) bool {
	var ne net.Error
	return err != nil && (err.Error() == "EOF" || errors.As(err, &ne))
}

// restart starts the server again on the same address and directory.
func (r *redisServer) restart(tb testing.TB) {
	tb.Helper()
	var err error
	for range 20 { // the old socket may linger briefly
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("restarting redis-server: %v", err)
}

// kill stops the server at once.
func (r *redisServer) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-exited
}
