package python

import (
	"os/exec"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	pb "github.com/saslkit/saslkit/plugins/proto"
)

// TestGeneratedCodeIsCurrent compares the descriptors compiled into the
// committed Python modules with those of the Go code the host is built
// with: a change to saslkit.proto (or a gRPC upgrade) without
// generate.sh fails here, not in a user's plugin.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	requirePython(t)
	modules := []struct {
		module string
		file   protoreflect.FileDescriptor
		name   string // file name in the Python module
	}{
		{"saslkit_pb2", pb.File_saslkit_proto, "saslkit.proto"},
		{"health_pb2", grpc_health_v1.File_grpc_health_v1_health_proto, "health.proto"},
		{"status_pb2", status.File_google_rpc_status_proto, "status.proto"},
	}
	for _, m := range modules {
		t.Run(m.module, func(t *testing.T) {
			// -B: write no bytecode beside the modules.
			out, err := exec.Command(interpreter, "-I", "-B", "-c",
				"import sys; sys.path.insert(0, 'generated'); import "+m.module+" as m; sys.stdout.buffer.write(m.DESCRIPTOR.serialized_pb)").Output()
			if err != nil {
				t.Fatalf("%s: %v", m.module, err)
			}
			var got descriptorpb.FileDescriptorProto
			if err := proto.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			want := protodesc.ToFileDescriptorProto(m.file)
			want.Name = proto.String(m.name)
			// protoc gives json_name to code generator plugins (so Go's
			// descriptors have it) but leaves it out of Python's.
			withoutJSONNames(want.MessageType)
			withoutJSONNames(got.MessageType)
			if !proto.Equal(&got, want) {
				t.Errorf("generated/%s.py is out of date: run plugins/examples/python/generate.sh", m.module)
			}
		})
	}
}

// withoutJSONNames clears the json_name of every field of msgs.
func withoutJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		withoutJSONNames(m.NestedType)
	}
}
