package session

import "encoding/json"

// DecisionColumn is what the policy decision knew about one output column
// (issue 11 item 4): the source columns its lineage reaches, the infoTypes
// it carries (QUERYGATE_DERIVED when it is replaced whole), whether it is
// computed from its sources rather than copied, and how each sensitive
// source was classified. Names and counts only, never a cell value. It is
// part of the policy.decided payload: never rename a JSON key.
type DecisionColumn struct {
	Name  string `json:"name"`
	Index int64  `json:"index"`
	// Lineage holds project.dataset.table.column names, at most
	// MaxDecisionColumnRefs; LineageOmitted counts the rest.
	Lineage        []string `json:"lineage,omitempty"`
	LineageOmitted int64    `json:"lineage_omitted,omitempty"`
	InfoTypes      []string `json:"info_types,omitempty"`
	Derived        bool     `json:"derived,omitempty"`
	// Classes are the sensitive sources, at most MaxDecisionColumnRefs;
	// ClassesOmitted counts the rest.
	Classes        []ColumnClass `json:"classes,omitempty"`
	ClassesOmitted int64         `json:"classes_omitted,omitempty"`
}

// ColumnClass is how one sensitive source column was classified: Sources
// lists file (the policy file), policy_tag and profile; for a profile,
// SampledRows rows were sampled, NonNull of its cells had text, and the
// infoType was found in Matches of them (the match share is Matches over
// NonNull).
type ColumnClass struct {
	Column      string   `json:"column"`
	InfoTypes   []string `json:"info_types"`
	Sources     []string `json:"sources"`
	SampledRows int64    `json:"sampled_rows,omitempty"`
	NonNull     int64    `json:"non_null,omitempty"`
	Matches     int64    `json:"matches,omitempty"`
}

// Bounds of the per-column facts a decision records. A SELECT * over a
// table of 10,000 columns must still fit its event and session documents
// (MaxDocumentBytes), so the facts take at most MaxDecisionColumnsBytes of
// JSON; the columns past that are counted, not recorded.
const (
	MaxDecisionColumnsBytes = 64 << 10
	MaxDecisionColumnRefs   = 32
)

// FitDecisionColumns bounds cols for the record: each column keeps at most
// MaxDecisionColumnRefs lineage entries and classes, and columns are kept,
// in order, while their JSON stays within MaxDecisionColumnsBytes. It
// returns the columns kept and how many were left out.
func FitDecisionColumns(cols []DecisionColumn) ([]DecisionColumn, int64) {
	var out []DecisionColumn
	size := 0
	for i, c := range cols {
		if n := len(c.Lineage); n > MaxDecisionColumnRefs {
			c.Lineage, c.LineageOmitted = c.Lineage[:MaxDecisionColumnRefs:MaxDecisionColumnRefs], c.LineageOmitted+int64(n-MaxDecisionColumnRefs)
		}
		if n := len(c.Classes); n > MaxDecisionColumnRefs {
			c.Classes, c.ClassesOmitted = c.Classes[:MaxDecisionColumnRefs:MaxDecisionColumnRefs], c.ClassesOmitted+int64(n-MaxDecisionColumnRefs)
		}
		b, err := json.Marshal(c)
		if err != nil || size+len(b)+1 > MaxDecisionColumnsBytes {
			return out, int64(len(cols) - i)
		}
		size += len(b) + 1
		out = append(out, c)
	}
	return out, 0
}
