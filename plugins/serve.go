package plugins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/sasl"
)

// Defaults of ServeConfig.
const (
	// DefaultConversationTimeout is how long a plugin keeps an idle
	// conversation.
	DefaultConversationTimeout = 2 * time.Minute
	// DefaultMaxConversations bounds the conversations a plugin holds.
	DefaultMaxConversations = 4096
)

// ServeConfig is what a plugin serves. Set TokenSource or TokenSourceFor to
// serve tokens, Mechanisms to serve mechanisms, or both.
type ServeConfig struct {
	// Name and Version describe the plugin in the host's logs.
	Name, Version string

	// TokenSource, when set, serves every account the host asks for.
	// If it implements sasl.TokenInvalidator, the host's invalidations
	// reach it.
	TokenSource sasl.TokenSource
	// TokenSourceFor, when set instead, returns the source for an account
	// and scopes. It is called once per distinct account and scope list;
	// the source is kept for later requests. An error wrapping
	// providers.ErrReauthRequired, or any other, is passed to the host.
	TokenSourceFor func(ctx context.Context, account string, scopes []string) (sasl.TokenSource, error)

	// Mechanisms are served to the host: their clients for a host that
	// logs in, their servers for a host that is a server.
	Mechanisms []sasl.Mechanism
	// Verifiers check credentials for the server side of Mechanisms. The
	// host's verifiers do not reach the plugin: a server mechanism served
	// by a plugin verifies with these.
	Verifiers *sasl.Verifiers

	// ConversationTimeout is how long an idle conversation is kept; zero
	// means DefaultConversationTimeout.
	ConversationTimeout time.Duration
	// MaxConversations bounds the conversations held at once; zero means
	// DefaultMaxConversations. A start beyond it makes the plugin forget
	// the conversation idle the longest.
	MaxConversations int

	// Logger receives the plugin's own messages. Nil means NewLogger(nil),
	// which the host logs at the same level.
	Logger *slog.Logger
}

// Serve runs the plugin: it completes the go-plugin handshake on standard
// output and serves the host until the host ends the plugin or exits, then
// returns. Call it from main, and return from main when it returns.
//
// A program started by hand, not by a host, is told so on standard error
// and exits with status 1. Serve also exits (status 2) when the process
// that started it is gone, so a crashed host leaves no plugin behind.
func Serve(cfg *ServeConfig) {
	if cfg == nil {
		cfg = &ServeConfig{}
	}
	s := newServer(cfg)
	defer s.stop()
	if os.Getenv(MagicCookieKey) == MagicCookieValue {
		go watchParent(s.done)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake(),
		Plugins:         plugin.PluginSet{pluginName: &grpcPlugin{register: s.register}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          &hclogAdapter{log: s.log, secrets: &secretSet{}},
	})
}

// watchParent exits the process when its parent changes: the host died
// and the plugin was re-parented. On Linux the host also asks the kernel
// to kill the plugin with its parent; this covers other systems and
// plugins started some other way.
func watchParent(done <-chan struct{}) {
	ppid := os.Getppid()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if os.Getppid() != ppid {
				os.Exit(2)
			}
		}
	}
}

// server implements the protocol's services over a ServeConfig.
type server struct {
	pb.UnimplementedPluginServer
	pb.UnimplementedTokenSourceServer
	pb.UnimplementedMechanismServer

	cfg      ServeConfig
	log      *slog.Logger
	mechs    map[string]*sasl.Mechanism
	done     chan struct{}
	stopOnce sync.Once
	ctx      context.Context // ends with the server; parent of conversations
	cancel   context.CancelFunc

	srcMu   sync.Mutex
	sources map[string]*sourceEntry

	convMu sync.Mutex
	convs  map[string]*conversation
}

type sourceEntry struct {
	once sync.Once
	src  sasl.TokenSource
	err  error
}

// conversation is a client or server conversation held for the host.
type conversation struct {
	mu     sync.Mutex // serialises Next calls
	client sasl.Client
	server sasl.ServerConversation
	mech   string
	cancel context.CancelFunc
	last   time.Time // guarded by server.convMu
}

func newServer(cfg *ServeConfig) *server {
	s := &server{cfg: *cfg, mechs: map[string]*sasl.Mechanism{}, done: make(chan struct{}),
		sources: map[string]*sourceEntry{}, convs: map[string]*conversation{}}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = NewLogger(nil)
	}
	if s.cfg.ConversationTimeout <= 0 {
		s.cfg.ConversationTimeout = DefaultConversationTimeout
	}
	if s.cfg.MaxConversations <= 0 {
		s.cfg.MaxConversations = DefaultMaxConversations
	}
	if s.cfg.Verifiers == nil {
		s.cfg.Verifiers = &sasl.Verifiers{}
	}
	for i := range s.cfg.Mechanisms {
		m := &s.cfg.Mechanisms[i]
		s.mechs[strings.ToUpper(m.Name)] = m
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.reap()
	return s
}

func (s *server) stop() {
	s.stopOnce.Do(func() {
		close(s.done)
		s.cancel()
	})
}

func (s *server) register(g *grpc.Server) {
	pb.RegisterPluginServer(g, s)
	if s.servesTokens() {
		pb.RegisterTokenSourceServer(g, s)
	}
	if len(s.mechs) > 0 {
		pb.RegisterMechanismServer(g, s)
	}
}

func (s *server) servesTokens() bool { return s.cfg.TokenSource != nil || s.cfg.TokenSourceFor != nil }

// Info implements the Plugin service.
func (s *server) Info(context.Context, *pb.InfoRequest) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{ProtocolVersion: ProtocolVersion, Name: s.cfg.Name, Version: s.cfg.Version,
		TokenSource: s.servesTokens(), Mechanism: len(s.mechs) > 0}, nil
}

// source returns the token source for an account.
func (s *server) source(ctx context.Context, account string, scopes []string) (sasl.TokenSource, error) {
	if s.cfg.TokenSource != nil {
		return s.cfg.TokenSource, nil
	}
	key := account + "\x00" + strings.Join(scopes, " ")
	s.srcMu.Lock()
	e, ok := s.sources[key]
	if !ok {
		e = &sourceEntry{}
		s.sources[key] = e
	}
	s.srcMu.Unlock()
	e.once.Do(func() {
		e.src, e.err = s.cfg.TokenSourceFor(ctx, account, scopes)
		if e.err == nil && e.src == nil {
			e.err = fmt.Errorf("plugins: no token source for account %q", account)
		}
	})
	if e.err != nil {
		// Let a later request try again.
		s.srcMu.Lock()
		if s.sources[key] == e {
			delete(s.sources, key)
		}
		s.srcMu.Unlock()
	}
	return e.src, e.err
}

// Token implements the TokenSource service.
func (s *server) Token(ctx context.Context, req *pb.TokenRequest) (*pb.TokenResponse, error) {
	src, err := s.source(ctx, req.GetAccount(), req.GetScopes())
	if err != nil {
		return nil, statusError(err)
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return nil, statusError(err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, statusError(fmt.Errorf("plugins: token source returned no token: %w", ErrProtocol))
	}
	access, typ, exp := tokenToWire(tok)
	resp := &pb.TokenResponse{AccessToken: access, TokenType: typ, ExpiryUnixMillis: exp}
	if sc, ok := tok.Extra("scope").(string); ok && sc != "" {
		resp.Scopes = strings.Fields(sc)
	}
	return resp, nil
}

// Invalidate implements the TokenSource service.
func (s *server) Invalidate(ctx context.Context, req *pb.InvalidateRequest) (*pb.InvalidateResponse, error) {
	src, err := s.source(ctx, req.GetAccount(), req.GetScopes())
	if err != nil {
		return nil, statusError(err)
	}
	if inv, ok := src.(sasl.TokenInvalidator); ok && req.GetAccessToken() != "" {
		inv.Invalidate(&oauth2.Token{AccessToken: req.GetAccessToken()})
	}
	return &pb.InvalidateResponse{}, nil
}

// List implements the Mechanism service.
func (s *server) List(context.Context, *pb.ListRequest) (*pb.ListResponse, error) {
	resp := &pb.ListResponse{}
	for i := range s.cfg.Mechanisms {
		resp.Mechanisms = append(resp.Mechanisms, mechanismToWire(&s.cfg.Mechanisms[i]))
	}
	return resp, nil
}

func (s *server) mechanism(name string) (*sasl.Mechanism, error) {
	m, ok := s.mechs[strings.ToUpper(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %s", sasl.ErrNotRegistered, name)
	}
	return m, nil
}

// add stores a new conversation and returns its id.
func (s *server) add(c *conversation) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := hex.EncodeToString(b[:])
	s.convMu.Lock()
	var evicted *conversation
	if len(s.convs) >= s.cfg.MaxConversations {
		// Full: forget the conversation idle the longest. A host ends a
		// client conversation only when its client is collected, so
		// finished ones linger until then.
		var oldest string
		for k, v := range s.convs {
			if evicted == nil || v.last.Before(evicted.last) {
				oldest, evicted = k, v
			}
		}
		delete(s.convs, oldest)
	}
	c.last = time.Now()
	s.convs[id] = c
	s.convMu.Unlock()
	if evicted != nil && evicted.cancel != nil {
		evicted.cancel()
	}
	return id
}

// get returns a conversation and marks it used.
func (s *server) get(id string) (*conversation, error) {
	s.convMu.Lock()
	defer s.convMu.Unlock()
	c, ok := s.convs[id]
	if !ok {
		return nil, status.Error(codes.NotFound, "plugins: unknown conversation")
	}
	c.last = time.Now()
	return c, nil
}

func (s *server) end(id string) {
	s.convMu.Lock()
	c, ok := s.convs[id]
	delete(s.convs, id)
	s.convMu.Unlock()
	if ok && c.cancel != nil {
		c.cancel()
	}
}

// reap forgets conversations idle for longer than the timeout.
func (s *server) reap() {
	t := time.NewTicker(max(s.cfg.ConversationTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			var stale []*conversation
			s.convMu.Lock()
			for id, c := range s.convs {
				if now.Sub(c.last) > s.cfg.ConversationTimeout {
					delete(s.convs, id)
					stale = append(stale, c)
				}
			}
			s.convMu.Unlock()
			for _, c := range stale {
				if c.cancel != nil {
					c.cancel()
				}
			}
		}
	}
}

// ClientStart implements the Mechanism service.
func (s *server) ClientStart(_ context.Context, req *pb.ClientStartRequest) (*pb.ClientStartResponse, error) {
	m, err := s.mechanism(req.GetMechanism())
	if err != nil {
		return nil, statusError(err)
	}
	if m.NewClient == nil {
		return nil, statusError(fmt.Errorf("%w: %s has no client side", sasl.ErrNotRegistered, m.Name))
	}
	conn, err := connFromWire(req.GetConn())
	if err != nil {
		return nil, statusError(err)
	}
	cr := req.GetCredentials()
	p := &sasl.ClientParams{
		Username: cr.GetUsername(), Authzid: cr.GetAuthzid(), Password: cr.GetPassword(),
		Token: tokenFromWire(cr.GetAccessToken(), cr.GetTokenType(), cr.GetTokenExpiryUnixMillis()),
		Trace: cr.GetTrace(), Conn: conn, Advertised: req.GetAdvertised(),
	}
	c, err := m.NewClient(p)
	if err != nil {
		return nil, statusError(err)
	}
	mech, ir, err := c.Start()
	if err != nil {
		return nil, statusError(err)
	}
	id := s.add(&conversation{client: c, mech: m.Name})
	return &pb.ClientStartResponse{ConversationId: id, Mechanism: mech, InitialResponse: ir, HasInitialResponse: ir != nil}, nil
}

// ClientNext implements the Mechanism service.
func (s *server) ClientNext(_ context.Context, req *pb.ClientNextRequest) (*pb.ClientNextResponse, error) {
	c, err := s.get(req.GetConversationId())
	if err != nil {
		return nil, err
	}
	if c.client == nil {
		return nil, status.Error(codes.InvalidArgument, "plugins: not a client conversation")
	}
	c.mu.Lock()
	resp, err := c.client.Next(req.GetChallenge())
	failure := sasl.FailureOf(c.client)
	verified := false
	if v, ok := c.client.(interface{ Verified() bool }); ok {
		verified = v.Verified()
	}
	c.mu.Unlock()
	out := &pb.ClientNextResponse{Response: resp, ServerVerified: verified, Failure: toWire(failure)}
	if err != nil {
		s.end(req.GetConversationId())
		out.Response, out.Error = nil, toWire(err)
	}
	return out, nil
}

// ClientEnd implements the Mechanism service.
func (s *server) ClientEnd(_ context.Context, req *pb.EndRequest) (*pb.EndResponse, error) {
	s.end(req.GetConversationId())
	return &pb.EndResponse{}, nil
}

// ServerStart implements the Mechanism service.
func (s *server) ServerStart(_ context.Context, req *pb.ServerStartRequest) (*pb.ServerStartResponse, error) {
	m, err := s.mechanism(req.GetMechanism())
	if err != nil {
		return nil, statusError(err)
	}
	if m.NewServer == nil {
		return nil, statusError(fmt.Errorf("%w: %s", sasl.ErrClientOnly, m.Name))
	}
	// The conversation's context bounds its verifier calls and ends with
	// the conversation, not with the RPC that started it.
	conn, err := connFromWire(req.GetConn())
	if err != nil {
		return nil, statusError(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	srv, err := m.NewServer(ctx, s.cfg.Verifiers, conn)
	if err != nil {
		cancel()
		return nil, statusError(err)
	}
	id := s.add(&conversation{server: srv, mech: m.Name, cancel: cancel})
	return &pb.ServerStartResponse{ConversationId: id}, nil
}

// ServerNext implements the Mechanism service.
func (s *server) ServerNext(_ context.Context, req *pb.ServerNextRequest) (*pb.ServerNextResponse, error) {
	c, err := s.get(req.GetConversationId())
	if err != nil {
		return nil, err
	}
	if c.server == nil {
		return nil, status.Error(codes.InvalidArgument, "plugins: not a server conversation")
	}
	var resp []byte
	if req.GetHasResponse() {
		resp = req.GetResponse()
		if resp == nil {
			resp = []byte{}
		}
	}
	c.mu.Lock()
	challenge, done, err := c.server.Next(resp)
	var id sasl.Identity
	ok := false
	if done && err == nil {
		id, ok = c.server.Identity()
	}
	c.mu.Unlock()
	out := &pb.ServerNextResponse{Challenge: challenge, Done: done, Error: toWire(err)}
	if ok {
		out.Identity = identityToWire(id)
	} else if done && err == nil {
		// A mechanism that reports success without an identity is broken:
		// never let it pass as an authentication.
		out.Error = toWire(fmt.Errorf("plugins: %s reported success without an identity: %w", c.mech, sasl.ErrAuthFailed))
	}
	if done {
		s.end(req.GetConversationId())
	}
	return out, nil
}

// ServerEnd implements the Mechanism service.
func (s *server) ServerEnd(_ context.Context, req *pb.EndRequest) (*pb.EndResponse, error) {
	s.end(req.GetConversationId())
	return &pb.EndResponse{}, nil
}
