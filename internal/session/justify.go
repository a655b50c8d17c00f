package session

// Justify is the part of a policy decision that the justification and
// break-glass settings of require_approval rules decided.
type Justify struct {
	// MissingJustification: a matching rule required a justification (or
	// break-glass was declared) and the request had none; the action is
	// deny and the front doors answer 400 naming what to add.
	MissingJustification bool `json:"missing_justification,omitempty"`
	// BreakGlass: the query runs at once under break-glass; the approver
	// fields name whom to mail for review. BreakGlassGroups are the groups
	// that granted it.
	BreakGlass       bool     `json:"break_glass,omitempty"`
	BreakGlassGroups []string `json:"break_glass_groups,omitempty"`
}

// MaxJustificationBytes bounds a justification once cleaned
// (CleanJustification).
const MaxJustificationBytes = 1000

// BreakGlassData is the payload of policy.break_glass: who ran the query
// without waiting, through which groups, under which rules, and why.
type BreakGlassData struct {
	Principal     string   `json:"principal"`
	Groups        []string `json:"groups"`
	RuleIDs       []string `json:"rule_ids,omitempty"`
	Justification string   `json:"justification"`
	// ReviewGroup is the approver group mailed to review the run.
	ReviewGroup string `json:"review_group"`
}

func (BreakGlassData) EventType() EventType { return EventBreakGlass }
func (BreakGlassData) payload()             {}
