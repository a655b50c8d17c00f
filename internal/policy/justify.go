package policy

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule ids of the justification and break-glass checks (docs/policy.md).
const (
	// RuleJustificationRequired denies a held request without a
	// justification when a matching require_approval rule says
	// require_justification, or when the request declares break-glass.
	RuleJustificationRequired = "builtin.justification_required"
	// RuleBreakGlass marks a request that runs without waiting because
	// its caller declared break-glass as a member of every matching
	// rule's break_glass_group.
	RuleBreakGlass = "builtin.break_glass"
	// RuleBreakGlassRefused denies a break-glass declaration from a caller
	// outside a matching rule's break_glass_group (or under a rule that
	// names none). It does not fall back to waiting: the caller asked to
	// skip approval and may not, and says so at once.
	RuleBreakGlassRefused = "builtin.break_glass_refused"
)

// Justify is what require_justification and break_glass_group made of a
// require_approval decision.
type Justify struct {
	// MissingJustification: the request needed a justification and had
	// none. The action is deny; the front doors answer 400 naming the
	// field (or header, or argument) to add.
	MissingJustification bool
	// BreakGlass: the request declared break-glass, its caller is in the
	// break_glass_group of every matching require_approval rule, and the
	// action is allow. The approver fields stay set, so the approvers can
	// be mailed for review after the fact.
	BreakGlass bool
	// BreakGlassGroups are the groups that granted it, sorted.
	BreakGlassGroups []string
}

// applyJustify applies the justification and break-glass settings of the
// matching require_approval rules to d, whose action is require_approval.
// Break-glass only ever turns require_approval into allow: a deny rule has
// already decided before this runs, and the max_bytes_billed check runs
// after it.
func applyJustify(d *Decision, in Input, rules []*Rule) {
	var demanding []string
	for _, r := range rules {
		if r.RequireJustification {
			demanding = append(demanding, r.ID)
		}
	}
	if (in.BreakGlass || len(demanding) > 0) && strings.TrimSpace(in.Justification) == "" {
		clearApproval(d)
		d.MissingJustification = true
		why := "Rule " + strings.Join(demanding, ", ") + " holds this query for approval and requires a justification"
		if len(demanding) == 0 {
			why = "Break-glass was declared without a justification"
		}
		deny(d, RuleJustificationRequired, why+": resend the same request with a justification (one or two sentences saying why this query is needed now).")
		return
	}
	if !in.BreakGlass {
		return
	}
	var groups []string
	for _, r := range rules {
		switch {
		case r.BreakGlassGroup == "":
			clearApproval(d)
			deny(d, RuleBreakGlassRefused, fmt.Sprintf("Break-glass is refused: rule %s names no break_glass_group, so this query must wait for approval. Resend it without break-glass.", r.ID))
			return
		case !slices.Contains(in.Groups, r.BreakGlassGroup):
			clearApproval(d)
			deny(d, RuleBreakGlassRefused, fmt.Sprintf("Break-glass is refused: principal %q is not a member of group %s, the break_glass_group of rule %s. Resend without break-glass to wait for approval.", in.Email, r.BreakGlassGroup, r.ID))
			return
		}
		if !slices.Contains(groups, r.BreakGlassGroup) {
			groups = append(groups, r.BreakGlassGroup)
		}
	}
	slices.Sort(groups)
	d.Action = ActionAllow
	d.BreakGlass, d.BreakGlassGroups = true, groups
	d.RuleIDs = append(d.RuleIDs, RuleBreakGlass)
	d.Reasons = append(d.Reasons, fmt.Sprintf("Run at once under break-glass by %q (group %s); the approvers are mailed to review it.", in.Email, strings.Join(groups, ", ")))
}

// clearApproval drops the approval fields of a decision that became a
// deny.
func clearApproval(d *Decision) {
	d.ApproverGroup, d.ApprovalTTL = "", 0
	d.MinApprovals, d.ApproverGroups, d.AllGroupsMustApprove = 0, nil, false
}

// checkJustify validates require_justification and break_glass_group.
func checkJustify(r Rule, rn *yaml.Node, line int, bad func(line int, format string, args ...any)) {
	if r.Action != ActionRequireApproval {
		if r.RequireJustification || r.BreakGlassGroup != "" {
			bad(line, "rule %q: require_justification and break_glass_group only apply to require_approval rules", r.ID)
		}
		return
	}
	if r.BreakGlassGroup != "" && (strings.TrimSpace(r.BreakGlassGroup) != r.BreakGlassGroup || strings.ContainsAny(r.BreakGlassGroup, "\r\n\t")) {
		bad(keyLine(rn, "break_glass_group"), "rule %q: break_glass_group %q must be a group name without surrounding spaces", r.ID, r.BreakGlassGroup)
	}
}
