package plugins

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/saslkit/saslkit/internal/redact"
	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/sasl"
)

// Mechanisms returns descriptors of the mechanisms the plugin serves, as it
// listed them when opened. Their clients and servers run in the plugin:
// each step of a conversation is a call, bounded by Options.CallTimeout
// (go-sasl's Start and Next take no context). As for every mechanism, any
// token is fetched by the host before the client is created.
//
// A server created by a descriptor verifies credentials with the verifiers
// configured in the plugin (ServeConfig.Verifiers); the verifiers given to
// sasl.Registry.NewServer are not used. A conversation is bound to the
// plugin process it started in: if that process exits, the conversation
// fails with ErrExited and authentication fails.
//
// A listed mechanism with an invalid name or a credential kind this host
// does not know is left out, with a warning in the log.
func (p *Plugin) Mechanisms() []sasl.Mechanism {
	var out []sasl.Mechanism
	for _, w := range p.mechs {
		m, err := p.descriptor(w)
		if err != nil {
			p.log.Warn("plugin mechanism left out", "mechanism", w.GetName(), "error", err.Error())
			continue
		}
		out = append(out, m)
	}
	return out
}

// Register adds the plugin's mechanisms to reg. It stops at the first
// error, such as sasl.ErrDuplicate for a name reg already holds.
func (p *Plugin) Register(reg *sasl.Registry) error {
	for _, m := range p.Mechanisms() {
		if err := reg.Register(m); err != nil {
			return fmt.Errorf("plugins: %s: %w", p.name, err)
		}
	}
	return nil
}

func (p *Plugin) descriptor(w *pb.MechanismInfo) (sasl.Mechanism, error) {
	needs, ok := needsFromWire(w.GetNeeds())
	if !ok {
		return sasl.Mechanism{}, fmt.Errorf("%w: unknown credential kind", ErrProtocol)
	}
	name := w.GetName()
	m := sasl.Mechanism{
		Name:       name,
		Properties: propertiesFromWire(w.GetProperties()),
		Needs:      needs,
		Strength:   int(w.GetStrength()),
		Standard:   w.GetStandard(),
	}
	if !validName(name) {
		return sasl.Mechanism{}, fmt.Errorf("%w: invalid mechanism name", ErrProtocol)
	}
	if m.Properties.Has(sasl.ChannelBinding) {
		m.Usable = func(conn *sasl.ConnState) error {
			if conn == nil || conn.TLS == nil || !conn.TLS.HandshakeComplete {
				return fmt.Errorf("%w: %s needs TLS", sasl.ErrUnusable, name)
			}
			return nil
		}
	}
	if w.GetClient() {
		mutual := m.Properties.Has(sasl.MutualAuth)
		m.NewClient = func(cp *sasl.ClientParams) (sasl.Client, error) {
			c := &remoteClient{p: p, mech: name, req: clientStartRequest(name, cp)}
			if cp.Password != "" {
				p.secrets.add(cp.Password)
			}
			if mutual {
				return &mutualClient{c}, nil
			}
			return c, nil
		}
	}
	if w.GetServer() {
		m.NewServer = func(ctx context.Context, _ *sasl.Verifiers, conn *sasl.ConnState) (sasl.ServerConversation, error) {
			return p.newServer(ctx, name, conn)
		}
	}
	if m.NewClient == nil && m.NewServer == nil {
		return sasl.Mechanism{}, fmt.Errorf("%w: neither client nor server", ErrProtocol)
	}
	return m, nil
}

// validName reports whether name is a valid SASL mechanism name (RFC 4422
// section 3.1).
func validName(name string) bool {
	if name == "" || len(name) > 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func clientStartRequest(name string, cp *sasl.ClientParams) *pb.ClientStartRequest {
	access, typ, exp := tokenToWire(cp.Token)
	return &pb.ClientStartRequest{
		Mechanism: name,
		Credentials: &pb.Credentials{Username: cp.Username, Authzid: cp.Authzid, Password: cp.Password,
			AccessToken: access, TokenType: typ, TokenExpiryUnixMillis: exp, Trace: cp.Trace},
		Conn:       connToWire(cp.Conn, true),
		Advertised: cp.Advertised,
	}
}

// remoteClient is a client conversation running in the plugin. Start
// creates it there; the request holding the credentials is dropped once
// sent.
type remoteClient struct {
	p        *Plugin
	mech     string
	req      *pb.ClientStartRequest
	inst     *instance
	id       string
	failure  error
	verified bool
	ended    bool
}

// Start creates the conversation in the plugin and returns its initial
// response.
func (c *remoteClient) Start() (string, []byte, error) {
	if c.req == nil {
		return "", nil, fmt.Errorf("plugins: %s: %w", c.mech, sasl.ErrDone)
	}
	req := c.req
	c.req = nil
	var resp *pb.ClientStartResponse
	var inst *instance
	err := c.p.call(context.Background(), func(ctx context.Context, in *instance) error {
		inst = in
		var err error
		resp, err = pb.NewMechanismClient(in.conn).ClientStart(ctx, req)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	c.inst, c.id = inst, resp.GetConversationId()
	// Tell the plugin when the conversation is dropped without an end.
	runtime.AddCleanup(c, func(a endArgs) { a.p.end(a.inst, a.id, false) }, endArgs{c.p, inst, c.id})
	ir := resp.GetInitialResponse()
	if resp.GetHasInitialResponse() && ir == nil {
		ir = []byte{}
	} else if !resp.GetHasInitialResponse() {
		ir = nil
	}
	mech := resp.GetMechanism()
	if mech == "" {
		mech = c.mech
	}
	return mech, ir, nil
}

// Next answers a challenge through the plugin.
func (c *remoteClient) Next(challenge []byte) ([]byte, error) {
	if c.inst == nil || c.ended {
		return nil, fmt.Errorf("plugins: %s: %w", c.mech, sasl.ErrDone)
	}
	var resp *pb.ClientNextResponse
	err := c.p.callOn(context.Background(), c.inst, func(ctx context.Context, in *instance) error {
		var err error
		resp, err = pb.NewMechanismClient(in.conn).ClientNext(ctx, &pb.ClientNextRequest{ConversationId: c.id, Challenge: challenge})
		return err
	})
	if err != nil {
		c.ended = true
		return nil, err
	}
	c.verified = resp.GetServerVerified()
	if f := resp.GetFailure(); f != nil {
		c.failure = fromWire(c.p.name, f)
	}
	if e := resp.GetError(); e != nil {
		c.ended = true
		return nil, fromWire(c.p.name, e)
	}
	out := resp.GetResponse()
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Failure returns the failure the plugin's client recorded when it
// answered a failure challenge (see sasl.FailureOf).
func (c *remoteClient) Failure() error { return c.failure }

// Format prints the client without its credentials.
func (c *remoteClient) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("plugins.Client{Plugin:%q Mechanism:%s}", c.p.name, c.mech))
}

// mutualClient is a remoteClient of a mechanism with mutual
// authentication: sasl.CheckServerAuth asks it whether the server proved
// itself.
type mutualClient struct{ *remoteClient }

// Verified reports whether the server proved itself.
func (c *mutualClient) Verified() bool { return c.verified }

type endArgs struct {
	p    *Plugin
	inst *instance
	id   string
}

// end tells the plugin to forget a conversation, in the background.
func (p *Plugin) end(inst *instance, id string, server bool) {
	select {
	case <-inst.gone:
		return
	default:
	}
	go func() {
		_ = p.callOn(context.Background(), inst, func(ctx context.Context, in *instance) error {
			mc := pb.NewMechanismClient(in.conn)
			var err error
			if server {
				_, err = mc.ServerEnd(ctx, &pb.EndRequest{ConversationId: id})
			} else {
				_, err = mc.ClientEnd(ctx, &pb.EndRequest{ConversationId: id})
			}
			return err
		})
	}()
}

// remoteServer is a server conversation running in the plugin.
type remoteServer struct {
	ctx  context.Context // bounds the conversation, as NewServer's contract says
	p    *Plugin
	mech string
	inst *instance
	id   string
	done bool
	ok   bool
	who  sasl.Identity
}

func (p *Plugin) newServer(ctx context.Context, name string, conn *sasl.ConnState) (sasl.ServerConversation, error) {
	var resp *pb.ServerStartResponse
	var inst *instance
	err := p.call(ctx, func(ctx context.Context, in *instance) error {
		inst = in
		var err error
		resp, err = pb.NewMechanismClient(in.conn).ServerStart(ctx, &pb.ServerStartRequest{Mechanism: name, Conn: connToWire(conn, false)})
		return err
	})
	if err != nil {
		return nil, err
	}
	s := &remoteServer{ctx: ctx, p: p, mech: name, inst: inst, id: resp.GetConversationId()}
	runtime.AddCleanup(s, func(a endArgs) { a.p.end(a.inst, a.id, true) }, endArgs{p, inst, s.id})
	return s, nil
}

// Next passes a client response to the plugin. An error of the plugin
// process (a crash, a timeout) ends the exchange as a failure.
func (s *remoteServer) Next(response []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, fmt.Errorf("plugins: %s: %w", s.mech, sasl.ErrDone)
	}
	var resp *pb.ServerNextResponse
	err := s.p.callOn(s.ctx, s.inst, func(ctx context.Context, in *instance) error {
		var err error
		resp, err = pb.NewMechanismClient(in.conn).ServerNext(ctx, &pb.ServerNextRequest{
			ConversationId: s.id, Response: response, HasResponse: response != nil})
		return err
	})
	if err != nil {
		s.done = true
		return nil, true, err
	}
	if e := resp.GetError(); e != nil {
		s.done = resp.GetDone()
		err := fromWire(s.p.name, e)
		if !s.done && !errors.As(err, new(*sasl.TokenError)) {
			// Only a token rejection's challenge goes on after an error.
			s.done = true
		}
		return resp.GetChallenge(), s.done, err
	}
	if resp.GetDone() {
		s.done = true
		if resp.GetIdentity() == nil {
			return nil, true, fmt.Errorf("%w: %s: %s reported success without an identity", sasl.ErrAuthFailed, s.p.name, s.mech)
		}
		s.ok, s.who = true, identityFromWire(resp.GetIdentity())
		if s.who.Mechanism == "" {
			s.who.Mechanism = s.mech
		}
	}
	return resp.GetChallenge(), resp.GetDone(), nil
}

// Identity reports who authenticated.
func (s *remoteServer) Identity() (sasl.Identity, bool) { return s.who, s.ok }

// Format prints the conversation.
func (s *remoteServer) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("plugins.Server{Plugin:%q Mechanism:%s}", s.p.name, s.mech))
}
