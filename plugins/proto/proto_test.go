package proto_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	protobuf "google.golang.org/protobuf/proto"

	pb "github.com/saslkit/saslkit/plugins/proto"
)

type tokenServer struct {
	pb.UnimplementedTokenSourceServer
}

func (tokenServer) Token(_ context.Context, req *pb.TokenRequest) (*pb.TokenResponse, error) {
	if req.GetAccount() != "user@example.com" {
		st, _ := status.New(codes.NotFound, "unknown account").WithDetails(&pb.Error{
			Kind: pb.Error_KIND_REAUTH_REQUIRED, Message: "no grant for account",
			Oauth: &pb.OAuthError{Code: "invalid_grant", HttpStatus: 400},
		})
		return nil, st.Err()
	}
	return &pb.TokenResponse{AccessToken: "tok", ExpiryUnixMillis: 1700000000000, Scopes: req.GetScopes()}, nil
}

// TestRoundTrip calls the generated TokenSource service over a real gRPC
// connection: messages arrive intact and an error's detail survives.
func TestRoundTrip(t *testing.T) {
	ln := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	pb.RegisterTokenSourceServer(srv, tokenServer{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := pb.NewTokenSourceClient(conn)

	resp, err := c.Token(ctx, &pb.TokenRequest{Account: "user@example.com", Scopes: []string{"https://mail.google.com/"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TokenResponse{AccessToken: "tok", ExpiryUnixMillis: 1700000000000, Scopes: []string{"https://mail.google.com/"}}
	if !protobuf.Equal(resp, want) {
		t.Fatalf("Token = %v, want %v", resp, want)
	}

	_, err = c.Token(ctx, &pb.TokenRequest{Account: "other@example.com"})
	st := status.Convert(err)
	if st.Code() != codes.NotFound || len(st.Details()) != 1 {
		t.Fatalf("error = %v, details %v", err, st.Details())
	}
	e, ok := st.Details()[0].(*pb.Error)
	if !ok || e.GetKind() != pb.Error_KIND_REAUTH_REQUIRED || e.GetOauth().GetCode() != "invalid_grant" {
		t.Fatalf("detail = %v", st.Details()[0])
	}
}

// TestEmptyInitialResponse checks that an empty initial response and none
// stay distinct on the wire.
func TestEmptyInitialResponse(t *testing.T) {
	for _, in := range []*pb.ClientStartResponse{
		{ConversationId: "c1", Mechanism: "EXTERNAL", HasInitialResponse: true},
		{ConversationId: "c1", Mechanism: "EXTERNAL"},
	} {
		b, err := protobuf.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out pb.ClientStartResponse
		if err := protobuf.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if out.GetHasInitialResponse() != in.GetHasInitialResponse() || len(out.GetInitialResponse()) != 0 {
			t.Fatalf("round trip of %v gave %v", in, &out)
		}
	}
}
