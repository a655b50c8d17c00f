// Package gateway assembles querygate's components into HTTP handlers. It is
// shared by the local gateway (cmd/querygate dev) and the Cloud Run
// functions, and links neither the BigQuery emulator nor any local-only
// stand-in.
package gateway

import (
	"context"
	"slices"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// EnginePolicy adapts the policy engine to the policy step.
type EnginePolicy struct {
	Engine         *policy.Engine
	DefaultProject string
}

var _ steps.Policy = (*EnginePolicy)(nil)

// Evaluate implements steps.Policy.
func (p *EnginePolicy) Evaluate(ctx context.Context, s *session.Session) (*session.Decision, error) {
	proj, ds := p.DefaultProject, s.DefaultDataset
	for i := 0; i < len(ds); i++ {
		if ds[i] == '.' {
			proj, ds = ds[:i], ds[i+1:]
			break
		}
	}
	d, err := p.Engine.Evaluate(ctx, policy.Input{SQL: s.SQL, Groups: s.Principal.Groups, Email: s.Principal.Email,
		DefaultProject: proj, DefaultDataset: ds, Justification: s.Justification, BreakGlass: s.BreakGlass, Parameters: s.Parameters})
	if err != nil {
		return nil, err
	}
	out := &session.Decision{
		Action: d.Action, RuleIDs: d.RuleIDs, Reasons: d.Reasons, ApproverGroup: d.ApproverGroup,
		ApprovalTTL: session.Duration(d.ApprovalTTL), AnalysisPath: d.AnalysisPath, EstimatedBytes: d.EstimatedBytes,
		MaxBytesBilled: d.MaxBytesBilled, ColumnInfoTypes: d.ColumnInfoTypes, JobTimeout: session.Duration(d.JobTimeout),
		MinApprovals: d.MinApprovals, ApproverGroups: d.ApproverGroups, AllGroupsMustApprove: d.AllGroupsMustApprove,
		Columns: decisionColumns(d.Columns), // issue 11 item 4: the per-column facts
	}
	// Issue 15 items 2 and 3: justification and break-glass.
	out.Justify = session.Justify{MissingJustification: d.MissingJustification, BreakGlass: d.BreakGlass, BreakGlassGroups: d.BreakGlassGroups}
	for c := range d.ColumnInfoTypes {
		out.MaskedColumns = append(out.MaskedColumns, c)
	}
	slices.Sort(out.MaskedColumns)
	return out, nil
}
