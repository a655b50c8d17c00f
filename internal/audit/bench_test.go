package audit

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"
)

// callCounter is an http.RoundTripper that counts the BigQuery API calls a
// client makes, by kind (insertAll, query, getQueryResults, other).
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := "other"
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/insertAll"):
		kind = "insertAll"
	case strings.Contains(p, "/queries"):
		kind = "query"
	case strings.Contains(p, "/jobs"):
		kind = "job"
	case strings.Contains(p, "/data"):
		kind = "tabledata"
	}
	c.mu.Lock()
	c.n[kind]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *callCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *callCounter) total() int {
	n := 0
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

// countingClient returns a client on the test emulator whose API calls are
// counted.
func countingClient(ctx context.Context, t testing.TB) (*bigquery.Client, *callCounter) {
	t.Helper()
	cc := &callCounter{n: map[string]int{}}
	c, err := bigquery.NewClient(ctx, testProject, option.WithEndpoint(testEndpoint),
		option.WithHTTPClient(&http.Client{Transport: cc}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, cc
}

// BenchmarkRecordStepAuditWrite measures the audit write of one record
// step: one new session of 6 events, written once. It reports the BigQuery
// API calls per write (calls/op) next to the time.
func BenchmarkRecordStepAuditWrite(b *testing.B) {
	ctx := context.Background()
	_, table := newTable(b)
	client, cc := countingClient(ctx, b)
	w := NewWriter(client, testDataset, table)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.WriteSession(ctx, testSession(fmt.Sprintf("bench-%d", i), 6)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cc.total())/float64(b.N), "calls/op")
	for k, v := range cc.snapshot() {
		b.ReportMetric(float64(v)/float64(b.N), k+"/op")
	}
}
