package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/policy"
)

const keyLookupPolicy = `version: 1
defaults:
  default_project: querygate-local
  default_dataset: demo
  approver_group: approvers
sensitive_columns:
  demo.customers.email: EMAIL_ADDRESS
  demo.customers.ssn: US_SOCIAL_SECURITY_NUMBER
rules:
  - id: analysts
    match: {groups: [analysts]}
    action: allow
  - id: filters
    match:
      filters_on_sensitive: true
      except_key_lookups: [demo.customers.EMAIL]
    action: require_approval
`

// filters_on_sensitive holds a request whose rows a sensitive column
// shapes; except_key_lookups lets equality lookups on the named key through,
// and nothing else.
func TestFiltersOnSensitiveKeyLookups(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(keyLookupPolicy), "keys.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	tests := []struct {
		sql, want string
	}{
		{"SELECT city FROM demo.customers WHERE email = 'jane@example.com'", policy.ActionAllow},
		{"SELECT city FROM demo.customers WHERE 'jane@example.com' = email", policy.ActionAllow},
		{"SELECT city FROM demo.customers WHERE email IN ('a@example.com', 'b@example.com')", policy.ActionAllow},
		{"SELECT city FROM demo.customers WHERE email = @who", policy.ActionAllow},
		{"SELECT city FROM demo.customers WHERE email = CONCAT('jane', '@example.com') AND city = 'Paris'", policy.ActionAllow},
		{"SELECT o.amount FROM demo.orders o JOIN demo.customers c ON c.customer_id = o.customer_id AND c.email = 'a@example.com'", policy.ActionAllow},
		{"SELECT city FROM demo.customers WHERE customer_id = 42", policy.ActionAllow},
		// Not equality lookups on the key.
		{"SELECT city FROM demo.customers WHERE LOWER(email) = 'jane@example.com'", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email LIKE 'j%'", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email > 'j'", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email = 'a@example.com' OR city = 'Paris'", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email = (SELECT MAX(email) FROM demo.customers)", policy.ActionRequireApproval},
		{"SELECT c.city FROM demo.customers c, UNNEST(['a@example.com']) AS g WHERE c.email = g", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email = 'a@example.com' ORDER BY email", policy.ActionRequireApproval},
		// Lookups on a column that is not a named key.
		{"SELECT city FROM demo.customers WHERE ssn = '123-45-6789'", policy.ActionRequireApproval},
		{"SELECT city FROM demo.customers WHERE email = 'a@example.com' AND ssn = '123-45-6789'", policy.ActionRequireApproval},
		// A derived column under the key's name is not the key.
		{"SELECT city FROM (SELECT city, SUBSTR(email, 1, 1) AS email FROM demo.customers) WHERE email = 'a'", policy.ActionRequireApproval},
	}
	for _, tc := range tests {
		d, err := e.Evaluate(context.Background(), analyst(tc.sql))
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != tc.want {
			t.Errorf("%s: action %s, want %s (%s)", tc.sql, d.Action, tc.want, strings.Join(d.Reasons, " | "))
		}
	}
}

func TestFiltersOnSensitiveFalseMatchesOnlyUnshaped(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(`version: 1
defaults: {default_project: querygate-local, default_dataset: demo}
sensitive_columns:
  demo.customers.ssn: US_SOCIAL_SECURITY_NUMBER
rules:
  - id: unshaped-only
    match: {groups: [analysts], filters_on_sensitive: false}
    action: allow
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	for sql, want := range map[string]string{
		"SELECT ssn FROM demo.customers WHERE city = 'Paris'":   policy.ActionAllow,
		"SELECT city FROM demo.customers WHERE ssn LIKE '1%'":   policy.ActionDeny,
		"SELECT city FROM demo.customers GROUP BY city, ssn":    policy.ActionDeny,
		"SELECT city FROM demo.customers ORDER BY REVERSE(ssn)": policy.ActionDeny,
	} {
		d, err := e.Evaluate(context.Background(), analyst(sql))
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != want {
			t.Errorf("%s: action %s, want %s (%v)", sql, d.Action, want, d.Reasons)
		}
	}
}

func TestExceptKeyLookupsValidation(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ match, want string }{
		"without filters_on_sensitive": {"except_key_lookups: [demo.customers.email]", "only applies with filters_on_sensitive: true"},
		"too few parts":                {"filters_on_sensitive: true\n      except_key_lookups: [customers.email]", "must be dataset.table.column"},
		"bad glob":                     {"filters_on_sensitive: true\n      except_key_lookups: ['demo.cust[.email']", "bad key column pattern"},
	} {
		src := "version: 1\ndefaults: {approver_group: a}\nrules:\n  - id: r\n    match:\n      " + tc.match + "\n    action: require_approval\n"
		_, err := policy.Load([]byte(src), "bad.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.yaml:") {
			t.Errorf("%s: error %v, want one containing %q with the line", name, err, tc.want)
		}
	}
}

// Issue 10, finding 2: each reconstruction the attacker ran is held for
// approval by the default policy, and what its outputs carry is derived.
func TestReconstructionIsHeld(t *testing.T) {
	t.Parallel()
	e := demoEngine(nil)
	tests := []struct {
		name, sql string
		reason    string
		derived   []string // output columns that must be derived
		intact    []string // output columns that must come back unchanged
	}{
		{
			name:    "digit table",
			sql:     "SELECT customer_id, pos, d FROM demo.customers, UNNEST(GENERATE_ARRAY(1, 11)) AS pos, UNNEST(['0','1','2','3','4','5','6','7','8','9','-']) AS d WHERE SUBSTR(ssn, pos, 1) = d",
			reason:  "a value computed from querygate-local.demo.customers.ssn in WHERE (US_SOCIAL_SECURITY_NUMBER)",
			derived: []string{"pos", "d"},
			intact:  []string{"customer_id"},
		},
		{
			name:   "REGEXP on the column",
			sql:    "SELECT customer_id FROM demo.customers WHERE REGEXP_CONTAINS(email, r'^[a-m]')",
			reason: "querygate-local.demo.customers.email in WHERE (EMAIL_ADDRESS)",
			intact: []string{"customer_id"},
		},
		{
			name:    "window ordered by ssn",
			sql:     "SELECT customer_id, ROW_NUMBER() OVER (ORDER BY ssn) AS rn FROM demo.customers",
			reason:  "querygate-local.demo.customers.ssn in a window's ORDER BY",
			derived: []string{"rn"},
			intact:  []string{"customer_id"},
		},
		{
			name:    "grouping by a substring",
			sql:     "SELECT SUBSTR(ssn, 1, 1) AS d, COUNT(*) AS n FROM demo.customers GROUP BY d",
			reason:  "a value computed from querygate-local.demo.customers.ssn in GROUP BY or DISTINCT",
			derived: []string{"d"},
			intact:  []string{"n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), analyst(tc.sql))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != policy.ActionRequireApproval || len(d.RuleIDs) != 1 || d.RuleIDs[0] != "filters-on-sensitive" {
				t.Fatalf("decision %s %v, want require_approval by filters-on-sensitive (%v)", d.Action, d.RuleIDs, d.Reasons)
			}
			if !strings.Contains(d.Reasons[0], tc.reason) {
				t.Errorf("reason %q does not say %q", d.Reasons[0], tc.reason)
			}
			if d.ApproverGroup != "approvers" || d.ApprovalTTL != 15*time.Minute {
				t.Errorf("approver group %q, TTL %s; want approvers, the default 15m", d.ApproverGroup, d.ApprovalTTL)
			}
			for _, c := range tc.derived {
				if its := d.ColumnInfoTypes[c]; !slices.Contains(its, policy.DerivedInfoType) {
					t.Errorf("%s: infoTypes %v, want derived", c, its)
				}
			}
			for _, c := range tc.intact {
				if its, ok := d.ColumnInfoTypes[c]; ok {
					t.Errorf("%s: infoTypes %v, want intact", c, its)
				}
			}
		})
	}
}

// `querygate policy check` shows what shapes the result and what each
// output column is computed from.
func TestRunCheckShowsShapingAndDerived(t *testing.T) {
	t.Parallel()
	e := demoEngine(nil)
	sql := "SELECT customer_id, REVERSE(ssn) AS r FROM demo.customers WHERE email LIKE 'a%'"
	var text bytes.Buffer
	if err := policy.RunCheck(context.Background(), e, analyst(sql), false, &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"decision: require_approval",
		"[filters-on-sensitive]",
		"     shaped by: where querygate-local.demo.customers.email\n",
		"r <- querygate-local.demo.customers.ssn  (computed from querygate-local.demo.customers.ssn)  [masked: QUERYGATE_DERIVED, US_SOCIAL_SECURITY_NUMBER]",
		"customer_id <- querygate-local.demo.customers.customer_id\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := policy.RunCheck(context.Background(), e, analyst(sql), true, &js); err != nil {
		t.Fatal(err)
	}
	var r policy.CheckReport
	if err := json.Unmarshal(js.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Statements) != 1 || !slices.Equal(r.Statements[0].Shaping, []string{"where querygate-local.demo.customers.email"}) {
		t.Errorf("statements: %+v", r.Statements)
	}
	if len(r.OutputColumns) != 2 || len(r.OutputColumns[0].Derived) != 0 || !slices.Equal(r.OutputColumns[1].Derived, []string{"querygate-local.demo.customers.ssn"}) {
		t.Errorf("output columns: %+v", r.OutputColumns)
	}
}
