package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/gateway/local"
)

// BenchmarkQueryEndToEnd measures one allowed query through the whole local
// gateway: token verification, session creation, the workflow runtime
// running the real YAML (policy with ZetaSQL analysis, execute on the
// emulator, de-identification, record with audit writes), and the 200
// answer. scripts/bench.sh prints it with the component benchmarks.
func BenchmarkQueryEndToEnd(b *testing.B) {
	// The audit writer logs each chain head through the default logger;
	// keep those lines out of the benchmark's output.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(prev)
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"sql":"SELECT full_name, city FROM demo.customers WHERE customer_id < 50","prompt":"bench"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", g.URL+"/v1/queries", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
