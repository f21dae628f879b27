package proto_test

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/saslkit/saslkit/plugins/proto"
)

// A plugin reports a token rejection as a gRPC status carrying an Error
// detail; the host reads the detail back.
func Example_errorDetail() {
	st, err := status.New(codes.PermissionDenied, "token rejected").WithDetails(&pb.Error{
		Kind:      pb.Error_KIND_TOKEN_REJECTED,
		Mechanism: "XOAUTH2",
		Token:     &pb.TokenRejection{Status: "401", Schemes: "Bearer"},
	})
	if err != nil {
		panic(err)
	}
	for _, d := range status.Convert(st.Err()).Details() {
		if e, ok := d.(*pb.Error); ok {
			fmt.Println(e.GetKind(), e.GetMechanism(), e.GetToken().GetStatus())
		}
	}
	// Output: KIND_TOKEN_REJECTED XOAUTH2 401
}
