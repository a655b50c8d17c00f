package steps

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// cleanupWarehouse returns two rows and records DeleteResult calls; its
// delete fails when failDelete is set.
type cleanupWarehouse struct {
	deleted    []string
	failDelete bool
}

var _ ResultDeleter = (*cleanupWarehouse)(nil)

func (w *cleanupWarehouse) Run(context.Context, warehouse.Query) (*warehouse.Job, error) {
	return nil, errors.New("not used")
}

func (w *cleanupWarehouse) Read(_ context.Context, _, _ string, _ int64, fn func([]bigquery.Value) error) (bigquery.Schema, int64, error) {
	for _, v := range []string{"a", "b"} {
		if err := fn([]bigquery.Value{v}); err != nil {
			return nil, 0, err
		}
	}
	return bigquery.Schema{{Name: "x", Type: bigquery.StringFieldType}}, 2, nil
}

func (w *cleanupWarehouse) DeleteResult(_ context.Context, jobID, location, resultsDataset string) error {
	w.deleted = append(w.deleted, jobID+"@"+location+" in "+resultsDataset)
	if w.failDelete {
		return errors.New("delete refused")
	}
	return nil
}

// passDeid returns a copy of the table, or fails when fail is set.
type passDeid struct{ fail bool }

func (d passDeid) Deidentify(_ context.Context, r *deid.Request) (*deid.Table, *deid.Stats, error) {
	if d.fail {
		return nil, nil, errors.New("dlp unavailable")
	}
	// A copy: the step drops the raw table's rows once masking is done.
	return &deid.Table{Headers: r.Table.Headers, Rows: append([][]deid.Value(nil), r.Table.Rows...)}, &deid.Stats{}, nil
}

// TestPerJobResultDeleted: the job's unmasked result is kept while a step
// may still read it and deleted by record once the session has ended, on
// every outcome; a failed delete never fails the step.
func TestPerJobResultDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newSession := func(id string) {
		t.Helper()
		s := &session.Session{ID: id, SQL: "SELECT x FROM t", Status: session.StatusRunning,
			Decision: &session.Decision{Action: "allow"},
			Execution: &session.Execution{JobID: "querygate_" + id, Location: "US",
				StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)}}
		s.AddEvent(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "intake", session.ReceivedData{SQLSHA256: session.SQLHash(s.SQL)})
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC) }

	for _, tc := range []struct {
		name       string
		failDelete bool
		failMask   bool
		outcome    session.Status
		want       session.Status
	}{
		{name: "succeeded", outcome: session.StatusSucceeded, want: session.StatusSucceeded},
		{name: "delete_fails", failDelete: true, outcome: session.StatusSucceeded, want: session.StatusSucceeded},
		{name: "masking_fails", failMask: true, outcome: session.StatusFailed, want: session.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "qs_" + tc.name
			newSession(id)
			wh := &cleanupWarehouse{failDelete: tc.failDelete}
			s := &Steps{Store: st, Warehouse: wh, Deid: passDeid{fail: tc.failMask}, Audit: &flakyAudit{}, Now: clock, ResultsDataset: "p.results"}
			res, err := s.Deidentify(ctx, id)
			if tc.failMask != (err != nil) {
				t.Fatalf("Deidentify: %v", err)
			}
			if !tc.failMask && res.Rows != 2 {
				t.Errorf("rows = %d, want 2", res.Rows)
			}
			if len(wh.deleted) != 0 {
				t.Errorf("deleted %v before the session ended; a retry may read it", wh.deleted)
			}
			rec, err := s.Record(ctx, RecordInput{SessionID: id, Outcome: tc.outcome, Error: "x"})
			if err != nil {
				t.Fatalf("Record: %v (a failed delete must not fail the step)", err)
			}
			if rec.Status != tc.want {
				t.Errorf("status = %s, want %s", rec.Status, tc.want)
			}
			if diff := cmp.Diff([]string{"querygate_" + id + "@US in p.results"}, wh.deleted); diff != "" {
				t.Errorf("deleted (-want, +got):\n%s", diff)
			}
		})
	}
	t.Run("no_job_nothing_to_delete", func(t *testing.T) {
		s0 := &session.Session{ID: "qs_denied", SQL: "SELECT 1", Status: session.StatusRunning, Decision: &session.Decision{Action: "deny"}}
		if err := st.Create(ctx, s0); err != nil {
			t.Fatal(err)
		}
		wh := &cleanupWarehouse{}
		s := &Steps{Store: st, Warehouse: wh, Audit: &flakyAudit{}, Now: clock}
		if _, err := s.Record(ctx, RecordInput{SessionID: "qs_denied", Outcome: session.StatusDenied}); err != nil {
			t.Fatal(err)
		}
		if len(wh.deleted) != 0 {
			t.Errorf("deleted %v for a session that ran no job", wh.deleted)
		}
	})
}
