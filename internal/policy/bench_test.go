package policy_test

import (
	"context"
	"testing"
)

// BenchmarkEvaluate is the whole policy decision for a typical analyst
// query: analysis, classification, local estimate and rules.
func BenchmarkEvaluate(b *testing.B) {
	e := demoEngine(nil)
	in := analyst("SELECT c.city, COUNT(*) AS n, SUM(o.amount) AS total FROM demo.customers c JOIN demo.orders o USING (customer_id) GROUP BY c.city LIMIT 10")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Evaluate(ctx, in)
		if err != nil || d.Action != "allow" {
			b.Fatalf("%v %v", d, err)
		}
	}
}
