// Package python holds a saslkit plugin written in Python, and the tests
// that run it through the Go host.
//
// token_file_plugin.py is a token source: it serves OAuth 2.0 access tokens,
// account by account, from a JSON file that another program keeps fresh
// (see the comment at its top). goplugin.py is the part every Python plugin
// needs, whatever it serves: hashicorp/go-plugin's handshake, AutoMTLS, the
// health, controller and stdio services, and exit when the host goes away.
// generated/ holds the Python modules protoc makes from
// plugins/proto/saslkit.proto and from go-plugin's and gRPC's own services;
// generate.sh regenerates them.
//
// The plugin runs on Debian's Python 3 with python3-grpcio, python3-protobuf
// and python3-cryptography. README.md tells how to write such a plugin.
//
// The package has no Go API: it exists for its tests, which start the
// script as a real subprocess, exactly as a saslkit program would, and
// prove that the plugin protocol does not depend on Go.
package python
