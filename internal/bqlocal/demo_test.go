package bqlocal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/demodata"
)

// readAll runs sql and returns its rows.
func readAll(tb testing.TB, c *bigquery.Client, sql string) [][]bigquery.Value {
	tb.Helper()
	it, err := c.Query(sql).Read(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		if err := it.Next(&row); err == iterator.Done {
			return out
		} else if err != nil {
			tb.Fatal(err)
		}
		out = append(out, row)
	}
}

// TestChangedDataReplacesEarlierLoad: a data dir loaded with one version of
// a project's data (an older demo dataset) starts with a changed version,
// which replaces the old tables; before, the emulator refused to load over
// the existing dataset and the gateway did not start.
func TestChangedDataReplacesEarlierLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	project := func(names ...string) *types.Project {
		tbl := &types.Table{ID: "t", Columns: []*types.Column{{Name: "name", Type: types.STRING, Mode: types.NullableMode}}}
		for _, n := range names {
			tbl.Data = append(tbl.Data, map[string]any{"name": n})
		}
		return &types.Project{ID: "p1", Datasets: []*types.Dataset{{ID: "d1", Tables: []*types.Table{tbl}}}}
	}
	for _, tc := range []struct {
		names []string
		want  int64
	}{
		{[]string{"a", "b"}, 2},
		{[]string{"a", "b"}, 2}, // unchanged: not loaded again
		{[]string{"a", "b", "c"}, 3},
	} {
		srv, err := Start(ctx, Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: dir, Projects: []*types.Project{project(tc.names...)}})
		if err != nil {
			t.Fatalf("start with %v: %v", tc.names, err)
		}
		c, err := Client(ctx, srv.Endpoint(), "p1")
		if err != nil {
			t.Fatal(err)
		}
		rows := readAll(t, c, "SELECT COUNT(*) FROM d1.t")
		c.Close()
		srv.Close()
		if len(rows) != 1 || rows[0][0] != tc.want {
			t.Errorf("with %v loaded: COUNT(*) = %v, want %d", tc.names, rows, tc.want)
		}
	}
}

// demoJoin is the first query an analyst tries on the demo: orders joined
// with their customers, grouped.
const demoJoin = "SELECT c.city, COUNT(*) AS orders, ROUND(SUM(o.amount), 2) AS total FROM demo.orders o " +
	"JOIN demo.customers c ON o.customer_id = c.customer_id GROUP BY c.city ORDER BY c.city"

// BenchmarkDemoJoin times demoJoin on the embedded BigQuery with the demo
// data in a data dir, as the local gateway runs it (issue 13 item 4), and
// checks the answer: every order counted once, in the eight cities.
func BenchmarkDemoJoin(b *testing.B) {
	ctx := context.Background()
	srv, err := Start(ctx, Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: b.TempDir(), Projects: []*types.Project{DemoProject("p1")}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := Client(ctx, srv.Endpoint(), "p1")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows := readAll(b, c, demoJoin)
		var n int64
		for _, r := range rows {
			n += r[1].(int64)
		}
		if len(rows) != 8 || n != demodata.NumOrders {
			b.Fatalf("%d cities, %d orders; want 8 and %d", len(rows), n, demodata.NumOrders)
		}
	}
}

// TestDataDirIsWAL: the emulator's database in a data dir runs in WAL
// mode (one fsync per durable commit); the write-ahead log is there while
// it is open.
func TestDataDirIsWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := Start(ctx, Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: dir, Projects: []*types.Project{DemoProject("p1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := Client(ctx, srv.Endpoint(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rows := readAll(t, c, "SELECT COUNT(*) FROM demo.customers"); len(rows) != 1 || rows[0][0] != int64(demodata.NumCustomers) {
		t.Fatalf("COUNT(*) = %v, want %d", rows, demodata.NumCustomers)
	}
	if _, err := os.Stat(filepath.Join(dir, "emulator.db-wal")); err != nil {
		t.Errorf("no write-ahead log beside the database: %v", err)
	}
}
