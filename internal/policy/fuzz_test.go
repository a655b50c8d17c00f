package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// demoSensitive are the sensitive columns of the default policy, written
// out independently of the policy file.
var demoSensitive = map[string]bool{
	"email": true, "phone": true, "ssn": true, "card_number": true, "full_name": true, "street_address": true,
}

// FuzzEvaluate checks the fail-closed contract on arbitrary SQL: Evaluate
// never panics or errors, and whatever it allows an analyst is a read-only
// query understood by the analyzer whose every output column derived from a
// sensitive demo.customers column is marked for masking.
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{
		"SELECT full_name FROM demo.customers LIMIT 3",
		"SELECT * FROM demo.customers",
		"SELECT LOWER(email) AS e, city FROM demo.customers",
		"WITH c AS (SELECT ssn AS x FROM demo.customers) SELECT x FROM c",
		"SELECT TO_JSON_STRING(c) FROM demo.customers c",
		"SELECT email FROM demo.customer_contacts",
		"DELETE FROM demo.customers WHERE TRUE",
		"SELECT 1; DROP TABLE demo.customers",
		"EXECUTE IMMEDIATE 'SELECT ssn FROM demo.customers'",
		"SELECT o.amount, c.card_number FROM demo.orders o JOIN demo.customers c USING (customer_id)",
		"SELECT city FROM demo.customers UNION ALL SELECT ssn FROM demo.customers",
		"SELECT ARRAY_AGG(STRUCT(phone)) FROM demo.customers",
	} {
		f.Add(s)
	}
	e := demoEngine(nil)
	f.Fuzz(func(t *testing.T, sql string) {
		d, err := e.Evaluate(context.Background(), analyst(sql))
		if err != nil {
			t.Fatalf("Evaluate returned an error: %v", err)
		}
		switch d.Action {
		case policy.ActionDeny:
			if len(d.Reasons) == 0 {
				t.Fatal("deny without a reason")
			}
			return
		case policy.ActionAllow, policy.ActionRequireApproval:
		default:
			t.Fatalf("action %q", d.Action)
		}
		a := d.Analysis
		if a == nil || a.Path != sqlscan.PathAnalyzer {
			t.Fatalf("%s without an analyzer analysis", d.Action)
		}
		for _, st := range a.Statements {
			if st.Kind != sqlscan.KindQuery {
				t.Fatalf("%s a script with a %s statement", d.Action, st.Kind)
			}
		}
		for _, c := range a.OutputColumns {
			for _, l := range c.Lineage {
				sensitive := l.Table.Dataset == "demo" && l.Table.Table == "customers" && (demoSensitive[strings.ToLower(l.Column)] || l.Column == sqlscan.AllColumns)
				if sensitive && len(d.ColumnInfoTypesByIndex[c.Index]) == 0 {
					t.Fatalf("%s output column %q derived from %s without masking", d.Action, c.Name, l)
				}
			}
		}
	})
}

// FuzzLoad feeds arbitrary YAML to Load: it must not panic, and a policy it
// accepts must be usable.
func FuzzLoad(f *testing.F) {
	f.Add(string(policy.DefaultYAML()))
	f.Add(combinePolicy)
	f.Add("version: 1\nrules:\n  - id: a\n    action: allow\n    match: {kinds: [dml], estimated_bytes_over: 1KiB}\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := policy.Load([]byte(src), "fuzz.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range p.Rules {
			if r.ID == "" || (r.Action != policy.ActionAllow && r.Action != policy.ActionDeny && r.Action != policy.ActionRequireApproval) {
				t.Fatalf("accepted rule %+v", r)
			}
		}
	})
}
