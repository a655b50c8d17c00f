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

func (w *cleanupWarehouse) DeleteResult(_ context.Context, jobID, location string) error {
	w.deleted = append(w.deleted, jobID+"@"+location)
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

// TestPerJobResultDeleted: the job's unmasked result is deleted once the
// masked result is stored, a failed delete never fails the step, and a
// session that ends without a stored result has it deleted by record.
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
		s.AddEvent(session.EventReceived, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "intake", nil)
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC) }

	for _, tc := range []struct {
		name       string
		failDelete bool
	}{{"delete_succeeds", false}, {"delete_fails", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := "qs_" + tc.name
			newSession(id)
			wh := &cleanupWarehouse{failDelete: tc.failDelete}
			s := &Steps{Store: st, Warehouse: wh, Deid: passDeid{}, Audit: &flakyAudit{}, Now: clock}
			res, err := s.Deidentify(ctx, id)
			if err != nil {
				t.Fatalf("Deidentify: %v (a failed delete must not fail the step)", err)
			}
			if res.Rows != 2 {
				t.Errorf("rows = %d, want 2", res.Rows)
			}
			if diff := cmp.Diff([]string{"querygate_" + id + "@US"}, wh.deleted); diff != "" {
				t.Errorf("deleted (-want, +got):\n%s", diff)
			}
			got, _ := st.Get(ctx, id)
			if got.Result == nil || got.Result.StoredRows != 2 {
				t.Errorf("the masked result was not stored: %+v", got.Result)
			}
		})
	}

	t.Run("masking_fails_record_deletes", func(t *testing.T) {
		id := "qs_masking_fails"
		newSession(id)
		wh := &cleanupWarehouse{}
		s := &Steps{Store: st, Warehouse: wh, Deid: passDeid{fail: true}, Audit: &flakyAudit{}, Now: clock}
		if _, err := s.Deidentify(ctx, id); err == nil {
			t.Fatal("Deidentify succeeded with a failing de-identifier")
		}
		if len(wh.deleted) != 0 {
			t.Errorf("deleted %v before the session ended; a retry needs the result", wh.deleted)
		}
		res, err := s.Record(ctx, RecordInput{SessionID: id, Outcome: session.StatusFailed, Error: "de-identification failed"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != session.StatusFailed {
			t.Errorf("status = %s, want failed", res.Status)
		}
		if diff := cmp.Diff([]string{"querygate_" + id + "@US"}, wh.deleted); diff != "" {
			t.Errorf("deleted by record (-want, +got):\n%s", diff)
		}
	})
}
