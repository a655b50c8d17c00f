package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
)

const quorumPolicy = `
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
  - id: ssn-needs-two
    match: {info_types: [US_SOCIAL_SECURITY_NUMBER]}
    action: require_approval
    approver_groups: [owners, security]
    all_groups_must_approve: true
    min_approvals: 2
  - id: email-needs-three
    match: {info_types: [EMAIL_ADDRESS]}
    action: require_approval
    min_approvals: 3
`

// TestQuorumFields: the quorum of the matching approval rules lands on the
// decision: the largest min_approvals, the groups of the first rule naming
// any, all_groups_must_approve if any sets it.
func TestQuorumFields(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(quorumPolicy), "quorum.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	tests := []struct {
		name, sql string
		min       int
		groups    []string
		group     string
		all       bool
	}{
		{"groups and quorum", "SELECT ssn FROM demo.customers", 2, []string{"owners", "security"}, "owners", true},
		{"largest min_approvals", "SELECT ssn, email FROM demo.customers", 3, []string{"owners", "security"}, "owners", true},
		{"default group", "SELECT email FROM demo.customers", 3, nil, "approvers", false},
		{"allowed: no quorum", "SELECT city FROM demo.customers", 0, nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := e.Evaluate(context.Background(), policy.Input{SQL: tc.sql})
			if err != nil {
				t.Fatal(err)
			}
			if d.MinApprovals != tc.min || d.ApproverGroup != tc.group || d.AllGroupsMustApprove != tc.all {
				t.Errorf("quorum = %d %q all=%v, want %d %q all=%v (%s)", d.MinApprovals, d.ApproverGroup, d.AllGroupsMustApprove, tc.min, tc.group, tc.all, d.Action)
			}
			if diff := cmp.Diff(tc.groups, d.ApproverGroups); diff != "" {
				t.Errorf("approver groups (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestQuorumValidation(t *testing.T) {
	t.Parallel()
	rule := "version: 1\ndefaults:\n  approver_group: approvers\nrules:\n  - id: a\n"
	tests := []struct{ name, src, want string }{
		{"negative", rule + "    action: require_approval\n    min_approvals: -1\n", "x.yaml:7: rule \"a\": min_approvals must be between 1 and 20"},
		{"too many", rule + "    action: require_approval\n    min_approvals: 21\n", "min_approvals must be between 1 and 20"},
		{"on allow", rule + "    action: allow\n    min_approvals: 2\n", "only apply to require_approval rules"},
		{"both group fields", rule + "    action: require_approval\n    approver_group: x\n    approver_groups: [y]\n", "either approver_group or approver_groups"},
		{"repeated group", rule + "    action: require_approval\n    approver_groups: [y, y]\n", "empty or repeated group"},
		{"all groups of one", rule + "    action: require_approval\n    approver_groups: [y]\n    all_groups_must_approve: true\n", "needs at least two approver_groups"},
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

// TestQuorumInPolicyCheck: `policy check` shows the quorum, as text and
// JSON.
func TestQuorumInPolicyCheck(t *testing.T) {
	t.Parallel()
	p, err := policy.Load([]byte(quorumPolicy), "quorum.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := demoEngine(p)
	var text, js strings.Builder
	if err := policy.RunCheck(context.Background(), e, policy.Input{SQL: "SELECT ssn FROM demo.customers"}, false, &text); err != nil {
		t.Fatal(err)
	}
	if want := "quorum: 2 distinct approvers from owners, security, one from each group\n"; !strings.Contains(text.String(), want) {
		t.Errorf("policy check text lacks %q:\n%s", want, text.String())
	}
	if err := policy.RunCheck(context.Background(), e, policy.Input{SQL: "SELECT email FROM demo.customers"}, true, &js); err != nil {
		t.Fatal(err)
	}
	if want := `"min_approvals": 3`; !strings.Contains(js.String(), want) {
		t.Errorf("policy check --json lacks %s:\n%s", want, js.String())
	}
}
