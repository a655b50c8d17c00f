package classify

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/goccy/bigquery-emulator/types"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/warehouse"
)

// countingTransport counts the response bytes the client reads.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

var wire countingTransport

// benchSource serves crm.people, 1,000 rows of the PII table in people(),
// from the BigQuery emulator, through the real client (tables.get,
// tabledata.list); wire counts the bytes of its responses.
func benchSource(b *testing.B) *warehouse.BigQuery {
	b.Helper()
	tbl := &types.Table{ID: "people"}
	for _, c := range peopleCols {
		typ := types.STRING
		if c == "id" {
			typ = types.INT64
		}
		tbl.Columns = append(tbl.Columns, &types.Column{Name: c, Type: typ, Mode: types.NullableMode})
	}
	for _, r := range people(1000) {
		row := map[string]any{}
		for i, c := range peopleCols {
			row[c] = r[i]
		}
		tbl.Data = append(tbl.Data, row)
	}
	srv, err := bqlocal.Start(context.Background(), bqlocal.Options{Project: "p", DataDir: b.TempDir(), Projects: []*types.Project{{ID: "p", Datasets: []*types.Dataset{{ID: "crm", Tables: []*types.Table{tbl}}}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	client, err := bigquery.NewClient(context.Background(), "p", option.WithEndpoint(srv.Endpoint()), option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: &wire}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	return warehouse.New(client)
}

// BenchmarkProfileTable is the cost of profiling one table: tables.get, a
// 1,000-row sample through tabledata.list, local inspection of every text
// cell, and the store write. It reports the sampled bytes per profile.
func BenchmarkProfileTable(b *testing.B) {
	src := benchSource(b)
	insp := benchInspector(b)
	ctx := context.Background()
	var sampled int64
	start := wire.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		prof, err := New(src, insp, NewMemoryStore(), Options{}).Profile(ctx, peopleRef)
		if err != nil {
			b.Fatal(err)
		}
		sampled = prof.SampledBytes
		if prof.SampledRows != 1000 {
			b.Fatalf("sampled %d rows", prof.SampledRows)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sampled), "sampled_bytes/op")
	b.ReportMetric(float64(wire.n.Load()-start)/float64(b.N), "wire_bytes/op")
}

// BenchmarkProfileCached is what a later query pays once the engine's
// one-minute memo has expired: tables.get and a store read, no sample.
func BenchmarkProfileCached(b *testing.B) {
	src := benchSource(b)
	st := openStoreB(b)
	p := New(src, benchInspector(b), st, Options{})
	ctx := context.Background()
	if _, err := p.Profile(ctx, peopleRef); err != nil {
		b.Fatal(err)
	}
	start := wire.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Profile(ctx, peopleRef); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(wire.n.Load()-start)/float64(b.N), "wire_bytes/op")
}

// BenchmarkInspectSample is the inspection share of BenchmarkProfileTable:
// the same 1,000-row sample, already in memory, through the local engine.
func BenchmarkInspectSample(b *testing.B) {
	src := newFakeSource()
	src.put(peopleRef, "TABLE", time.Unix(1, 0), peopleCols, people(1000))
	p := New(src, benchInspector(b), NewMemoryStore(), Options{})
	info, _ := src.TableInfo(context.Background(), peopleRef.Project, peopleRef.Dataset, peopleRef.Table)
	s, _ := src.SampleRows(context.Background(), peopleRef.Project, peopleRef.Dataset, peopleRef.Table, warehouse.SampleLimits{MaxRows: 1000})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.profileSample(context.Background(), peopleRef.String(), info, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateProfiled is a whole policy decision over the profiled
// table with the profile in the engine's memo: what most queries pay.
func BenchmarkEvaluateProfiled(b *testing.B) {
	src := benchSource(b)
	pol, err := policy.Load([]byte(`version: 1
defaults: {default_project: p, default_dataset: crm, approver_group: approvers}
profiling: {enabled: true, ttl: 24h}
rules:
  - {id: analysts, match: {groups: [analysts], only_kinds: [QUERY]}, action: allow}
`), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	e := policy.NewEngine(pol, sqlscan.NewMemoryCatalog(peopleMeta()), ForPolicy(pol, src, benchInspector(b), openStoreB(b)).EngineOption())
	in := policy.Input{SQL: "SELECT contact, region, status FROM people LIMIT 10", Groups: []string{"analysts"}, Email: "a@example.com"}
	ctx := context.Background()
	d, err := e.Evaluate(ctx, in)
	if err != nil || len(d.ColumnInfoTypes["contact"]) == 0 {
		b.Fatalf("decision %v %v", d, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// openStoreB is the local gateway's store: SQLite on disk.
func openStoreB(b *testing.B) *session.SQLite {
	b.Helper()
	st, err := session.OpenSQLite(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchInspector(b *testing.B) *deid.Local {
	b.Helper()
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	return l
}
