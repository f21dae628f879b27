package plugins

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/saslkit/saslkit/mechanisms/plain"
	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/sasl"
)

// TestConversationLimits checks the plugin side's bounds: the oldest
// conversation is forgotten when the table is full, and idle ones expire.
func TestConversationLimits(t *testing.T) {
	verify := sasl.PasswordVerifierFunc(func(context.Context, string, string, string) (sasl.Identity, error) {
		return sasl.Identity{}, sasl.ErrAuthFailed
	})
	s := newServer(&ServeConfig{Mechanisms: []sasl.Mechanism{plain.Mechanism()}, MaxConversations: 2,
		ConversationTimeout: 100 * time.Millisecond, Logger: discardLogger(), Verifiers: &sasl.Verifiers{Password: verify}})
	defer s.stop()
	ctx := context.Background()
	start := func() string {
		resp, err := s.ServerStart(ctx, &pb.ServerStartRequest{Mechanism: "PLAIN"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetConversationId()
	}
	first := start()
	time.Sleep(time.Millisecond)
	second, third := start(), start()
	next := func(id string) codes.Code {
		_, err := s.ServerNext(ctx, &pb.ServerNextRequest{ConversationId: id})
		return status.Code(err)
	}
	if c := next(first); c != codes.NotFound {
		t.Fatalf("the oldest conversation survived a full table: %v", c)
	}
	if next(second) != codes.OK || next(third) != codes.OK {
		t.Fatal("recent conversations were dropped")
	}
	deadline := time.Now().Add(testTimeout)
	for next(second) != codes.NotFound {
		if time.Now().After(deadline) {
			t.Fatal("idle conversation never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerReportsNoIdentityAsFailure: a server mechanism in a plugin
// that says done without an identity never authenticates anyone.
func TestServerReportsNoIdentityAsFailure(t *testing.T) {
	broken := sasl.Mechanism{Name: "BROKEN", NewServer: func(context.Context, *sasl.Verifiers, *sasl.ConnState) (sasl.ServerConversation, error) {
		return noIdentity{}, nil
	}}
	s := newServer(&ServeConfig{Mechanisms: []sasl.Mechanism{broken}, Logger: discardLogger()})
	defer s.stop()
	ctx := context.Background()
	st, err := s.ServerStart(ctx, &pb.ServerStartRequest{Mechanism: "BROKEN"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.ServerNext(ctx, &pb.ServerNextRequest{ConversationId: st.GetConversationId(), HasResponse: true})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetDone() || resp.GetError().GetKind() != pb.Error_KIND_AUTH_FAILED || resp.GetIdentity() != nil {
		t.Fatalf("response %v", resp)
	}
}

type noIdentity struct{}

func (noIdentity) Next([]byte) ([]byte, bool, error) { return nil, true, nil }
func (noIdentity) Identity() (sasl.Identity, bool)   { return sasl.Identity{}, false }
