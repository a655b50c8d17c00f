package analyzerproc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// TestEngineDeniesTimeout: the policy engine over a pool denies a runaway
// analysis as builtin.analysis_timeout and decides the next request, and
// its decisions equal the in-process engine's.
func TestEngineDeniesTimeout(t *testing.T) {
	ctx := context.Background()
	// The test binary serves as the worker (see TestMain in pool_test.go).
	p, err := analyzerproc.New(analyzerproc.Options{Command: []string{os.Args[0], "__querygate_analyzer_worker__"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cat := sqlscantest.Demo()
	worker := policy.NewEngine(nil, cat, policy.WithAnalyzer(p))
	inproc := policy.NewEngine(nil, cat)
	analyst := func(sql string) policy.Input {
		return policy.Input{SQL: sql, Groups: []string{"analysts"}, Email: "ana@example.com"}
	}
	for _, sql := range []string{
		"SELECT city, COUNT(*) AS n FROM demo.customers GROUP BY city",
		"SELECT ssn FROM demo.customers",
		"DELETE FROM demo.customers WHERE TRUE",
		"SELEC 1",
	} {
		want, err := inproc.Evaluate(ctx, analyst(sql))
		if err != nil {
			t.Fatal(err)
		}
		got, err := worker.Evaluate(ctx, analyst(sql))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: decision (-in process, +worker):\n%s", sql, diff)
		}
	}

	short, err := analyzerproc.New(analyzerproc.Options{Command: []string{os.Args[0], "__querygate_analyzer_worker__"}, Timeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = short.Close() })
	e := policy.NewEngine(nil, cat, policy.WithAnalyzer(short))
	var b strings.Builder
	b.WriteString("SELECT t0.customer_id FROM demo.customers t0")
	for i := 1; i < sqlscan.MaxTableReferences; i++ {
		fmt.Fprintf(&b, " JOIN demo.customers t%d ON t%d.customer_id = t0.customer_id", i, i)
	}
	d, err := e.Evaluate(ctx, analyst(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != policy.ActionDeny || len(d.RuleIDs) != 1 || d.RuleIDs[0] != "builtin.analysis_timeout" {
		t.Errorf("decision = %s %v %v, want deny builtin.analysis_timeout", d.Action, d.RuleIDs, d.Reasons)
	}
}
