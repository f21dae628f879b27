package python

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/saslkit/saslkit/plugins"
	pb "github.com/saslkit/saslkit/plugins/proto"
)

// The benchmarks measure the Python plugin beside its Go twin,
// plugins/examples/tokenfile, serving the same file to the same host.

var (
	goPeerOnce sync.Once
	goPeerDir  string
	goPeerErr  error
)

// goPeer builds plugins/examples/tokenfile once and returns its path.
func goPeer(b *testing.B) string {
	b.Helper()
	goPeerOnce.Do(func() {
		goPeerDir, goPeerErr = os.MkdirTemp("", "python-bench-")
		if goPeerErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", goPeerDir, "github.com/saslkit/saslkit/plugins/examples/tokenfile")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out []byte
		if out, goPeerErr = cmd.CombinedOutput(); goPeerErr != nil {
			b.Logf("%s", out)
		}
	})
	if goPeerErr != nil {
		b.Fatalf("building the Go peer: %v", goPeerErr)
	}
	return filepath.Join(goPeerDir, "tokenfile")
}

// peers returns the plugins to compare: name and path.
func peers(b *testing.B) [][2]string {
	b.Helper()
	requirePython(b)
	return [][2]string{{"python", scriptPath(b)}, {"go", goPeer(b)}}
}

// benchTokens writes a token file for alice.
func benchTokens(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "tokens.json")
	writeTokens(b, path, map[string]fileToken{alice: {AccessToken: "ya29.benchmark-token", Expiry: time.Now().Add(time.Hour)}})
	return path
}

// BenchmarkOpen measures a plugin's whole life as a host sees it:
// plugins.Open (checksum, process start, handshake, AutoMTLS, Info), one
// token, Close.
func BenchmarkOpen(b *testing.B) {
	for _, peer := range peers(b) {
		b.Run(peer[0], func(b *testing.B) {
			tokens := benchTokens(b)
			sum := fileSum(b, peer[1])
			ctx := context.Background()
			for b.Loop() {
				p, err := plugins.Open(ctx, peer[1], &plugins.Options{Checksum: sum, Args: []string{tokens}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.TokenSource(alice).Token(ctx); err != nil {
					b.Fatal(err)
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// rawTokenClient starts the plugin at path under go-plugin's client, as
// the host does, and returns the TokenSource client: calls on it go to the
// plugin every time, where plugins.Plugin's cache would answer most.
func rawTokenClient(b *testing.B, path, tokens string) pb.TokenSourceClient {
	b.Helper()
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  plugins.ProtocolVersion,
			MagicCookieKey:   plugins.MagicCookieKey,
			MagicCookieValue: plugins.MagicCookieValue,
		},
		Plugins:          goplugin.PluginSet{"saslkit": connPlugin{}},
		Cmd:              exec.Command(path, tokens),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     waitBound,
	})
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense("saslkit")
	if err != nil {
		b.Fatal(err)
	}
	return pb.NewTokenSourceClient(raw.(*grpc.ClientConn))
}

// BenchmarkToken measures one Token call answered by the plugin: a gRPC
// round trip over loopback TLS, a stat of the file, the lookup.
func BenchmarkToken(b *testing.B) {
	for _, peer := range peers(b) {
		b.Run(peer[0], func(b *testing.B) {
			ts := rawTokenClient(b, peer[1], benchTokens(b))
			ctx := context.Background()
			req := &pb.TokenRequest{Account: alice}
			for b.Loop() {
				if _, err := ts.Token(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenParallel is BenchmarkToken with GOMAXPROCS callers at once:
// how each plugin serves concurrent hosts' threads.
func BenchmarkTokenParallel(b *testing.B) {
	for _, peer := range peers(b) {
		b.Run(peer[0], func(b *testing.B) {
			ts := rawTokenClient(b, peer[1], benchTokens(b))
			b.ResetTimer()
			b.RunParallel(func(it *testing.PB) {
				ctx := context.Background()
				req := &pb.TokenRequest{Account: alice}
				for it.Next() {
					if _, err := ts.Token(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
