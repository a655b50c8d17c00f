package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

func demoEngine(p *policy.Policy, opts ...policy.EngineOption) *policy.Engine {
	return policy.NewEngine(p, sqlscantest.Demo(), opts...)
}

func analyst(sql string) policy.Input {
	return policy.Input{SQL: sql, Groups: []string{"analysts"}, Email: "ana@example.com"}
}

// TestPolicyTables runs the example table of the default policy and the
// adversarial table through RunTest, as `querygate policy test` does.
func TestPolicyTables(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"../../testing/policy/default_test.yaml", "../../testing/policy/example_test.yaml", "../../testing/sql/adversarial.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := policy.RunTest(context.Background(), func(p *policy.Policy) *policy.Engine { return demoEngine(p) }, file, &out)
			if err != nil {
				t.Errorf("RunTest: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), " 0 failed") || strings.Contains(out.String(), "FAIL") {
				t.Errorf("output:\n%s", out.String())
			}
		})
	}
}

func TestAnalystFullNameAllowed(t *testing.T) {
	t.Parallel()
	d, err := demoEngine(nil).Evaluate(context.Background(), analyst("SELECT full_name FROM demo.customers LIMIT 3"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != policy.ActionAllow {
		t.Fatalf("action = %s (%v)", d.Action, d.Reasons)
	}
	if diff := cmp.Diff(map[string][]string{"full_name": {"PERSON_NAME"}}, d.ColumnInfoTypes); diff != "" {
		t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int][]string{0: {"PERSON_NAME"}}, d.ColumnInfoTypesByIndex); diff != "" {
		t.Errorf("ColumnInfoTypesByIndex (-want, +got):\n%s", diff)
	}
	if d.AnalysisPath != sqlscan.PathAnalyzer || d.EstimateSource != policy.EstimateTableSizes || d.EstimatedBytes != 2_000_000 {
		t.Errorf("path %s, estimate %d from %s", d.AnalysisPath, d.EstimatedBytes, d.EstimateSource)
	}
	if d.MaxBytesBilled != 10_000_000_000 || d.JobTimeout != 5*time.Minute {
		t.Errorf("max bytes %d, timeout %s", d.MaxBytesBilled, d.JobTimeout)
	}
}

func TestLoadStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"unknown top-level field", "version: 1\nrulez: []\n", "line 2"},
		{"project id with a dot", "version: 1\ndefaults:\n  projects: [a.b]\n", "x.yaml:3: defaults.projects[0]"},
		{"unknown rule field", "version: 1\nrules:\n  - id: a\n    action: allow\n    mach: {}\n", "line 5"},
		{"unknown match field", "version: 1\nrules:\n  - id: a\n    action: allow\n    match:\n      group: [x]\n", "line 6"},
		{"bad action", "version: 1\nrules:\n  - id: a\n    action: permit\n", "x.yaml:4: rule \"a\": unknown action"},
		{"missing action", "version: 1\nrules:\n  - id: a\n", "x.yaml:3: rule \"a\" has no action"},
		{"unknown kind", "version: 1\nrules:\n  - id: a\n    action: deny\n    match:\n      kinds: [SELEKT]\n", "x.yaml:6: rule \"a\": unknown statement kind"},
		{"bad duration", "version: 1\ndefaults:\n  approval_ttl: soon\n", "line 3"},
		{"bad bytes", "version: 1\ndefaults:\n  max_bytes_billed: lots\n", "line 3"},
		{"duplicate id", "version: 1\nrules:\n  - id: a\n    action: allow\n  - id: a\n    action: deny\n", "x.yaml:5: rule id \"a\" already used on line 3"},
		{"approval without group", "version: 1\nrules:\n  - id: a\n    action: require_approval\n", "names no approver_group"},
		{"bad version", "version: 2\n", "x.yaml:1: version must be 1"},
		{"bad sensitive key", "version: 1\nsensitive_columns:\n  email: EMAIL_ADDRESS\n", "x.yaml:3:"},
		{"reserved id", "version: 1\nrules:\n  - id: builtin.x\n    action: allow\n", "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.Load([]byte(tc.src), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultPolicyEmbedded(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	if len(p.Rules) < 8 || p.Defaults.ApproverGroup != "approvers" || time.Duration(p.Defaults.ApprovalTTL) != 15*time.Minute {
		t.Errorf("default policy: %d rules, approver %q, ttl %s", len(p.Rules), p.Defaults.ApproverGroup, time.Duration(p.Defaults.ApprovalTTL))
	}
	if _, err := policy.Load(policy.DefaultYAML(), "default.yaml"); err != nil {
		t.Fatal(err)
	}
}

const combinePolicy = `
version: 1
defaults:
  default_project: querygate-local
  default_dataset: demo
  approver_group: approvers
  approval_ttl: 1h
  max_bytes_billed: 3MB
sensitive_columns:
  demo.customers.ssn: US_SOCIAL_SECURITY_NUMBER
  querygate-local.demo.customers.email: [EMAIL_ADDRESS]
rules:
  - id: everyone-reads
    match: {only_kinds: [query]}
    action: allow
    reason: reads are fine
  - id: big-readers
    match: {groups: [big], only_kinds: [query]}
    action: allow
    max_bytes_billed: 1MB
  - id: pii-needs-dpo
    match: {info_types: [US_SOCIAL_SECURITY_NUMBER]}
    action: require_approval
    approver_group: dpo
    approval_ttl: 10m
  - id: names-need-lead
    match: {sensitive_output: true}
    action: require_approval
    approval_ttl: 30m
  - id: no-orders-for-interns
    match: {groups: [interns], tables: ["demo.ord*"]}
    action: deny
    reason: interns do not see orders
  - id: limit-for-contractors
    match: {groups: [contractors], missing_limit: true}
    action: deny
    reason: add a LIMIT
  - id: huge
    match: {estimated_bytes_over: 6MB}
    action: deny
`

func TestCombination(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(combinePolicy), "combine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	tests := []struct {
		name     string
		in       policy.Input
		action   string
		rules    []string
		approver string
		ttl      time.Duration
		maxBytes int64
	}{
		{"plain read", policy.Input{SQL: "SELECT city FROM demo.customers"}, policy.ActionAllow, []string{"everyone-reads"}, "", 0, 3_000_000},
		{"approval rules combine: first group, shortest ttl", policy.Input{SQL: "SELECT ssn, email FROM demo.customers"},
			policy.ActionRequireApproval, []string{"pii-needs-dpo", "names-need-lead"}, "dpo", 10 * time.Minute, 3_000_000},
		{"default approver group", policy.Input{SQL: "SELECT email FROM demo.customers"},
			policy.ActionRequireApproval, []string{"names-need-lead"}, "approvers", 30 * time.Minute, 3_000_000},
		{"deny beats allow", policy.Input{SQL: "SELECT order_id FROM demo.orders LIMIT 1", Groups: []string{"interns"}},
			policy.ActionDeny, []string{"no-orders-for-interns"}, "", 0, 3_000_000},
		{"missing limit", policy.Input{SQL: "SELECT city FROM demo.customers", Groups: []string{"contractors"}},
			policy.ActionDeny, []string{"limit-for-contractors"}, "", 0, 3_000_000},
		{"limit present", policy.Input{SQL: "SELECT city FROM demo.customers LIMIT 5", Groups: []string{"contractors"}},
			policy.ActionAllow, []string{"everyone-reads"}, "", 0, 3_000_000},
		{"estimated bytes rule", policy.Input{SQL: "SELECT c.city, o.amount FROM demo.customers c JOIN demo.orders o USING (customer_id)"},
			policy.ActionDeny, []string{"huge"}, "", 0, 3_000_000},
		{"smaller cap of an allow rule applies, then the cap denies", policy.Input{SQL: "SELECT city FROM demo.customers", Groups: []string{"big"}},
			policy.ActionDeny, []string{"builtin.max_bytes_billed"}, "", 0, 1_000_000},
		{"no allow rule for DML", policy.Input{SQL: "DELETE FROM demo.orders WHERE TRUE"},
			policy.ActionDeny, []string{"builtin.no_grant"}, "", 0, 3_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action {
				t.Errorf("action = %s, want %s (%v)", d.Action, tc.action, d.Reasons)
			}
			if diff := cmp.Diff(tc.rules, d.RuleIDs); diff != "" {
				t.Errorf("rule ids (-want, +got):\n%s", diff)
			}
			if len(d.Reasons) != len(d.RuleIDs) {
				t.Errorf("%d reasons for %d rules", len(d.Reasons), len(d.RuleIDs))
			}
			if d.ApproverGroup != tc.approver || d.ApprovalTTL != tc.ttl {
				t.Errorf("approval = %q %s, want %q %s", d.ApproverGroup, d.ApprovalTTL, tc.approver, tc.ttl)
			}
			if d.MaxBytesBilled != tc.maxBytes {
				t.Errorf("max bytes = %d, want %d", d.MaxBytesBilled, tc.maxBytes)
			}
		})
	}
}

type fakeDryRunner struct {
	res   *policy.DryRunResult
	err   error
	calls atomic.Int32
	last  atomic.Pointer[policy.DryRunInput]
}

func (f *fakeDryRunner) DryRun(ctx context.Context, in policy.DryRunInput) (*policy.DryRunResult, error) {
	f.calls.Add(1)
	f.last.Store(&in)
	return f.res, f.err
}

// TestDryRunGetsParameters: the engine hands the query's parameters to the
// dry run (issue 12 finding 7), which would otherwise fail for @param.
func TestDryRunGetsParameters(t *testing.T) {
	t.Parallel()
	customers := sqlscan.TableRef{Project: "querygate-local", Dataset: "demo", Table: "customers"}
	f := &fakeDryRunner{res: &policy.DryRunResult{TotalBytesProcessed: 10, StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{customers}}}
	in := analyst("SELECT city FROM demo.customers WHERE customer_id = @id")
	in.Parameters = []session.Parameter{{Name: "id", Type: "INT64", Value: json.RawMessage(`7`)}}
	if _, err := demoEngine(nil, policy.WithDryRunner(f)).Evaluate(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := f.last.Load()
	if got == nil || len(got.Parameters) != 1 || got.Parameters[0].Name != "id" || string(got.Parameters[0].Value) != "7" {
		t.Errorf("dry run input = %+v, want the id parameter", got)
	}
}

func TestDryRunCrossCheck(t *testing.T) {
	t.Parallel()
	customers := sqlscan.TableRef{Project: "querygate-local", Dataset: "demo", Table: "customers"}
	orders := sqlscan.TableRef{Project: "querygate-local", Dataset: "demo", Table: "orders"}
	tests := []struct {
		name   string
		sql    string
		res    *policy.DryRunResult
		err    error
		action string
		rule   string
		bytes  int64
	}{
		{"agreement uses the dry run's bytes", "SELECT city FROM demo.customers",
			&policy.DryRunResult{TotalBytesProcessed: 1234, StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{customers}},
			nil, policy.ActionAllow, "analysts-read-only", 1234},
		{"statement type disagrees", "SELECT city FROM demo.customers",
			&policy.DryRunResult{TotalBytesProcessed: 1, StatementType: "DELETE", ReferencedTables: []sqlscan.TableRef{customers}},
			nil, policy.ActionDeny, "builtin.dry_run_mismatch", 2_000_000},
		{"BigQuery sees a table the analysis missed", "SELECT city FROM demo.customers",
			&policy.DryRunResult{TotalBytesProcessed: 1, StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{customers, orders}},
			nil, policy.ActionDeny, "builtin.dry_run_mismatch", 2_000_000},
		{"view base tables count as seen", "SELECT email FROM demo.contact_emails",
			&policy.DryRunResult{TotalBytesProcessed: 99, StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{customers, orders}},
			nil, policy.ActionAllow, "analysts-read-only", 99},
		{"two queries are a SCRIPT", "SELECT 1; SELECT city FROM demo.customers",
			&policy.DryRunResult{TotalBytesProcessed: 5, StatementType: "SCRIPT", ReferencedTables: []sqlscan.TableRef{customers}},
			nil, policy.ActionAllow, "analysts-read-only", 5},
		{"dry run error fails closed", "SELECT city FROM demo.customers", nil, errors.New("quota"), policy.ActionDeny, "builtin.dry_run_error", 2_000_000},
		{"a request the rules deny is not dry-run", "DELETE FROM demo.customers WHERE TRUE", nil, errors.New("must not be called"), policy.ActionDeny, "deny-dml", 2_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDryRunner{res: tc.res, err: tc.err}
			d, err := demoEngine(nil, policy.WithDryRunner(f)).Evaluate(context.Background(), analyst(tc.sql))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action || len(d.RuleIDs) == 0 || d.RuleIDs[0] != tc.rule {
				t.Errorf("decision = %s %v %v, want %s %s", d.Action, d.RuleIDs, d.Reasons, tc.action, tc.rule)
			}
			if d.EstimatedBytes != tc.bytes {
				t.Errorf("bytes = %d, want %d", d.EstimatedBytes, tc.bytes)
			}
			wantCalls := int32(1)
			if tc.rule == "deny-dml" {
				wantCalls = 0
			}
			if f.calls.Load() != wantCalls {
				t.Errorf("dry run called %d times, want %d", f.calls.Load(), wantCalls)
			}
		})
	}
}

func TestCrossCheckWildcard(t *testing.T) {
	t.Parallel()
	a := &sqlscan.Analysis{Statements: []sqlscan.Statement{{Kind: sqlscan.KindQuery, Tables: []sqlscan.TableRef{{Project: "p", Dataset: "d", Table: "events_*"}}}}}
	ok := &policy.DryRunResult{StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{{Project: "p", Dataset: "d", Table: "events_2024"}}}
	if got := policy.CrossCheck(a, ok); len(got) != 0 {
		t.Errorf("wildcard match reported %v", got)
	}
	bad := &policy.DryRunResult{StatementType: "SELECT", ReferencedTables: []sqlscan.TableRef{{Project: "p", Dataset: "d", Table: "other_2024"}}}
	if got := policy.CrossCheck(a, bad); len(got) != 1 {
		t.Errorf("unmatched table: %v", got)
	}
}

const profilePolicy = `
version: 1
defaults: {default_project: querygate-local, default_dataset: demo}
profiling: {enabled: true, ttl: 1h}
rules:
  - id: read
    match: {only_kinds: [query]}
    action: allow
`

func TestProfiler(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(profilePolicy), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	prof := func(ctx context.Context, ref sqlscan.TableRef) (map[string][]string, error) {
		calls.Add(1)
		if ref.Table == "orders" {
			return map[string][]string{"notes": {"PHONE_NUMBER"}}, nil
		}
		return nil, nil
	}
	e := demoEngine(p, policy.WithProfiler(prof, 0), policy.WithClock(clock))
	d, err := e.Evaluate(context.Background(), analyst("SELECT notes, amount FROM demo.orders"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"notes": {"PHONE_NUMBER"}}, d.ColumnInfoTypes); diff != "" {
		t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
	}
	if _, err := e.Evaluate(context.Background(), analyst("SELECT notes FROM demo.orders")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("profiler called %d times within the TTL, want 1", calls.Load())
	}
	now = now.Add(2 * time.Hour)
	if _, err := e.Evaluate(context.Background(), analyst("SELECT notes FROM demo.orders")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("profiler called %d times after the TTL, want 2", calls.Load())
	}

	failing := demoEngine(p, policy.WithProfiler(func(context.Context, sqlscan.TableRef) (map[string][]string, error) {
		return nil, errors.New("inspector down")
	}, time.Minute))
	d, err = failing.Evaluate(context.Background(), analyst("SELECT amount FROM demo.orders"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != policy.ActionDeny || d.RuleIDs[0] != "builtin.profiling_error" {
		t.Errorf("profiler failure: %s %v", d.Action, d.RuleIDs)
	}

	// A table the policy file lists in part is profiled too: the file wins
	// for the columns it names, the profile classifies the others (a
	// partly listed table's other PII columns were served raw before).
	calls.Store(0)
	partial := func(ctx context.Context, ref sqlscan.TableRef) (map[string][]string, error) {
		calls.Add(1)
		if ref.Table == "customers" {
			return map[string][]string{"city": {"LOCATION"}, "email": {"PERSON_NAME"}}, nil
		}
		return nil, nil
	}
	e2 := demoEngine(nil, policy.WithProfiler(partial, 0))
	d, err = e2.Evaluate(context.Background(), analyst("SELECT city, email FROM demo.customers"))
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("partly listed table profiled %d times, want 1", calls.Load())
	}
	if got := d.ColumnInfoTypes["city"]; !slices.Equal(got, []string{"LOCATION"}) {
		t.Errorf("unlisted column city of a listed table: infoTypes %v, want the profile's [LOCATION]", got)
	}
	if got := d.ColumnInfoTypes["email"]; !slices.Equal(got, []string{"EMAIL_ADDRESS"}) {
		t.Errorf("listed column email: infoTypes %v, want the file's [EMAIL_ADDRESS], not the profile's", got)
	}
}

func TestPolicyTags(t *testing.T) {
	t.Parallel()
	const tag = "projects/p/locations/us/taxonomies/1/policyTags/2"
	cat := sqlscan.NewMemoryCatalog(&sqlscan.TableMeta{
		Ref:  sqlscan.TableRef{Project: "querygate-local", Dataset: "hr", Table: "staff"},
		Type: "TABLE",
		Columns: []sqlscan.Column{
			{Name: "id", Type: "INT64"},
			{Name: "salary", Type: "NUMERIC", PolicyTags: []string{tag}},
			{Name: "home", Type: "RECORD", Fields: []sqlscan.Column{{Name: "zip", Type: "STRING", PolicyTags: []string{"projects/p/other"}}}},
		},
	})
	p, err := policy.Load([]byte("version: 1\ndefaults: {default_project: querygate-local}\npolicy_tags:\n  "+tag+": [FINANCIAL]\nrules:\n  - id: r\n    action: allow\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := policy.NewEngine(p, cat).Evaluate(context.Background(), policy.Input{SQL: "SELECT id, salary, home.zip AS zip FROM hr.staff"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"salary": {"FINANCIAL"}, "zip": {"POLICY_TAG"}}
	if diff := cmp.Diff(want, d.ColumnInfoTypes); diff != "" {
		t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
	}
}

func TestRunCheck(t *testing.T) {
	t.Parallel()
	e := demoEngine(nil)
	var text bytes.Buffer
	if err := policy.RunCheck(context.Background(), e, analyst("SELECT full_name, city FROM demo.customers LIMIT 3"), false, &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"decision: allow",
		"[analysts-read-only]",
		"analysis: analyzer",
		"1. QUERY (query, analyzer) tables: querygate-local.demo.customers",
		"full_name <- querygate-local.demo.customers.full_name  [masked: PERSON_NAME]",
		"city <- querygate-local.demo.customers.city\n",
		"estimate from table sizes",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := policy.RunCheck(context.Background(), e, analyst("SELECT * FROM demo.customers"), true, &js); err != nil {
		t.Fatal(err)
	}
	var r policy.CheckReport
	if err := json.Unmarshal(js.Bytes(), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.String())
	}
	if r.Action != policy.ActionRequireApproval || r.ApproverGroup != "approvers" || r.ApprovalTTL != "15m0s" {
		t.Errorf("report: %+v", r)
	}
	if len(r.Statements) != 1 || len(r.Statements[0].Star) != 1 || !strings.HasPrefix(r.Statements[0].Star[0], "* over querygate-local.demo.customers") {
		t.Errorf("statements: %+v", r.Statements)
	}
	if diff := cmp.Diff([]string{"US_SOCIAL_SECURITY_NUMBER"}, r.ColumnInfoTypes["ssn"]); diff != "" {
		t.Errorf("ssn infoTypes (-want, +got):\n%s", diff)
	}
}

func TestRunTestReportsFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := "version: 1\ndefaults: {default_project: querygate-local, default_dataset: demo}\nrules:\n  - id: all\n    action: allow\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := "policy: p.yaml\ntests:\n  - name: passes\n    sql: SELECT 1\n    expect: {action: allow, rule_ids: [all]}\n  - name: fails\n    sql: SELECT 1\n    expect: {action: deny}\n"
	file := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(file, []byte(tests), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := policy.RunTest(context.Background(), func(p *policy.Policy) *policy.Engine { return demoEngine(p) }, file, &out)
	if !errors.Is(err, policy.ErrTestsFailed) {
		t.Errorf("err = %v, want ErrTestsFailed", err)
	}
	for _, want := range []string{"PASS passes", "FAIL fails", "action: want deny, got allow", "1 passed, 1 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := os.WriteFile(file, []byte("tests:\n  - nam: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := policy.RunTest(context.Background(), func(p *policy.Policy) *policy.Engine { return demoEngine(p) }, file, &out); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown field in test file: %v", err)
	}
}

// TestErrorFunction checks the built-in refusal of ERROR(), which would carry
// column values out through the unmasked error message.
func TestErrorFunction(t *testing.T) {
	t.Parallel()
	e := demoEngine(nil)
	tests := []struct {
		name, sql, action string
	}{
		{"ERROR over PII", "SELECT ERROR(CONCAT(full_name, ' ', email)) FROM demo.customers", policy.ActionDeny},
		{"lower case in a subquery", "SELECT (SELECT error(ssn) FROM demo.customers LIMIT 1) AS x", policy.ActionDeny},
		{"in a nested statement", "BEGIN\n  SELECT ERROR(email) FROM demo.customers;\nEND", policy.ActionDeny},
		{"parser fallback", "SELECT ERROR(x) FROM demo.no_such_table", policy.ActionDeny},
		{"column alias error", "SELECT city AS error FROM demo.customers", policy.ActionAllow},
		{"string literal", "SELECT 'ERROR(' AS e FROM demo.customers", policy.ActionAllow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), analyst(tc.sql))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action {
				t.Fatalf("action = %s, want %s (%v %v)", d.Action, tc.action, d.RuleIDs, d.Reasons)
			}
			if tc.action != policy.ActionDeny {
				return
			}
			if diff := cmp.Diff([]string{"builtin.error_function"}, d.RuleIDs); diff != "" {
				t.Errorf("rule ids (-want, +got):\n%s", diff)
			}
			if len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "ERROR() function") || !strings.Contains(d.Reasons[0], "not masked") {
				t.Errorf("reasons = %q", d.Reasons)
			}
		})
	}
}
