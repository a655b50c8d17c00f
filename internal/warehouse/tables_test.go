package warehouse_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/goccy/bigquery-emulator/types"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/warehouse"
)

// startEmulator serves crm.people (50 rows of id INT64, contact STRING,
// tags REPEATED STRING) and two log tables.
func startEmulator(t *testing.T) *warehouse.BigQuery {
	t.Helper()
	people := &types.Table{ID: "people", Columns: []*types.Column{
		{Name: "id", Type: types.INT64, Mode: types.NullableMode},
		{Name: "contact", Type: types.STRING, Mode: types.NullableMode},
	}}
	for i := 0; i < 50; i++ {
		people.Data = append(people.Data, map[string]any{"id": i, "contact": fmt.Sprintf("person%02d@example.org", i)})
	}
	logs := func(id string) *types.Table {
		return &types.Table{ID: id, Columns: []*types.Column{{Name: "what", Type: types.STRING, Mode: types.NullableMode}},
			Data: types.Data{{"what": "click"}}}
	}
	p := &types.Project{ID: "p1", Datasets: []*types.Dataset{
		{ID: "crm", Tables: []*types.Table{people}},
		{ID: "log", Tables: []*types.Table{logs("events_2025"), logs("events_2026"), logs("other")}},
	}}
	srv, err := bqlocal.Start(context.Background(), bqlocal.Options{Project: "p1", Projects: []*types.Project{p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := bqlocal.Client(context.Background(), srv.Endpoint(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return warehouse.New(client)
}

// TestTablesOnEmulator checks tables.get, tables.list and tabledata.list
// as the emulator serves them, through the same client calls as in the
// cloud.
func TestTablesOnEmulator(t *testing.T) {
	bq := startEmulator(t)
	ctx := context.Background()

	info, err := bq.TableInfo(ctx, "p1", "crm", "people")
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "TABLE" || info.NumRows != 50 || info.LastModified.IsZero() {
		t.Errorf("TableInfo = type %q, %d rows, modified %v", info.Type, info.NumRows, info.LastModified)
	}
	wantCols := []warehouse.ColumnInfo{{Name: "id", Type: "INTEGER"}, {Name: "contact", Type: "STRING"}}
	if diff := cmp.Diff(wantCols, info.Columns); diff != "" {
		t.Errorf("columns (-want, +got):\n%s", diff)
	}
	if _, err := bq.TableInfo(ctx, "p1", "crm", "nope"); !errors.Is(err, warehouse.ErrTableNotFound) {
		t.Errorf("TableInfo(missing) err = %v, want ErrTableNotFound", err)
	}

	t.Run("rows bound", func(t *testing.T) {
		s, err := bq.SampleRows(ctx, "p1", "crm", "people", warehouse.SampleLimits{MaxRows: 7, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Rows) != 7 || len(s.Columns) != 2 || s.Columns[1] != "contact" {
			t.Fatalf("sample = %d rows, columns %v", len(s.Rows), s.Columns)
		}
		// id is 8 bytes, "personNN@example.org" 2+20.
		if s.Bytes != 7*(8+22) {
			t.Errorf("Bytes = %d, want %d", s.Bytes, 7*(8+22))
		}
	})
	t.Run("bytes bound", func(t *testing.T) {
		s, err := bq.SampleRows(ctx, "p1", "crm", "people", warehouse.SampleLimits{MaxRows: 1000, MaxBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		// Three rows of 30 bytes fit in 100; the fourth would not.
		if len(s.Rows) != 3 || s.Bytes != 90 {
			t.Errorf("sample = %d rows, %d bytes; want 3 rows, 90 bytes", len(s.Rows), s.Bytes)
		}
	})
	t.Run("list tables", func(t *testing.T) {
		got, err := bq.ListTables(ctx, "p1", "log", "events_", 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"events_2025", "events_2026"}, got); diff != "" {
			t.Errorf("ListTables (-want, +got):\n%s", diff)
		}
		if _, err := bq.ListTables(ctx, "p1", "log", "events_", 1); err == nil {
			t.Error("ListTables over its limit returned a partial list")
		}
	})
}
