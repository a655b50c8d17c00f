package policy_test

import (
	"context"
	"slices"
	"testing"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestReservedDatasets: querygate's own datasets (the audit table, the
// unmasked results dataset, the emulator's per-job datasets, and any name
// configured for them) are denied to every request, even under a rule that
// allows everything.
func TestReservedDatasets(t *testing.T) {
	t.Parallel()
	table := func(ds, name string) *sqlscan.TableMeta {
		return &sqlscan.TableMeta{Ref: sqlscan.TableRef{Project: "p", Dataset: ds, Table: name}, Type: "TABLE",
			Columns: []sqlscan.Column{{Name: "id", Type: "INT64"}, {Name: "data", Type: "STRING"}}}
	}
	cat := sqlscan.NewMemoryCatalog(table("querygate_audit", "session_events"), table("querygate_results", "job_1"),
		table("querygate_qs_abc", "result"), table("audit_elsewhere", "events"), table("sales", "orders"))
	p, err := policy.Load([]byte("version: 1\ndefaults:\n  default_project: p\nrules:\n  - id: allow-all\n    action: allow\n"), "reserved.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(p, cat, policy.WithReservedDatasets("p.audit_elsewhere"))
	for _, tc := range []struct {
		sql      string
		reserved bool
	}{
		{"SELECT * FROM querygate_audit.session_events", true},
		{"SELECT data FROM `p.querygate_results.job_1`", true},
		{"SELECT COUNT(*) FROM QUERYGATE_QS_ABC.result", true},
		{"INSERT INTO querygate_audit.session_events (id, data) VALUES (1, 'forged')", true},
		{"SELECT o.id FROM sales.orders o JOIN querygate_results.job_1 r ON o.id = r.id", true},
		{"WITH x AS (SELECT * FROM querygate_audit.session_events) SELECT COUNT(*) FROM x", true},
		{"SELECT * FROM audit_elsewhere.events", true},
		{"SELECT id FROM sales.orders", false},
	} {
		d, err := e.Evaluate(context.Background(), policy.Input{SQL: tc.sql, Email: "a@example.com", DefaultProject: "p"})
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		got := slices.Contains(d.RuleIDs, "builtin.reserved_dataset")
		if got != tc.reserved || (tc.reserved && d.Action != policy.ActionDeny) {
			t.Errorf("%s: action %s rules %v, want reserved=%v", tc.sql, d.Action, d.RuleIDs, tc.reserved)
		}
	}
}
