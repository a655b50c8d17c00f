package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/sqlscan"
)

// fakeTables serves tables.list and tables.get for dataset p1.log in
// BigQuery's REST shapes (TableList: tables[].tableReference, type; Table:
// type, creationTime in milliseconds as a string, numBytes, numRows,
// schema.fields[].policyTags.names).
type fakeTables struct {
	tables map[string]string // table id -> tables.get body
	gets   atomic.Int32
}

func (f *fakeTables) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	const base = "/projects/p1/datasets/log/tables"
	switch {
	case r.Method == "GET" && r.URL.Path == base:
		var items []string
		for id := range f.tables {
			items = append(items, fmt.Sprintf(`{"tableReference":{"projectId":"p1","datasetId":"log","tableId":%q},"type":"TABLE"}`, id))
		}
		fmt.Fprintf(w, `{"tables":[%s],"totalItems":%d}`, strings.Join(items, ","), len(items))
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, base+"/"):
		f.gets.Add(1)
		body, ok := f.tables[strings.TrimPrefix(r.URL.Path, base+"/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":404,"message":"Not found"}}`))
			return
		}
		w.Write([]byte(body))
	default:
		http.NotFound(w, r)
	}
}

func table(id, typ string, created int64, rows int, fields string) string {
	return fmt.Sprintf(`{"tableReference":{"projectId":"p1","datasetId":"log","tableId":%q},"type":%q,"creationTime":"%d","numRows":"%d","numBytes":"%d","schema":{"fields":[%s]}}`,
		id, typ, created, rows, rows*100, fields)
}

func newCatalog(t *testing.T, f *fakeTables) *BigQuery {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client, err := bigquery.NewClient(context.Background(), "p1", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	return New(client, 0)
}

// TestWildcardTable resolves log.events_* through the tables it matches:
// the newest table's schema (a column only the newest has is there), the
// summed sizes, and the policy tags of a column in any table. Tables with
// other prefixes are not read.
func TestWildcardTable(t *testing.T) {
	t.Parallel()
	const tag = "projects/p1/locations/us/taxonomies/1/policyTags/9"
	f := &fakeTables{tables: map[string]string{
		"events_2025": table("events_2025", "TABLE", 1000, 10, `{"name":"who","type":"STRING","policyTags":{"names":["`+tag+`"]}},{"name":"what","type":"STRING"}`),
		"events_2026": table("events_2026", "TABLE", 2000, 5, `{"name":"who","type":"STRING"},{"name":"what","type":"STRING"},{"name":"extra","type":"INTEGER"}`),
		"other":       table("other", "VIEW", 3000, 0, `{"name":"x","type":"STRING"}`),
	}}
	cat := newCatalog(t, f)
	ref := sqlscan.TableRef{Project: "p1", Dataset: "log", Table: "events_*"}
	got, err := cat.Table(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	want := &sqlscan.TableMeta{Ref: ref, Type: "TABLE", NumRows: 15, NumBytes: 1500, Columns: []sqlscan.Column{
		{Name: "who", Type: "STRING", Mode: "NULLABLE", PolicyTags: []string{tag}},
		{Name: "what", Type: "STRING", Mode: "NULLABLE"},
		{Name: "extra", Type: "INTEGER", Mode: "NULLABLE"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wildcard meta (-want, +got):\n%s", diff)
	}
	if n := f.gets.Load(); n != 2 {
		t.Errorf("%d tables.get calls, want 2 (the matching tables only)", n)
	}
	if _, err := cat.Table(context.Background(), ref); err != nil || f.gets.Load() != 2 {
		t.Errorf("a second lookup within the TTL: err %v, %d tables.get calls; want the cached answer", err, f.gets.Load())
	}
	if _, err := cat.Table(context.Background(), sqlscan.TableRef{Project: "p1", Dataset: "log", Table: "nothing_*"}); !errors.Is(err, sqlscan.ErrTableNotFound) {
		t.Errorf("a wildcard matching nothing: err = %v, want ErrTableNotFound", err)
	}
}

// TestWildcardTableRefused: a wildcard matching a view (BigQuery refuses
// the query) or more than MaxWildcardTables tables is an error that names
// the reason, not a schema built from part of the tables.
func TestWildcardTableRefused(t *testing.T) {
	t.Parallel()
	withView := &fakeTables{tables: map[string]string{
		"events_1":    table("events_1", "TABLE", 1, 1, `{"name":"who","type":"STRING"}`),
		"events_view": table("events_view", "VIEW", 2, 0, `{"name":"who","type":"STRING"}`),
	}}
	_, err := newCatalog(t, withView).Table(context.Background(), sqlscan.TableRef{Project: "p1", Dataset: "log", Table: "events_*"})
	if err == nil || errors.Is(err, sqlscan.ErrTableNotFound) || !strings.Contains(err.Error(), "events_view, a VIEW") {
		t.Errorf("a wildcard matching a view: err = %v, want one naming the view", err)
	}
	many := &fakeTables{tables: map[string]string{}}
	for i := range sqlscan.MaxWildcardTables + 1 {
		id := fmt.Sprintf("shard_%03d", i)
		many.tables[id] = table(id, "TABLE", int64(i), 1, `{"name":"who","type":"STRING"}`)
	}
	_, err = newCatalog(t, many).Table(context.Background(), sqlscan.TableRef{Project: "p1", Dataset: "log", Table: "shard_*"})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d tables", sqlscan.MaxWildcardTables)) {
		t.Errorf("a wildcard over %d tables: err = %v, want the cap named", sqlscan.MaxWildcardTables+1, err)
	}
	if n := many.gets.Load(); n != 0 {
		t.Errorf("%d tables.get calls over the cap, want 0 (refused from the listing)", n)
	}
}
