package sqlscan_test

import (
	"context"
	"testing"

	"github.com/querygate/querygate/internal/sqlscan"
)

// BenchmarkAnalyzeCorpus analyzes every corpus case once per iteration and
// reports the mean time per case as ns/stmt.
func BenchmarkAnalyzeCorpus(b *testing.B) {
	cases, _, opts := loadCorpus(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			_, _ = sqlscan.Analyze(ctx, c.SQL, opts)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cases)), "ns/stmt")
}

// BenchmarkAnalyzeTypical is one typical analyst query: a join with an
// aggregate over the demo tables.
func BenchmarkAnalyzeTypical(b *testing.B) {
	_, _, opts := loadCorpus(b)
	opts.DefaultDataset = "demo"
	const sql = "SELECT c.city, COUNT(*) AS n, SUM(o.amount) AS total FROM demo.customers c JOIN demo.orders o USING (customer_id) GROUP BY c.city ORDER BY total DESC LIMIT 10"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sqlscan.Analyze(ctx, sql, opts); err != nil {
			b.Fatal(err)
		}
	}
}
