package secrets

import (
	"testing"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/querygate/querygate/testing/secretmanagerfake"
)

// startFake serves the Secret Manager fake (testing/secretmanagerfake,
// whose doc says what it models) on 127.0.0.1:0. Project "p" has number
// 123.
func startFake(t *testing.T) (*secretmanagerfake.Server, string) {
	t.Helper()
	f, err := secretmanagerfake.Start(map[string]string{"p": "123"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, f.Addr
}

// clientOptions returns options that reach the fake at addr over a new
// insecure connection, closed when t ends.
func clientOptions(t *testing.T, addr string) []option.ClientOption {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return []option.ClientOption{option.WithGRPCConn(conn), option.WithoutAuthentication()}
}
