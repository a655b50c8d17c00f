package session_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// TestPolicyDecidedColumnsEncoding pins the policy.decided encoding with
// and without per-column facts: an event written before them has no
// columns key and must encode, and so verify, exactly as it did.
func TestPolicyDecidedColumnsEncoding(t *testing.T) {
	t.Parallel()
	old := session.PolicyDecidedData{Action: "allow", RuleIDs: []string{"r"}, AnalysisPath: "analyzer", EstimatedBytes: 5}
	if got, want := string(session.EncodePayload(old)), `{"action":"allow","rule_ids":["r"],"analysis_path":"analyzer","estimated_bytes":5,"approver_group":""}`; got != want {
		t.Errorf("old policy.decided = %s, want %s", got, want)
	}
	withCols := old
	withCols.Columns = []session.DecisionColumn{{Name: "c", Index: 0, Lineage: []string{"p.d.t.cc"}, InfoTypes: []string{"CREDIT_CARD_NUMBER", "QUERYGATE_DERIVED"}, Derived: true,
		Classes: []session.ColumnClass{{Column: "p.d.t.cc", InfoTypes: []string{"CREDIT_CARD_NUMBER"}, Sources: []string{"profile"}, SampledRows: 24, NonNull: 24, Matches: 24}}}}
	withCols.ColumnsOmitted = 3
	want := `{"action":"allow","rule_ids":["r"],"analysis_path":"analyzer","estimated_bytes":5,"approver_group":"",` +
		`"columns":[{"name":"c","index":0,"lineage":["p.d.t.cc"],"info_types":["CREDIT_CARD_NUMBER","QUERYGATE_DERIVED"],"derived":true,` +
		`"classes":[{"column":"p.d.t.cc","info_types":["CREDIT_CARD_NUMBER"],"sources":["profile"],"sampled_rows":24,"non_null":24,"matches":24}]}],"columns_omitted":3}`
	if got := string(session.EncodePayload(withCols)); got != want {
		t.Errorf("policy.decided with columns = %s, want %s", got, want)
	}
	got, err := session.DecodePayload(session.EventPolicyDecided, []byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(session.Payload(withCols), got); diff != "" {
		t.Errorf("decode (-want, +got):\n%s", diff)
	}
}

// TestFitDecisionColumnsBoundsAWideStar records the facts of a SELECT *
// over a table of 10,000 columns (BigQuery's maximum), each with a long
// lineage: the kept facts stay within MaxDecisionColumnsBytes, the rest are
// counted, and the event fits its document.
func TestFitDecisionColumnsBoundsAWideStar(t *testing.T) {
	t.Parallel()
	var cols []session.DecisionColumn
	for i := range 10000 {
		c := session.DecisionColumn{Name: fmt.Sprintf("column_%05d", i), Index: int64(i), InfoTypes: []string{"EMAIL_ADDRESS"}}
		for j := range 40 {
			ref := fmt.Sprintf("project-with-a-long-name.dataset_name.table_%02d.column_%05d", j, i)
			c.Lineage = append(c.Lineage, ref)
			c.Classes = append(c.Classes, session.ColumnClass{Column: ref, InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, SampledRows: 1000, NonNull: 1000, Matches: 999})
		}
		cols = append(cols, c)
	}
	kept, omitted := session.FitDecisionColumns(cols)
	if len(kept) == 0 || omitted == 0 || int64(len(kept))+omitted != 10000 {
		t.Fatalf("kept %d, omitted %d of 10000", len(kept), omitted)
	}
	for i, c := range kept {
		if c.Name != cols[i].Name {
			t.Fatalf("kept column %d is %s, want %s (order kept)", i, c.Name, cols[i].Name)
		}
		if len(c.Lineage) != session.MaxDecisionColumnRefs || c.LineageOmitted != 8 || len(c.Classes) != session.MaxDecisionColumnRefs || c.ClassesOmitted != 8 {
			t.Fatalf("column %d: %d lineage (+%d), %d classes (+%d), want %d (+8) each", i, len(c.Lineage), c.LineageOmitted, len(c.Classes), c.ClassesOmitted, session.MaxDecisionColumnRefs)
		}
	}
	if len(cols[0].Lineage) != 40 {
		t.Error("FitDecisionColumns changed its input")
	}
	s := &session.Session{ID: "wide"}
	e := s.AddEvent(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), "policy", session.PolicyDecidedData{Action: "require_approval", Columns: kept, ColumnsOmitted: omitted})
	if len(e.Data) > session.MaxDecisionColumnsBytes+1024 {
		t.Errorf("policy.decided data is %d bytes, want at most the %d-byte budget plus the fixed fields", len(e.Data), session.MaxDecisionColumnsBytes)
	}
	n, err := session.EventDocumentBytes(e)
	if err != nil || n > session.MaxLogicalDocumentBytes {
		t.Errorf("event document %d bytes (%v), want at most %d", n, err, session.MaxLogicalDocumentBytes)
	}
	t.Logf("10,000 columns: %d kept, %d omitted; policy.decided data %d bytes, event document %d bytes", len(kept), omitted, len(e.Data), n)

	// A plain SELECT * of 1,000 PII columns, each a copy of one profiled
	// column: how many the record keeps.
	var plain []session.DecisionColumn
	for i := range 1000 {
		ref := fmt.Sprintf("my-project.crm.people.column_%04d", i)
		plain = append(plain, session.DecisionColumn{Name: fmt.Sprintf("column_%04d", i), Index: int64(i), Lineage: []string{ref}, InfoTypes: []string{"EMAIL_ADDRESS"},
			Classes: []session.ColumnClass{{Column: ref, InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, SampledRows: 1000, NonNull: 1000, Matches: 1000}}})
	}
	keptPlain, omittedPlain := session.FitDecisionColumns(plain)
	if len(keptPlain) < 200 || int64(len(keptPlain))+omittedPlain != 1000 {
		t.Errorf("plain star over 1,000 columns: kept %d, omitted %d; want at least 200 kept", len(keptPlain), omittedPlain)
	}
	t.Logf("plain star over 1,000 columns: %d kept, %d omitted", len(keptPlain), omittedPlain)

	small := []session.DecisionColumn{{Name: "a"}, {Name: "b", Lineage: []string{"p.d.t.b"}}}
	got, omitted := session.FitDecisionColumns(small)
	if diff := cmp.Diff(small, got); diff != "" || omitted != 0 {
		t.Errorf("a small decision was changed (omitted %d) (-want, +got):\n%s", omitted, diff)
	}
	huge := []session.DecisionColumn{{Name: strings.Repeat("x", session.MaxDecisionColumnsBytes)}, {Name: "b"}}
	if got, omitted := session.FitDecisionColumns(huge); len(got) != 0 || omitted != 2 {
		t.Errorf("a column over the budget: kept %d, omitted %d; want 0, 2 (order is kept, nothing after a gap)", len(got), omitted)
	}
}
