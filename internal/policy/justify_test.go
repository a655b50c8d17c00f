package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
)

const justifyPolicy = `
version: 1
defaults:
  default_project: querygate-local
  default_dataset: demo
  approver_group: approvers
sensitive_columns:
  demo.customers.ssn: US_SOCIAL_SECURITY_NUMBER
  demo.customers.email: [EMAIL_ADDRESS]
rules:
  - id: everyone-reads
    match: {only_kinds: [query]}
    action: allow
  - id: ssn-held
    match: {info_types: [US_SOCIAL_SECURITY_NUMBER]}
    action: require_approval
    require_justification: true
    break_glass_group: oncall
  - id: email-held
    match: {info_types: [EMAIL_ADDRESS]}
    action: require_approval
  - id: no-phone
    match: {tables: [demo.orders]}
    action: deny
    reason: orders are off limits
`

// TestJustifyDecisions: require_justification denies (as a missing
// justification) without one; break-glass by a member of every matching
// rule's break_glass_group runs at once, keeping the approver group for
// the review mail; a non-member, a rule without a break_glass_group and a
// deny rule all refuse it.
func TestJustifyDecisions(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(justifyPolicy), "justify.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	const why = "incident 4711: confirm the customer's identity"
	tests := []struct {
		name          string
		in            policy.Input
		action        string
		rules         []string
		missing, bg   bool
		approverGroup string
		reason        string
	}{
		{"justification required", policy.Input{SQL: "SELECT ssn FROM demo.customers", Email: "ana@example.com"},
			policy.ActionDeny, []string{"ssn-held", "builtin.justification_required"}, true, false, "",
			"Rule ssn-held holds this query for approval and requires a justification"},
		{"blank justification", policy.Input{SQL: "SELECT ssn FROM demo.customers", Justification: "  "},
			policy.ActionDeny, []string{"ssn-held", "builtin.justification_required"}, true, false, "", "requires a justification"},
		{"justified: waits", policy.Input{SQL: "SELECT ssn FROM demo.customers", Justification: why},
			policy.ActionRequireApproval, []string{"ssn-held"}, false, false, "approvers", ""},
		{"other rule needs none", policy.Input{SQL: "SELECT email FROM demo.customers"},
			policy.ActionRequireApproval, []string{"email-held"}, false, false, "approvers", ""},
		{"break-glass by a member", policy.Input{SQL: "SELECT ssn FROM demo.customers", Justification: why, BreakGlass: true,
			Email: "oc@example.com", Groups: []string{"oncall"}},
			policy.ActionAllow, []string{"ssn-held", "builtin.break_glass"}, false, true, "approvers", `under break-glass by "oc@example.com" (group oncall)`},
		{"break-glass without justification", policy.Input{SQL: "SELECT ssn FROM demo.customers", BreakGlass: true, Groups: []string{"oncall"}},
			policy.ActionDeny, []string{"ssn-held", "builtin.justification_required"}, true, false, "", "Rule ssn-held"},
		{"break-glass by a non-member", policy.Input{SQL: "SELECT ssn FROM demo.customers", Justification: why, BreakGlass: true,
			Email: "ana@example.com", Groups: []string{"analysts"}},
			policy.ActionDeny, []string{"ssn-held", "builtin.break_glass_refused"}, false, false, "",
			`principal "ana@example.com" is not a member of group oncall, the break_glass_group of rule ssn-held`},
		{"a rule without break_glass_group", policy.Input{SQL: "SELECT ssn, email FROM demo.customers", Justification: why, BreakGlass: true,
			Groups: []string{"oncall"}},
			policy.ActionDeny, []string{"ssn-held", "email-held", "builtin.break_glass_refused"}, false, false, "", "rule email-held names no break_glass_group"},
		{"deny rules stay", policy.Input{SQL: "SELECT ssn FROM demo.customers JOIN demo.orders USING (customer_id)", Justification: why, BreakGlass: true,
			Groups: []string{"oncall"}},
			policy.ActionDeny, []string{"no-phone"}, false, false, "", "orders are off limits"},
		{"not held: break-glass not needed", policy.Input{SQL: "SELECT city FROM demo.customers", Justification: why, BreakGlass: true},
			policy.ActionAllow, []string{"everyone-reads"}, false, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action || d.MissingJustification != tc.missing || d.BreakGlass != tc.bg || d.ApproverGroup != tc.approverGroup {
				t.Errorf("decision = %s missing=%v break_glass=%v approver group %q, want %s %v %v %q (reasons %q)",
					d.Action, d.MissingJustification, d.BreakGlass, d.ApproverGroup, tc.action, tc.missing, tc.bg, tc.approverGroup, d.Reasons)
			}
			if diff := cmp.Diff(tc.rules, d.RuleIDs); diff != "" {
				t.Errorf("rule ids (-want, +got):\n%s", diff)
			}
			if all := strings.Join(d.Reasons, "\n"); !strings.Contains(all, tc.reason) {
				t.Errorf("reasons %q lack %q", all, tc.reason)
			}
			if tc.bg {
				if diff := cmp.Diff([]string{"oncall"}, d.BreakGlassGroups); diff != "" {
					t.Errorf("break-glass groups (-want, +got):\n%s", diff)
				}
			}
		})
	}
}

func TestJustifyValidation(t *testing.T) {
	t.Parallel()
	rule := "version: 1\ndefaults:\n  approver_group: approvers\nrules:\n  - id: a\n"
	tests := []struct{ name, src, want string }{
		{"require_justification on allow", rule + "    action: allow\n    require_justification: true\n", "x.yaml:5: rule \"a\": require_justification and break_glass_group only apply to require_approval rules"},
		{"break_glass_group on deny", rule + "    action: deny\n    break_glass_group: oncall\n", "only apply to require_approval rules"},
		{"spaced group", rule + "    action: require_approval\n    break_glass_group: \" oncall\"\n", "x.yaml:7: rule \"a\": break_glass_group \" oncall\" must be a group name"},
		{"unknown field", rule + "    action: require_approval\n    break_glass: true\n", "field break_glass not found"},
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
	ok := rule + "    action: require_approval\n    require_justification: true\n    break_glass_group: oncall\n"
	p, err := policy.Load([]byte(ok), "x.yaml")
	if err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	if r := p.Rules[0]; !r.RequireJustification || r.BreakGlassGroup != "oncall" {
		t.Errorf("rule = %+v, want require_justification and break_glass_group oncall", r)
	}
}
