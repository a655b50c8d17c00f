package policy_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
		"SELECT customer_id, pos, d FROM demo.customers, UNNEST(GENERATE_ARRAY(1, 11)) AS pos, UNNEST(['0', '1']) AS d WHERE SUBSTR(ssn, pos, 1) = d",
		"SELECT customer_id, ROW_NUMBER() OVER (ORDER BY ssn) AS rn FROM demo.customers",
		"SELECT SUBSTR(ssn, 1, 1) AS d, COUNT(*) FROM demo.customers GROUP BY d",
		"SELECT city, COUNT(DISTINCT email) FROM demo.customers GROUP BY city",
	} {
		f.Add(s)
	}
	e := demoEngine(nil)
	f.Fuzz(func(t *testing.T, sql string) { checkFailClosed(t, e, sql) })
}

// checkFailClosed evaluates sql for an analyst and fails the test when the
// decision breaks the fail-closed contract.
func checkFailClosed(t *testing.T, e *policy.Engine, sql string) {
	t.Helper()
	d, err := e.Evaluate(context.Background(), analyst(sql))
	if err != nil {
		t.Fatalf("Evaluate(%q) returned an error: %v", sql, err)
	}
	switch d.Action {
	case policy.ActionDeny:
		if len(d.Reasons) == 0 {
			t.Fatalf("deny without a reason for %q", sql)
		}
		return
	case policy.ActionAllow, policy.ActionRequireApproval:
	default:
		t.Fatalf("action %q for %q", d.Action, sql)
	}
	a := d.Analysis
	if a == nil || a.Path != sqlscan.PathAnalyzer {
		t.Fatalf("%s without an analyzer analysis for %q", d.Action, sql)
	}
	for _, st := range a.Statements {
		if st.Kind != sqlscan.KindQuery {
			t.Fatalf("%s a script with a %s statement: %q", d.Action, st.Kind, sql)
		}
	}
	isSensitive := func(l sqlscan.ColumnRef) bool {
		return strings.EqualFold(l.Table.Dataset, "demo") && strings.EqualFold(l.Table.Table, "customers") && (demoSensitive[strings.ToLower(l.Column)] || l.Column == sqlscan.AllColumns)
	}
	for _, c := range a.OutputColumns {
		for _, l := range c.Lineage {
			if isSensitive(l) && len(d.ColumnInfoTypesByIndex[c.Index]) == 0 {
				t.Fatalf("%s output column %q derived from %s without masking: %q", d.Action, c.Name, l, sql)
			}
		}
		for _, l := range c.Derived {
			if isSensitive(l) && !slices.Contains(d.ColumnInfoTypesByIndex[c.Index], policy.DerivedInfoType) {
				t.Fatalf("%s output column %q computed from %s is not marked derived: %q", d.Action, c.Name, l, sql)
			}
		}
	}
	// The default policy holds every request a sensitive column shapes.
	if d.Action == policy.ActionAllow {
		for _, st := range a.Statements {
			for _, u := range st.Shaping {
				if isSensitive(u.Column) {
					t.Fatalf("allowed although %s shapes it in %s: %q", u.Column, u.Clause, sql)
				}
			}
		}
	}
}

// TestMutatedRequests applies the fail-closed check to deterministic
// mutations (byte edits and splices) of the adversarial and example
// requests: a quick, uninstrumented complement to FuzzEvaluate that runs
// in every test run.
func TestMutatedRequests(t *testing.T) {
	t.Parallel()
	var seeds []string
	for _, file := range []string{"../../testing/sql/adversarial.yaml", "../../testing/policy/default_test.yaml"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tf policy.TestFile
		if err := yaml.Unmarshal(src, &tf); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tf.Tests {
			seeds = append(seeds, tc.SQL)
		}
	}
	tokens := []string{" ", "*", ",", ";", "(", ")", "`", "'", "--", "/*", "*/", ".", "ssn", "email", "c", "t", "AS", "SELECT", "FROM", "demo.customers",
		"UNION ALL", "EXCEPT", "JOIN", "WITH", "STRUCT", "TO_JSON_STRING", "ARRAY_AGG", "DELETE", "BEGIN", "END", "\x00", "\u0455"}
	rng := rand.New(rand.NewPCG(7, 11))
	e := demoEngine(nil)
	n := 3000
	if testing.Short() {
		n = 300
	}
	if v, err := strconv.Atoi(os.Getenv("QUERYGATE_MUTATIONS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < n; i++ {
		sql := seeds[rng.IntN(len(seeds))]
		for k := rng.IntN(3) + 1; k > 0; k-- {
			if len(sql) == 0 {
				break
			}
			pos := rng.IntN(len(sql) + 1)
			switch rng.IntN(4) {
			case 0: // insert a token
				sql = sql[:pos] + tokens[rng.IntN(len(tokens))] + sql[pos:]
			case 1: // delete a span
				end := min(len(sql), pos+rng.IntN(8))
				sql = sql[:pos] + sql[end:]
			case 2: // splice another request
				other := seeds[rng.IntN(len(seeds))]
				sql = sql[:pos] + other[rng.IntN(len(other)+1):]
			default: // replace a byte
				if pos < len(sql) {
					sql = sql[:pos] + string(rune(' '+rng.IntN(95))) + sql[pos+1:]
				}
			}
		}
		checkFailClosed(t, e, sql)
	}
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
