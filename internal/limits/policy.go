package limits

import (
	"context"
	"fmt"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// Policy wraps the policy step's decision with bytes_per_day: a request
// the policy would let run (or send for approval) is denied when its cost
// estimate exceeds what is left of the principal's budget today, or when
// nothing is left. It is the policy that the composition gives the steps.
type Policy struct {
	Next     steps.Policy
	Enforcer *Enforcer
}

var _ steps.Policy = (*Policy)(nil)

// Evaluate implements steps.Policy. A budget that cannot be read is an
// error: the step is retried and, failing that, the session fails; nothing
// runs unchecked.
func (p *Policy) Evaluate(ctx context.Context, s *session.Session) (*session.Decision, error) {
	d, err := p.Next.Evaluate(ctx, s)
	if err != nil || d == nil || d.Action == "deny" || p.Enforcer == nil {
		return d, err
	}
	b, err := p.Enforcer.BytesBudget(ctx, &s.Principal)
	if err != nil {
		return nil, err
	}
	if b == nil || (b.Remaining > 0 && d.EstimatedBytes <= b.Remaining) {
		return d, nil
	}
	reason := fmt.Sprintf("The query would process about %d bytes, more than the %d bytes left of your daily budget (bytes_per_day: %d, %d billed today). The budget resets at %s; select fewer columns or filter on partition columns.",
		d.EstimatedBytes, b.Remaining, b.Limit, b.Used, b.ResetsAt.Format("2006-01-02T15:04:05Z"))
	if b.Remaining == 0 {
		reason = fmt.Sprintf("Your daily budget is spent: %d bytes billed today, bytes_per_day is %d, 0 bytes left. The budget resets at %s.",
			b.Used, b.Limit, b.ResetsAt.Format("2006-01-02T15:04:05Z"))
	}
	// As with builtin.max_bytes_billed, the limit replaces what the rules
	// decided: nothing is sent for approval that could not run.
	d.Action, d.RuleIDs, d.Reasons = "deny", []string{BytesPerDayRuleID}, []string{reason}
	d.ApproverGroup, d.ApprovalTTL, d.MinApprovals, d.ApproverGroups, d.AllGroupsMustApprove = "", 0, 0, nil, false
	return d, nil
}
