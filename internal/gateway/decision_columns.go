package gateway

import (
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// decisionColumns converts the engine's per-column facts into the form the
// session records (the steps bound them with session.FitDecisionColumns).
func decisionColumns(facts []policy.ColumnFacts) []session.DecisionColumn {
	if len(facts) == 0 {
		return nil
	}
	out := make([]session.DecisionColumn, 0, len(facts))
	for _, f := range facts {
		c := session.DecisionColumn{Name: f.Name, Index: int64(f.Index), InfoTypes: f.InfoTypes, Derived: f.Derived}
		for _, l := range f.Lineage {
			c.Lineage = append(c.Lineage, l.String())
		}
		for _, cc := range f.Classes {
			c.Classes = append(c.Classes, session.ColumnClass{Column: cc.Column.String(), InfoTypes: cc.InfoTypes, Sources: cc.Sources,
				SampledRows: cc.SampledRows, NonNull: cc.NonNull, Matches: cc.Matches})
		}
		out = append(out, c)
	}
	return out
}
