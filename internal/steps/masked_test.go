package steps

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// rowsWarehouse serves fixed result rows.
type rowsWarehouse struct {
	schema bigquery.Schema
	rows   [][]bigquery.Value
}

func (w *rowsWarehouse) Run(context.Context, warehouse.Query) (*warehouse.Job, error) {
	panic("not used")
}

func (w *rowsWarehouse) Read(_ context.Context, _, _ string, _ int64, fn func([]bigquery.Value) error) (bigquery.Schema, int64, error) {
	for _, r := range w.rows {
		if err := fn(r); err != nil {
			return nil, 0, err
		}
	}
	return w.schema, int64(len(w.rows)), nil
}

// ssnDeid masks the email column whole and, by "inspection", rewrites an
// SSN inside any other string cell. It returns numbers as text, as DLP
// does, which is no masking.
type ssnDeid struct{}

func (ssnDeid) Deidentify(_ context.Context, req *deid.Request) (*deid.Table, *deid.Stats, error) {
	out := &deid.Table{Headers: req.Table.Headers}
	st := &deid.Stats{MaskedColumns: []string{"email"}, Findings: map[string]int64{}}
	for _, row := range req.Table.Rows {
		m := make([]deid.Value, len(row))
		for i, v := range row {
			switch s := v.(type) {
			case string:
				if req.Table.Headers[i] == "email" {
					m[i] = "[EMAIL]"
				} else if strings.Contains(s, "123-45-6789") {
					m[i] = strings.ReplaceAll(s, "123-45-6789", "[SSN]")
					st.Findings["US_SOCIAL_SECURITY_NUMBER"]++
				} else {
					m[i] = s
				}
			case int64:
				m[i] = strconv.FormatInt(s, 10)
			default:
				m[i] = v
			}
		}
		out.Rows = append(out.Rows, m)
	}
	return out, st, nil
}

// TestDeidentifyCountsInspectionMasking is issue 10 finding 6: cells
// masked by content inspection were missing from masked_columns and the
// record. They are now listed, and counted per column in the
// result.masked event that the audit table receives.
func TestDeidentifyCountsInspectionMasking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &session.Session{ID: "s1", SQL: "SELECT id, email, note FROM t", Status: session.StatusRunning,
		Decision:  &session.Decision{Action: "allow", ColumnInfoTypes: map[string][]string{"email": {"EMAIL_ADDRESS"}}},
		Execution: &session.Execution{JobID: "j1", FinishedAt: now}}
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	wh := &rowsWarehouse{
		schema: bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}, {Name: "email", Type: bigquery.StringFieldType},
			{Name: "note", Type: bigquery.StringFieldType}, {Name: "city", Type: bigquery.StringFieldType}},
		rows: [][]bigquery.Value{
			{int64(1), "a@example.com", "ssn 123-45-6789 on file", "Oslo"},
			{int64(2), "b@example.com", "nothing here", "Lima"},
			{int64(3), "c@example.com", "again: 123-45-6789", "Kyiv"},
		},
	}
	steps := &Steps{Store: st, Warehouse: wh, Deid: ssnDeid{}, Now: func() time.Time { return now }}
	res, err := steps.Deidentify(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"email", "note"}, res.MaskedColumns); diff != "" {
		t.Errorf("step answer masked_columns (-want, +got):\n%s", diff)
	}
	got, _ := st.Get(ctx, "s1")
	if diff := cmp.Diff([]string{"email", "note"}, got.Result.MaskedColumns); diff != "" {
		t.Errorf("result masked_columns (-want, +got):\n%s", diff)
	}
	ev := got.Timeline[len(got.Timeline)-1]
	if ev.Type != session.EventResultMasked {
		t.Fatalf("last event %s", ev.Type)
	}
	pl, err := ev.Payload()
	if err != nil {
		t.Fatal(err)
	}
	rm := pl.(session.ResultMaskedData)
	if diff := cmp.Diff(map[string]int64{"note": 2}, rm.InspectedCells); diff != "" {
		t.Errorf("inspected_cells (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"email", "note"}, rm.MaskedColumns); diff != "" {
		t.Errorf("event masked_columns (-want, +got):\n%s", diff)
	}
	js, _ := json.Marshal(got)
	if strings.Contains(string(js), "123-45-6789") || strings.Contains(string(js), "a@example.com") {
		t.Error("a raw value reached the session record")
	}
	if got.VerifyChain() != 0 {
		t.Error("chain broken")
	}
}

func TestMaskedColumns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		whole     []string
		inspected map[string]int64
		want      []string
	}{
		{"none", nil, nil, []string{}},
		{"header_order", []string{"c"}, map[string]int64{"a": 1, "b": 0}, []string{"a", "c"}},
		{"whole_not_in_headers", []string{"zz"}, nil, []string{"zz"}},
	} {
		if diff := cmp.Diff(tc.want, maskedColumns([]string{"a", "b", "c"}, tc.whole, tc.inspected)); diff != "" {
			t.Errorf("%s (-want, +got):\n%s", tc.name, diff)
		}
	}
}
