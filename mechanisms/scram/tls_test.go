package scram

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// The tests in this file run SCRAM over real TLS connections on loopback,
// with a minimal line protocol:
//
//	C: AUTH <mechanism> <base64 initial response>
//	S: + <base64 challenge>      C: <base64 response> | *
//	S: OK | NO <reason>

// serverOutcome is what the line-protocol server saw.
type serverOutcome struct {
	id  sasl.Identity
	err error
}

type lineServer struct {
	addr     string
	outcomes chan serverOutcome
}

// startLineServer listens on 127.0.0.1 with cert and serves one SCRAM
// exchange per connection with NewServer over the connection's TLS state.
func startLineServer(t *testing.T, cert certificate, version uint16, db sasl.SCRAMLookup, opts Options) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &lineServer{addr: ln.Addr().String(), outcomes: make(chan serverOutcome, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	if opts.FakeSaltKey == nil {
		opts.FakeSaltKey = testKey
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}, MinVersion: version, MaxVersion: version}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer raw.Close()
				conn := tls.Server(raw, cfg)
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				if err := conn.Handshake(); err != nil {
					ls.outcomes <- serverOutcome{err: err}
					return
				}
				ls.outcomes <- serveLine(conn, db, &opts)
			}()
		}
	}()
	return ls
}

func serveLine(conn *tls.Conn, db sasl.SCRAMLookup, opts *Options) serverOutcome {
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return serverOutcome{err: err}
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "AUTH" {
		return serverOutcome{err: errors.New("bad AUTH line")}
	}
	s, err := NewServer(context.Background(), f[1], db, sasl.ConnStateOf(conn, "localhost", 0), opts)
	if err != nil {
		fmt.Fprintf(conn, "NO %s\n", err)
		return serverOutcome{err: err}
	}
	resp, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return serverOutcome{err: err}
	}
	for {
		ch, done, err := s.Next(resp)
		if err != nil {
			fmt.Fprintf(conn, "NO %s\n", serverErrorValue(err))
			return serverOutcome{err: err}
		}
		if done {
			id, _ := s.Identity()
			fmt.Fprintf(conn, "OK\n")
			return serverOutcome{id: id}
		}
		fmt.Fprintf(conn, "+ %s\n", base64.StdEncoding.EncodeToString(ch))
		line, err := r.ReadString('\n')
		if err != nil {
			return serverOutcome{err: err}
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "*" {
			fmt.Fprintf(conn, "NO cancelled\n")
			return serverOutcome{err: errors.New("client cancelled")}
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return serverOutcome{err: err}
		}
	}
}

// clientOutcome is what the line-protocol client saw.
type clientOutcome struct {
	ok        bool   // server said OK
	serverMsg string // the server's final line
	cancel    error  // the client cancelled with this error
}

// authenticateLine runs c over conn.
func authenticateLine(t *testing.T, conn net.Conn, c sasl.Client) clientOutcome {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "AUTH %s %s\n", mech, base64.StdEncoding.EncodeToString(ir))
	var cancelled error
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading server line: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "OK":
			return clientOutcome{ok: true, serverMsg: line, cancel: cancelled}
		case strings.HasPrefix(line, "NO"):
			return clientOutcome{serverMsg: line, cancel: cancelled}
		case strings.HasPrefix(line, "+ "):
			ch, err := base64.StdEncoding.DecodeString(line[2:])
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Next(ch)
			if err != nil {
				cancelled = err
				fmt.Fprintf(conn, "*\n")
				continue
			}
			fmt.Fprintf(conn, "%s\n", base64.StdEncoding.EncodeToString(resp))
		default:
			t.Fatalf("unexpected server line %q", line)
		}
	}
}

func dialTLS(t *testing.T, addr string, cert certificate, version uint16, adjust func(*tls.Config)) *tls.Conn {
	t.Helper()
	cfg := &tls.Config{RootCAs: cert.pool, ServerName: "localhost", MinVersion: version, MaxVersion: version}
	if adjust != nil {
		adjust(cfg)
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestPlusOverTLS runs every -PLUS mechanism over real TLS 1.2 and 1.3
// connections with both binding types.
func TestPlusOverTLS(t *testing.T) {
	cert := newCertificate(t, "ecdsa-p256")
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	endPointOnly := []string{BindingTLSServerEndPoint}
	cases := []struct {
		name        string
		version     uint16
		clientOpts  Options
		serverOpts  Options
		adjust      func(*tls.Config)
		wantBinding string
	}{
		{"TLS 1.3 tls-exporter", tls.VersionTLS13, Options{}, Options{}, nil, BindingTLSExporter},
		{"TLS 1.2 with EMS tls-exporter", tls.VersionTLS12, Options{}, Options{}, nil, BindingTLSExporter},
		{"TLS 1.3 tls-server-end-point", tls.VersionTLS13, Options{ChannelBindings: endPointOnly},
			Options{ChannelBindings: endPointOnly, ServerCertificate: serverCertOf(cert.x509)}, nil, BindingTLSServerEndPoint},
		// crypto/tls refuses to export keying material on a connection
		// that allows renegotiation, so the client falls back to
		// tls-server-end-point by itself.
		{"TLS 1.2 without exporter falls back to tls-server-end-point", tls.VersionTLS12, Options{},
			Options{ServerCertificate: serverCertOf(cert.x509)},
			func(c *tls.Config) { c.Renegotiation = tls.RenegotiateOnceAsClient }, BindingTLSServerEndPoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls := startLineServer(t, cert, tc.version, db, tc.serverOpts)
			for _, mech := range []string{MechSHA1Plus, MechSHA256Plus, MechSHA512Plus} {
				conn := dialTLS(t, ls.addr, cert, tc.version, tc.adjust)
				cs := sasl.ConnStateOf(conn, "localhost", 0)
				if cs.TLS.Version != tc.version {
					t.Fatalf("negotiated TLS version %x", cs.TLS.Version)
				}
				c, err := NewClient(mech, &sasl.ClientParams{Username: "user", Password: "pencil", Conn: cs}, &tc.clientOpts)
				if err != nil {
					t.Fatal(err)
				}
				if c.ChannelBinding() != tc.wantBinding {
					t.Fatalf("%s binds with %q, want %q", mech, c.ChannelBinding(), tc.wantBinding)
				}
				out := authenticateLine(t, conn, c)
				so := <-ls.outcomes
				if !out.ok || out.cancel != nil || so.err != nil || !c.Verified() {
					t.Fatalf("%s: client %+v, server %v", mech, out, so.err)
				}
				if so.id != (sasl.Identity{Mechanism: mech, Username: "user"}) {
					t.Fatalf("identity %+v", so.id)
				}
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		ls := startLineServer(t, cert, tls.VersionTLS13, db, Options{})
		conn := dialTLS(t, ls.addr, cert, tls.VersionTLS13, nil)
		c := newTestClient(t, MechSHA256Plus, "user", "wrong", sasl.ConnStateOf(conn, "localhost", 0), nil)
		out := authenticateLine(t, conn, c)
		so := <-ls.outcomes
		if out.ok || serverErrorValue(c.Failure()) != ErrValueInvalidProof || !errors.Is(so.err, sasl.ErrAuthFailed) {
			t.Fatalf("client %+v failure %v, server %v", out, c.Failure(), so.err)
		}
	})
	t.Run("server without tls-server-end-point", func(t *testing.T) {
		ls := startLineServer(t, cert, tls.VersionTLS12, db, Options{})
		conn := dialTLS(t, ls.addr, cert, tls.VersionTLS12, func(c *tls.Config) { c.Renegotiation = tls.RenegotiateOnceAsClient })
		c := newTestClient(t, MechSHA256Plus, "user", "pencil", sasl.ConnStateOf(conn, "localhost", 0), nil)
		out := authenticateLine(t, conn, c)
		so := <-ls.outcomes
		if out.ok || serverErrorValue(so.err) != ErrValueUnsupportedChannelBindingType {
			t.Fatalf("client %+v, server %v", out, so.err)
		}
	})
}

// startMITM starts a proxy that terminates TLS with its own certificate
// (which the client trusts) and re-originates TLS to upstream, relaying
// bytes both ways.
func startMITM(t *testing.T, own certificate, upstream string, upstreamCert certificate, version uint16) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				down := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{own.tls}, MinVersion: version, MaxVersion: version})
				defer down.Close()
				up, err := tls.Dial("tcp", upstream, &tls.Config{RootCAs: upstreamCert.pool, ServerName: "localhost", MinVersion: version, MaxVersion: version})
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, down); up.CloseWrite(); done <- struct{}{} }()
				go func() { _, _ = io.Copy(down, up); down.CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// TestMITM checks test-plan.md B.10: a TLS-terminating proxy the client
// trusts makes SCRAM-SHA-256-PLUS fail with channel-bindings-dont-match,
// while SCRAM-SHA-256 without binding succeeds through it; and a proxy that
// also strips -PLUS from the advertised list is caught by the "y" flag.
func TestMITM(t *testing.T) {
	serverCert := newCertificate(t, "ecdsa-p256")
	proxyCert := newCertificate(t, "ecdsa-p256")
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			for _, bindings := range [][]string{{BindingTLSExporter}, {BindingTLSServerEndPoint}} {
				t.Run("PLUS "+bindings[0], func(t *testing.T) {
					ls := startLineServer(t, serverCert, version, db, Options{ChannelBindings: bindings, ServerCertificate: serverCertOf(serverCert.x509)})
					proxy := startMITM(t, proxyCert, ls.addr, serverCert, version)
					conn := dialTLS(t, proxy, proxyCert, version, nil)
					c := newTestClient(t, MechSHA256Plus, "user", "pencil", sasl.ConnStateOf(conn, "localhost", 0), &Options{ChannelBindings: bindings})
					out := authenticateLine(t, conn, c)
					so := <-ls.outcomes
					if out.ok || c.Verified() {
						t.Fatalf("-PLUS succeeded through a man in the middle: %+v", out)
					}
					if serverErrorValue(c.Failure()) != ErrValueChannelBindingsDontMatch {
						t.Fatalf("client failure %v, want channel-bindings-dont-match", c.Failure())
					}
					if serverErrorValue(so.err) != ErrValueChannelBindingsDontMatch || !errors.Is(so.err, sasl.ErrAuthFailed) {
						t.Fatalf("server error %v", so.err)
					}
				})
			}
			t.Run("SCRAM-SHA-256 without binding", func(t *testing.T) {
				ls := startLineServer(t, serverCert, version, db, Options{})
				proxy := startMITM(t, proxyCert, ls.addr, serverCert, version)
				conn := dialTLS(t, proxy, proxyCert, version, nil)
				// The client saw -PLUS offered but chose not to bind: "n".
				c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: "user", Password: "pencil",
					Conn: sasl.ConnStateOf(conn, "localhost", 0), Advertised: []string{MechSHA256Plus, MechSHA256}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				out := authenticateLine(t, conn, c)
				if so := <-ls.outcomes; !out.ok || so.err != nil || !c.Verified() {
					t.Fatalf("client %+v, server %v", out, so.err)
				}
			})
			t.Run("SCRAM-SHA-256 with -PLUS stripped from the list", func(t *testing.T) {
				ls := startLineServer(t, serverCert, version, db, Options{})
				proxy := startMITM(t, proxyCert, ls.addr, serverCert, version)
				conn := dialTLS(t, proxy, proxyCert, version, nil)
				c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: "user", Password: "pencil",
					Conn: sasl.ConnStateOf(conn, "localhost", 0), Advertised: []string{MechSHA256, "PLAIN"}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				out := authenticateLine(t, conn, c)
				so := <-ls.outcomes
				if out.ok || serverErrorValue(so.err) != ErrValueServerDoesSupportCB {
					t.Fatalf("downgrade not detected: client %+v, server %v", out, so.err)
				}
			})
		})
	}
}
