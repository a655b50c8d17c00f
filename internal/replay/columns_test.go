package replay_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
)

// TestReplayShowsDecisionColumns prints the decision's per-column facts:
// lineage, derived, infoTypes, the classification source with its counts,
// and how many columns the bounded record left out.
func TestReplayShowsDecisionColumns(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "s1", Status: session.StatusSucceeded, CreatedAt: t0, Decision: &session.Decision{Action: "allow",
		Columns: []session.DecisionColumn{
			{Name: "cc8", Lineage: []string{"p.crm.people.cc"}, Derived: true, InfoTypes: []string{"CREDIT_CARD_NUMBER", "QUERYGATE_DERIVED"},
				Classes: []session.ColumnClass{{Column: "p.crm.people.cc", InfoTypes: []string{"CREDIT_CARD_NUMBER"}, Sources: []string{"profile"}, SampledRows: 24, NonNull: 24, Matches: 6}}},
			{Name: "region\x1b[2J", Lineage: []string{"p.crm.people.region"}},
		},
		ColumnsOmitted: 7}}
	var out bytes.Buffer
	if err := replay.WriteText(&out, &replay.View{Session: s}, 0); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"  column:   cc8 <- p.crm.people.cc, derived, CREDIT_CARD_NUMBER,QUERYGATE_DERIVED\n" +
			"            p.crm.people.cc: CREDIT_CARD_NUMBER by profile (6 of 24 cells with text matched, 25.0%, in 24 sampled rows)\n",
		"  column:   region\ufffd[2J <- p.crm.people.region\n",
		"  columns:  7 more output columns not recorded (the record keeps 64 KiB of column facts)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("replay output lacks %q\noutput:\n%s", want, got)
		}
	}
}
