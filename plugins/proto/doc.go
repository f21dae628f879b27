// Package proto holds the generated Go code of the saslkit plugin protocol,
// saslkit.plugins.v1 (saslkit.proto beside this file): the Plugin,
// TokenSource and Mechanism gRPC services a plugin process serves to its
// host over hashicorp/go-plugin.
//
// Go programs use package plugins, which speaks this protocol on both
// sides; this package is for code that needs the wire messages themselves.
// Plugins in other languages generate their own code from saslkit.proto;
// docs/plugins.md describes the protocol and the handshake around it.
//
// The generated files are committed. generate.sh regenerates them with the
// pinned versions of protoc-gen-go and protoc-gen-go-grpc.
package proto
