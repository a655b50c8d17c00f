package warehouse

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/bqlocal"
)

// countingTransport records each BigQuery REST call as "METHOD resource"
// (ids replaced by placeholders) and the time it took.
type countingTransport struct {
	mu    sync.Mutex
	calls []apiCall
	next  http.RoundTripper
}

type apiCall struct {
	name string
	took time.Duration
}

var idSegment = regexp.MustCompile(`/(projects|datasets|tables|jobs|queries)/[^/?]+`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := c.next.RoundTrip(r)
	name := r.Method + " " + idSegment.ReplaceAllString(r.URL.Path, "/$1/*")
	c.mu.Lock()
	c.calls = append(c.calls, apiCall{name: name, took: time.Since(t0)})
	c.mu.Unlock()
	return resp, err
}

func (c *countingTransport) take() []apiCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func countingClient(t testing.TB, endpoint, project string) (*bigquery.Client, *countingTransport) {
	t.Helper()
	ct := &countingTransport{next: http.DefaultTransport}
	c, err := bigquery.NewClient(context.Background(), project, option.WithEndpoint(endpoint), option.WithHTTPClient(&http.Client{Transport: ct}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ct
}

// TestSessionCalls runs one session's warehouse calls (Run, ReadTable,
// DeleteResult) on the embedded BigQuery, as the steps make them with a
// results dataset, and checks which REST calls they make: one jobs.insert
// to run (the job comes back DONE, so no getQueryResults or jobs.get to
// wait), tabledata.list plus tables.get to read, and the deletes. It logs
// each call's time for docs/performance.md (asserting none).
func TestSessionCalls(t *testing.T) {
	ctx := context.Background()
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: t.TempDir(), Projects: []*bqlocal.Project{bqlocal.DemoProject("p1")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, ct := countingClient(t, srv.Endpoint(), "p1")
	w := New(client, WithJobRecordDeletion())
	if err := w.EnsureDataset(ctx, "querygate_results", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := w.EnsureDataset(ctx, "querygate_results", time.Hour); err != nil {
		t.Fatalf("second EnsureDataset: %v", err)
	}
	ct.take()
	const sql = "SELECT city, COUNT(*) AS n FROM demo.customers GROUP BY city ORDER BY city"
	for _, jobID := range []string{"querygate_a", "querygate_b", "querygate_c"} {
		job, err := w.Run(ctx, Query{JobID: jobID, SQL: sql, DefaultProject: "p1", ResultsDataset: "querygate_results"})
		if err != nil {
			t.Fatal(err)
		}
		if job.ID != jobID || job.FinishedAt.IsZero() || job.BytesProcessed <= 0 {
			t.Errorf("job = %+v, want id %s with its end time and bytes", job, jobID)
		}
		run := ct.take()
		var cities []string
		var sum int64
		schema, total, err := w.ReadTable(ctx, "querygate_results", job.ID, job.Location, 0, func(row []bigquery.Value) error {
			cities = append(cities, row[0].(string))
			sum += row[1].(int64)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		read := ct.take()
		// demodata draws each of its 100 customers' city from eight names.
		if len(schema) != 2 || schema[0].Name != "city" || schema[1].Name != "n" || total != 8 || len(cities) != 8 || sum != 100 ||
			!slices.IsSorted(cities) {
			t.Errorf("read schema %v, total %d, cities %v, sum %d; want city and n, 8 sorted cities summing to 100", schema, total, cities, sum)
		}
		if err := w.DeleteResult(ctx, job.ID, job.Location, "querygate_results"); err != nil {
			t.Fatal(err)
		}
		clean := ct.take()
		for _, tc := range []struct {
			step  string
			calls []apiCall
			want  []string
		}{
			{"run", run, []string{"POST /projects/*/jobs"}},
			{"read", read, []string{"GET /projects/*/datasets/*/tables/*", "GET /projects/*/datasets/*/tables/*/data"}},
			{"delete", clean, []string{"DELETE /projects/*/datasets/*/tables/*", "DELETE /projects/*/jobs/*/delete", "GET /projects/*/jobs/*"}},
		} {
			var got []string
			for _, c := range tc.calls {
				got = append(got, c.name)
				t.Logf("%-6s %-45s %v", tc.step, c.name, c.took)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: REST calls (-want, +got):\n%s", tc.step, diff)
			}
		}
		if _, err := client.JobFromID(ctx, jobID); !isGone(err) {
			t.Errorf("job record %s after DeleteResult: %v, want not found", jobID, err)
		}
		if _, err := client.Dataset("querygate_results").Table(jobID).Metadata(ctx); !isGone(err) {
			t.Errorf("result table %s after DeleteResult: %v, want not found", jobID, err)
		}
		ct.take()
	}
}

// TestSessionCallsJobPath logs the calls of the path without a results
// dataset (Read through the job), for comparison in docs/performance.md.
func TestSessionCallsJobPath(t *testing.T) {
	ctx := context.Background()
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: t.TempDir(), Projects: []*bqlocal.Project{bqlocal.DemoProject("p1")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, ct := countingClient(t, srv.Endpoint(), "p1")
	w := New(client)
	job, err := w.Run(ctx, Query{JobID: "querygate_j", SQL: "SELECT city, COUNT(*) AS n FROM demo.customers GROUP BY city", DefaultProject: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	_, total, err := w.Read(ctx, job.ID, job.Location, 0, func([]bigquery.Value) error { return nil })
	if err != nil || total != 8 {
		t.Fatalf("read: %d rows, %v; want 8", total, err)
	}
	if err := w.DeleteResult(ctx, job.ID, job.Location, ""); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range ct.take() {
		names = append(names, c.name)
		t.Logf("%-45s %v", c.name, c.took)
	}
	// Run no longer waits for a job that came back DONE; Read still waits
	// through jobs.getQueryResults before reading the rows the same way.
	if n := slices.Index(names, "GET /projects/*/queries/*"); n < 0 || names[0] != "POST /projects/*/jobs" || names[1] != "GET /projects/*/jobs/*" {
		t.Errorf("calls %v: want jobs.insert, then Read's jobs.get and getQueryResults", names)
	}
}

// TestReadTableBytes: a result with BYTES reads back as the bytes the
// query produced (through the job: the embedded BigQuery keeps BYTES in a
// destination table as base64 text).
func TestReadTableBytes(t *testing.T) {
	ctx := context.Background()
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: "p1", Addr: "127.0.0.1:0", DataDir: t.TempDir(), Projects: []*bqlocal.Project{bqlocal.DemoProject("p1")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, _ := countingClient(t, srv.Endpoint(), "p1")
	w := New(client)
	if err := w.EnsureDataset(ctx, "querygate_results", 0); err != nil {
		t.Fatal(err)
	}
	job, err := w.Run(ctx, Query{JobID: "querygate_bytes", SQL: "SELECT b'ab' AS bs, 'x' AS s", DefaultProject: "p1", ResultsDataset: "querygate_results"})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]bigquery.Value
	if _, _, err := w.ReadTable(ctx, "querygate_results", job.ID, job.Location, 0, func(row []bigquery.Value) error {
		got = append(got, row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]bigquery.Value{{[]byte("ab"), "x"}}, got); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
}

// TestRetriedInsertFindsTheJobInItsLocation is issue 12 finding 12: a
// retried jobs.insert answered 409 must look the existing job up in its
// location, which outside the multi-regions jobs.get needs. With no client
// location, it is the results dataset's (the job's destination).
func TestRetriedInsertFindsTheJobInItsLocation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/projects/p1/jobs":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":409,"message":"Already Exists: Job p1:europe-west3.qs_1","errors":[{"reason":"duplicate","message":"Already Exists"}]}}`))
		case r.Method == http.MethodGet && r.URL.Path == "/projects/p1/datasets/querygate_results":
			w.Write([]byte(`{"datasetReference":{"projectId":"p1","datasetId":"querygate_results"},"location":"europe-west3"}`))
		case r.Method == http.MethodGet && r.URL.Path == "/projects/p1/jobs/qs_1":
			mu.Lock()
			gets = append(gets, r.URL.Query().Get("location"))
			mu.Unlock()
			if r.URL.Query().Get("location") != "europe-west3" {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"error":{"code":404,"message":"Not found: Job p1:qs_1"}}`))
				return
			}
			w.Write([]byte(`{"jobReference":{"projectId":"p1","jobId":"qs_1","location":"europe-west3"},
"configuration":{"query":{"query":"SELECT 1"}},"status":{"state":"DONE"},
"statistics":{"query":{"totalBytesProcessed":"10","totalBytesBilled":"10485760"}}}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := bigquery.NewClient(context.Background(), "p1", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	job, err := New(c).Run(context.Background(), Query{SQL: "SELECT 1", JobID: "qs_1", ResultsDataset: "querygate_results"})
	if err != nil {
		t.Fatalf("Run after a 409: %v", err)
	}
	if job.ID != "qs_1" || job.Location != "europe-west3" {
		t.Errorf("job = %s in %q, want qs_1 in europe-west3", job.ID, job.Location)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gets) == 0 || gets[0] != "europe-west3" {
		t.Errorf("jobs.get locations = %q, want the results dataset's, europe-west3", gets)
	}
}
