#!/bin/sh
# generate.sh regenerates the Python modules in generated/ from:
#   - plugins/proto/saslkit.proto, saslkit's plugin protocol;
#   - go-plugin's own services (plugin.GRPCController, plugin.GRPCStdio),
#     read from the go-plugin version in go.mod;
#   - grpc.health.v1.Health and google.rpc.Status, taken from the Go
#     modules the host is built with (their .proto files are not shipped in
#     the Go module cache, their descriptors are).
#
# Needs Go, protoc and gRPC's Python code generator, from Debian:
#   apt-get install protobuf-compiler protobuf-compiler-grpc
# protoc 3.21.12 and grpc_python_plugin 1.51.1 are the versions of
# python3-protobuf and python3-grpcio in the same Debian release, so the
# generated code matches the runtime exactly. (Debian's python3-grpc-tools
# embeds protoc 3.5.1, whose output uses the descriptor API that newer
# protobuf runtimes deprecate.)
#
# The modules are written flat into generated/, which the plugin puts first
# on sys.path: the file names of health.proto and status.proto are
# shortened so that no generated package shadows the grpc or google
# packages.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$here/generated"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

goplugin=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/hashicorp/go-plugin)

# Descriptors of health.proto and status.proto from the host's Go modules,
# and of the well-known types they and grpc_stdio.proto import.
mkdir "$tmp/descset"
cat > "$tmp/descset/main.go" <<'GO'
package main

import (
	"os"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

func main() {
	set := &descriptorpb.FileDescriptorSet{}
	add := func(fd protoreflect.FileDescriptor, name string) {
		p := protodesc.ToFileDescriptorProto(fd)
		p.Name = proto.String(name)
		set.File = append(set.File, p)
	}
	add(anypb.File_google_protobuf_any_proto, "google/protobuf/any.proto")
	add(emptypb.File_google_protobuf_empty_proto, "google/protobuf/empty.proto")
	add(grpc_health_v1.File_grpc_health_v1_health_proto, "health.proto")
	add(status.File_google_rpc_status_proto, "status.proto")
	b, err := proto.Marshal(set)
	if err != nil {
		panic(err)
	}
	if _, err := os.Stdout.Write(b); err != nil {
		panic(err)
	}
}
GO
(cd "$root" && go run "$tmp/descset/main.go") > "$tmp/deps.pb"

rm -rf "$out"
mkdir "$out"
cp "$goplugin/internal/plugin/grpc_controller.proto" "$goplugin/internal/plugin/grpc_stdio.proto" "$tmp/"
cp "$root/plugins/proto/saslkit.proto" "$tmp/"

protoc --descriptor_set_in="$tmp/deps.pb" -I "$tmp" \
	--python_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \
	health.proto status.proto grpc_controller.proto grpc_stdio.proto saslkit.proto
# status.proto declares no service.
rm -f "$out/status_pb2_grpc.py"
