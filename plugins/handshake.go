package plugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The go-plugin handshake. A host and a plugin agree on these values; a
// plugin started without the cookie in its environment refuses to run.
const (
	// ProtocolVersion is the version of the plugin protocol
	// (saslkit.plugins.v1). It changes only with an incompatible change;
	// compatible additions are announced through Plugin.Info.
	ProtocolVersion = 1
	// MagicCookieKey is the environment variable the host sets.
	MagicCookieKey = "SASLKIT_PLUGIN"
	// MagicCookieValue is its value. It is not a secret: it only tells a
	// plugin that it was started by a saslkit host.
	MagicCookieValue = "7T4GEGEG4m8rd5sxf7dVGhXEFwz7r7YA"
)

// pluginName is the single go-plugin plugin a saslkit plugin process
// serves; its gRPC server carries every service.
const pluginName = "saslkit"

func handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{ProtocolVersion: ProtocolVersion, MagicCookieKey: MagicCookieKey, MagicCookieValue: MagicCookieValue}
}

// grpcPlugin connects go-plugin to saslkit's services: on the plugin side
// it registers them on go-plugin's gRPC server; on the host side it hands
// back the connection.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	register func(*grpc.Server)
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.register(s)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}
