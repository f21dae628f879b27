#!/usr/bin/env bash
# Regenerates saslkit.pb.go and saslkit_grpc.pb.go from saslkit.proto with
# pinned code generators. Requires protoc (Debian: protobuf-compiler); the
# generated files are committed, so building saslkit never needs it.
set -euo pipefail
cd "$(dirname "$0")"

PROTOC_VERSION=3.21.12
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

bin="$(go env GOPATH)/bin"
have() { [ -x "$bin/$1" ] && "$bin/$1" --version 2>/dev/null | grep -q -- "${2#v}"; }

have protoc-gen-go "$PROTOC_GEN_GO_VERSION" ||
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
have protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" ||
	go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"

command -v protoc >/dev/null || { echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
case "$(protoc --version)" in
*" $PROTOC_VERSION") ;;
*) echo "generate.sh: $(protoc --version) is not $PROTOC_VERSION: only the version comment in the output will differ" >&2 ;;
esac

PATH="$bin:$PATH" protoc \
	--proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	saslkit.proto
