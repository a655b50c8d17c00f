package sqlscan_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// selfJoins is issue 10's analyzer attack: n self-joins of one table.
func selfJoins(n int) string {
	var b strings.Builder
	b.WriteString("SELECT t0.customer_id FROM demo.customers t0")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, " JOIN demo.customers t%d ON t%d.customer_id = t0.customer_id", i, i)
	}
	return b.String()
}

func TestTableReferenceCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cat := sqlscantest.Demo()
	tests := []struct {
		name    string
		sql     string
		wantErr bool
	}{
		{"at the cap", selfJoins(sqlscan.MaxTableReferences), false},
		{"one over the cap", selfJoins(sqlscan.MaxTableReferences + 1), true},
		{"the measured attack (3,000 self-joins)", selfJoins(3000), true},
		{"CTE references count", "WITH c AS (SELECT 1 AS x) SELECT 1 FROM c" + strings.Repeat(", c", sqlscan.MaxTableReferences), true},
		{"UNNESTs count", "SELECT 1 FROM UNNEST([1])" + strings.Repeat(", UNNEST([1])", sqlscan.MaxTableReferences), true},
		{"spread over statements", strings.Repeat(selfJoins(sqlscan.MaxTableReferences/2)+";", 3), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := sqlscan.Analyze(ctx, tc.sql, demoOpts(cat))
			var pe *sqlscan.ParseError
			if tc.wantErr {
				if !errors.As(err, &pe) || !strings.Contains(pe.Message, "more than the 200 allowed") {
					t.Errorf("err = %v, want a ParseError naming the cap", err)
				}
				return
			}
			if err != nil {
				t.Errorf("err = %v, want the analysis", err)
			}
		})
	}
}

// BenchmarkAnalyzeWorstAccepted measures the costliest statement of this
// shape that the cap lets through: MaxTableReferences self-joins.
func BenchmarkAnalyzeWorstAccepted(b *testing.B) {
	ctx := context.Background()
	cat := sqlscantest.Demo()
	sql := selfJoins(sqlscan.MaxTableReferences)
	b.SetBytes(int64(len(sql)))
	before := rssKB()
	for b.Loop() {
		if _, err := sqlscan.Analyze(ctx, sql, demoOpts(cat)); err != nil {
			b.Fatal(err)
		}
	}
	// go-zetasql's C++ allocations are invisible to -benchmem: report the
	// process's resident growth per analysis as well.
	if after := rssKB(); before > 0 && after > 0 {
		b.ReportMetric(float64(after-before)/float64(b.N), "rss-KB/op")
	}
}

// rssKB reads the process's resident set size from /proc (0 elsewhere).
func rssKB() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}
