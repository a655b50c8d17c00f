package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestProjectResolution covers issue 10's first finding across the three
// kinds of policy key (sensitive columns, table patterns, policy tags), with
// and without a project: a key without a project resolves only in the
// projects the policy governs, never in the project the agent names through
// default_dataset.
func TestProjectResolution(t *testing.T) {
	t.Parallel()
	const tag = "projects/p/locations/us/taxonomies/1/policyTags/9"
	people := func(project string) *sqlscan.TableMeta {
		return &sqlscan.TableMeta{
			Ref:  sqlscan.TableRef{Project: project, Dataset: "hr", Table: "people"},
			Type: "TABLE",
			Columns: []sqlscan.Column{
				{Name: "id", Type: "INT64"}, {Name: "ssn", Type: "STRING"}, {Name: "email", Type: "STRING"},
				{Name: "salary", Type: "NUMERIC", PolicyTags: []string{tag}}, {Name: "region", Type: "STRING"},
			},
		}
	}
	secret := func(project string) *sqlscan.TableMeta {
		return &sqlscan.TableMeta{
			Ref: sqlscan.TableRef{Project: project, Dataset: "hr", Table: "secret_notes"}, Type: "TABLE",
			Columns: []sqlscan.Column{{Name: "id", Type: "INT64"}},
		}
	}
	cat := sqlscan.NewMemoryCatalog(people("main-proj"), people("second-proj"), people("stranger-proj"),
		secret("main-proj"), secret("second-proj"), secret("stranger-proj"))
	const src = `version: 1
defaults:
  default_project: main-proj
  default_dataset: hr
  projects: [second-proj]
sensitive_columns:
  hr.people.ssn: US_SOCIAL_SECURITY_NUMBER
  main-proj.hr.people.email: EMAIL_ADDRESS
policy_tags:
  ` + tag + `: [FINANCIAL]
rules:
  - id: allow-all
    action: allow
  - id: deny-secret
    match: {tables: [hr.secret_*]}
    action: deny
  - id: deny-main-secret-explicit
    match: {tables: [main-proj.hr.secret_notes]}
    action: deny
`
	p, err := policy.Load([]byte(src), "projects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(p, cat)
	tests := []struct {
		name           string
		sql            string
		defaultProject string
		wantAction     string
		wantRules      []string
		wantColumns    map[string][]string
	}{
		{
			name: "project-less key in the default project", sql: "SELECT ssn, region FROM hr.people",
			wantAction: policy.ActionAllow, wantRules: nil, wantColumns: map[string][]string{"ssn": {"US_SOCIAL_SECURITY_NUMBER"}},
		},
		{
			name: "project-less key in a listed project", sql: "SELECT ssn, email FROM `second-proj.hr.people`",
			wantAction: policy.ActionAllow, wantColumns: map[string][]string{"ssn": {"US_SOCIAL_SECURITY_NUMBER"}},
		},
		{
			name: "key with a project applies only there", sql: "SELECT email FROM `main-proj.hr.people`",
			defaultProject: "second-proj",
			wantAction:     policy.ActionAllow, wantColumns: map[string][]string{"email": {"EMAIL_ADDRESS"}},
		},
		{
			name: "the attack: default project outside the policy", sql: "SELECT ssn, email, salary FROM `main-proj.hr.people`",
			defaultProject: "stranger-proj",
			wantAction:     policy.ActionDeny, wantRules: []string{"builtin.ungoverned_project"},
		},
		{
			name: "a table in a project outside the policy", sql: "SELECT region FROM `stranger-proj.hr.people`",
			wantAction: policy.ActionDeny, wantRules: []string{"builtin.ungoverned_project"},
		},
		{
			name: "policy tags resolve in a listed project", sql: "SELECT salary FROM `second-proj.hr.people`",
			wantAction: policy.ActionAllow, wantColumns: map[string][]string{"salary": {"FINANCIAL"}},
		},
		{
			name: "project-less table pattern denies in the default project", sql: "SELECT id FROM hr.secret_notes",
			wantAction: policy.ActionDeny, wantRules: []string{"deny-secret", "deny-main-secret-explicit"},
		},
		{
			name: "project-less table pattern denies in a listed project", sql: "SELECT id FROM hr.secret_notes",
			defaultProject: "second-proj",
			wantAction:     policy.ActionDeny, wantRules: []string{"deny-secret"},
		},
		{
			name: "table pattern with a project does not match elsewhere", sql: "SELECT id FROM `second-proj.hr.secret_notes`",
			wantAction: policy.ActionDeny, wantRules: []string{"deny-secret"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), policy.Input{SQL: tc.sql, Groups: []string{"analysts"},
				DefaultProject: tc.defaultProject})
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.wantAction {
				t.Fatalf("action = %s, want %s (%v)", d.Action, tc.wantAction, d.Reasons)
			}
			if tc.wantAction == policy.ActionDeny {
				if diff := cmp.Diff(tc.wantRules, d.RuleIDs); diff != "" {
					t.Errorf("RuleIDs (-want, +got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tc.wantColumns, d.ColumnInfoTypes); diff != "" {
				t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestUngovernedPolicyOverCovers: a policy that names no project at all
// applies its project-less keys in every project, so a request cannot step
// around them by naming another one.
func TestUngovernedPolicyOverCovers(t *testing.T) {
	t.Parallel()
	cat := sqlscan.NewMemoryCatalog(&sqlscan.TableMeta{
		Ref: sqlscan.TableRef{Project: "any-proj", Dataset: "hr", Table: "people"}, Type: "TABLE",
		Columns: []sqlscan.Column{{Name: "ssn", Type: "STRING"}},
	})
	p, err := policy.Load([]byte("version: 1\nsensitive_columns:\n  hr.people.ssn: US_SOCIAL_SECURITY_NUMBER\nrules:\n  - id: r\n    action: allow\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := policy.NewEngine(p, cat).Evaluate(context.Background(), policy.Input{SQL: "SELECT ssn FROM hr.people", DefaultProject: "any-proj"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"ssn": {"US_SOCIAL_SECURITY_NUMBER"}}, d.ColumnInfoTypes); diff != "" {
		t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
	}
}

// TestAuthorizeBeforeAnalysis: a caller whom no allow rule can match is
// denied without the SQL being analyzed (issue 10, finding 3), so a token
// with no groups cannot make the analyzer work.
func TestAuthorizeBeforeAnalysis(t *testing.T) {
	t.Parallel()
	huge := "SELECT t0.customer_id FROM demo.customers t0" + strings.Repeat(" JOIN demo.customers t1 USING (customer_id)", 3000)
	tests := []struct {
		name       string
		in         policy.Input
		wantAction string
		wantRule   string
		analyzed   bool
	}{
		{"no groups", policy.Input{SQL: huge, Email: "x@example.com"}, policy.ActionDeny, "builtin.no_grant", false},
		{"an unrelated group", policy.Input{SQL: "SELECT 1", Groups: []string{"marketing"}}, policy.ActionDeny, "builtin.no_grant", false},
		{"an analyst is analyzed", policy.Input{SQL: "SELECT city FROM demo.customers", Groups: []string{"analysts"}}, policy.ActionAllow, "analysts-read-only", true},
		{"an analyst's attack hits the cap", policy.Input{SQL: huge, Groups: []string{"analysts"}}, policy.ActionDeny, "builtin.parse_error", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := demoEngine(nil).Evaluate(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.wantAction || len(d.RuleIDs) == 0 || d.RuleIDs[0] != tc.wantRule {
				t.Fatalf("decision = %s %v (%v), want %s by %s", d.Action, d.RuleIDs, d.Reasons, tc.wantAction, tc.wantRule)
			}
			if (d.Analysis != nil) != tc.analyzed {
				t.Errorf("analyzed = %v, want %v", d.Analysis != nil, tc.analyzed)
			}
		})
	}
}
