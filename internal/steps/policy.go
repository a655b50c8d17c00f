package steps

import (
	"context"

	"github.com/querygate/querygate/internal/session"
)

// PolicyResult is what the workflow sees of a decision.
type PolicyResult struct {
	Action         string   `json:"action"`
	ApproverGroup  string   `json:"approver_group,omitempty"`
	TimeoutSeconds int64    `json:"timeout_seconds,omitempty"`
	Reasons        []string `json:"reasons"`
}

// RunPolicy evaluates policy once per session; a retry returns the stored
// decision.
func (s *Steps) RunPolicy(ctx context.Context, id string) (*PolicyResult, error) {
	sess, err := s.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.Decision != nil {
		return policyResult(sess.Decision), nil
	}
	dec, err := s.policy().Evaluate(ctx, sess)
	if err != nil {
		return nil, transient("evaluate policy", err)
	}
	if dec.DecidedAt.IsZero() {
		dec.DecidedAt = s.now()
	}
	switch dec.Action {
	case "allow", "deny", "require_approval":
	default:
		// Fail closed on anything unexpected.
		dec = &session.Decision{Action: "deny", Reasons: []string{"policy returned an unknown action"}, DecidedAt: s.now()}
	}
	// The per-column facts are recorded bounded, so a SELECT * over a
	// wide table still fits the event and session documents.
	var omitted int64
	dec.Columns, omitted = session.FitDecisionColumns(dec.Columns)
	dec.ColumnsOmitted += omitted
	sess, err = s.store().Update(ctx, id, func(x *session.Session) error {
		if x.Decision != nil { // a concurrent retry won
			return nil
		}
		x.Decision = dec
		x.AddEvent(dec.DecidedAt, "policy", session.PolicyDecidedData{
			Action:         dec.Action,
			RuleIDs:        dec.RuleIDs,
			Reasons:        dec.Reasons,
			AnalysisPath:   dec.AnalysisPath,
			EstimatedBytes: dec.EstimatedBytes,
			ApproverGroup:  dec.ApproverGroup,
			Columns:        dec.Columns,
			ColumnsOmitted: dec.ColumnsOmitted,
		})
		// Issue 15 item 3: a break-glass run is flagged on the timeline
		// (and so in the audit table) by its own event.
		if dec.BreakGlass {
			x.AddEvent(dec.DecidedAt, "policy", session.BreakGlassData{
				Principal: x.Principal.Email, Groups: dec.BreakGlassGroups, RuleIDs: dec.RuleIDs,
				Justification: x.Justification, ReviewGroup: dec.ApproverGroup,
			})
		}
		return nil
	})
	if err != nil {
		return nil, transient("store decision", err)
	}
	return policyResult(sess.Decision), nil
}

func policyResult(d *session.Decision) *PolicyResult {
	r := &PolicyResult{Action: d.Action, ApproverGroup: d.ApproverGroup, Reasons: d.Reasons}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	if d.Action == "require_approval" {
		r.TimeoutSeconds = int64(d.ApprovalTTL.Seconds())
		if r.TimeoutSeconds <= 0 {
			r.TimeoutSeconds = 900
		}
	}
	return r
}
