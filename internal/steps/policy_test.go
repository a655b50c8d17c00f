package steps

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// widePolicy decides with the facts of a SELECT * over 10,000 columns.
type widePolicy struct{}

func (widePolicy) Evaluate(context.Context, *session.Session) (*session.Decision, error) {
	d := &session.Decision{Action: "require_approval", ApproverGroup: "approvers"}
	for i := range 10000 {
		ref := fmt.Sprintf("p.crm.wide.column_%05d", i)
		d.Columns = append(d.Columns, session.DecisionColumn{Name: fmt.Sprintf("column_%05d", i), Index: int64(i), Lineage: []string{ref}, InfoTypes: []string{"EMAIL_ADDRESS"},
			Classes: []session.ColumnClass{{Column: ref, InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, SampledRows: 1000, NonNull: 1000, Matches: 900}}})
	}
	return d, nil
}

// TestRunPolicyRecordsBoundedColumnFacts: the decision's per-column facts
// reach the session and its policy.decided event, bounded (the columns past
// the budget counted), so the store accepts a SELECT * over 10,000
// columns, and a retry returns the stored decision without a second event.
func TestRunPolicyRecordsBoundedColumnFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &session.Session{ID: "s1", SQL: "SELECT * FROM crm.wide", Status: session.StatusRunning}
	s.AddEvent(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "a", session.ReceivedData{})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	steps := &Steps{Store: st, Policy: widePolicy{}, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC) }}
	for range 2 {
		if res, err := steps.RunPolicy(ctx, "s1"); err != nil || res.Action != "require_approval" {
			t.Fatalf("RunPolicy = %+v, %v", res, err)
		}
	}
	got, err := st.Get(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Timeline) != 2 || got.Timeline[1].Type != session.EventPolicyDecided {
		t.Fatalf("timeline %+v, want received then one policy.decided", got.Timeline)
	}
	p, err := got.Timeline[1].Payload()
	if err != nil {
		t.Fatal(err)
	}
	ev := p.(session.PolicyDecidedData)
	kept := int64(len(ev.Columns))
	if kept == 0 || kept+ev.ColumnsOmitted != 10000 {
		t.Errorf("recorded %d columns and %d omitted, want 10,000 in all", kept, ev.ColumnsOmitted)
	}
	if diff := cmp.Diff(got.Decision.Columns, ev.Columns); diff != "" || got.Decision.ColumnsOmitted != ev.ColumnsOmitted {
		t.Errorf("session and event facts differ (omitted %d, %d) (-session, +event):\n%s", got.Decision.ColumnsOmitted, ev.ColumnsOmitted, diff)
	}
	if ev.Columns[0].Name != "column_00000" || ev.Columns[0].Classes[0].Sources[0] != "profile" || ev.Columns[0].Classes[0].Matches != 900 {
		t.Errorf("first recorded column = %+v", ev.Columns[0])
	}
	if got.VerifyChain() != 0 {
		t.Error("chain broken")
	}
}
