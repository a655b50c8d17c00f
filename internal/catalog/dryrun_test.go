package catalog

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestDryRun serves jobs.insert the way BigQuery documents a dry run's
// answer (JobStatistics2: totalBytesProcessed, statementType,
// referencedTables), and checks the request asked for a dry run.
func TestDryRun(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/projects/p1/jobs" {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		var job struct {
			Configuration struct {
				DryRun bool `json:"dryRun"`
				Query  struct {
					Query          string `json:"query"`
					DefaultDataset struct {
						ProjectID string `json:"projectId"`
						DatasetID string `json:"datasetId"`
					} `json:"defaultDataset"`
				} `json:"query"`
			} `json:"configuration"`
		}
		json.NewDecoder(r.Body).Decode(&job)
		if !job.Configuration.DryRun || job.Configuration.Query.Query != "SELECT email FROM customers" || job.Configuration.Query.DefaultDataset.DatasetID != "demo" {
			t.Errorf("request = %+v", job.Configuration)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jobReference":{"projectId":"p1","location":"US"},"status":{"state":"DONE"},
"configuration":{"dryRun":true,"query":{"query":"SELECT email FROM customers"}},
"statistics":{"totalBytesProcessed":"12345","query":{"totalBytesProcessed":"12345","statementType":"SELECT",
"referencedTables":[{"projectId":"p1","datasetId":"demo","tableId":"customers"}]}}}`))
	}))
	defer srv.Close()
	client, err := bigquery.NewClient(context.Background(), "p1", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewDryRunner(client).DryRun(context.Background(), policy.DryRunInput{SQL: "SELECT email FROM customers", DefaultProject: "p1", DefaultDataset: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.DryRunResult{TotalBytesProcessed: 12345, StatementType: "SELECT",
		ReferencedTables: []sqlscan.TableRef{{Project: "p1", Dataset: "demo", Table: "customers"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want, +got):\n%s", diff)
	}
}

func TestEstimatedRowBytes(t *testing.T) {
	t.Parallel()
	cols := []sqlscan.Column{{Name: "id", Type: "INT64"}, {Name: "name", Type: "STRING"}, {Name: "ok", Type: "BOOL"},
		{Name: "tags", Type: "STRING", Mode: "REPEATED"}, {Name: "r", Type: "RECORD", Fields: []sqlscan.Column{{Name: "x", Type: "FLOAT64"}}}}
	if got, want := EstimatedRowBytes(cols), int64(8+34+1+4*34+8); got != want {
		t.Errorf("EstimatedRowBytes = %d, want %d", got, want)
	}
}

// TestDryRunSendsParameters is issue 12 finding 7: a dry run without the
// query's parameters fails for any @param query, and the policy then denies
// it (builtin.dry_run_error). The request must carry them, named and typed
// as the execute step sends them; parameters the execute step would refuse
// fail the dry run before any request.
func TestDryRunSendsParameters(t *testing.T) {
	t.Parallel()
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var job struct {
			Configuration struct {
				Query struct {
					QueryParameters []map[string]any `json:"queryParameters"`
				} `json:"query"`
			} `json:"configuration"`
		}
		json.NewDecoder(r.Body).Decode(&job)
		got = job.Configuration.Query.QueryParameters
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jobReference":{"projectId":"p1","location":"US"},"status":{"state":"DONE"},
"statistics":{"totalBytesProcessed":"10","query":{"totalBytesProcessed":"10","statementType":"SELECT",
"referencedTables":[{"projectId":"p1","datasetId":"demo","tableId":"customers"}]}}}`))
	}))
	defer srv.Close()
	client, err := bigquery.NewClient(context.Background(), "p1", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	in := policy.DryRunInput{SQL: "SELECT email FROM demo.customers WHERE customer_id = @id", DefaultProject: "p1",
		Parameters: []session.Parameter{{Name: "id", Type: "INT64", Value: json.RawMessage(`7`)}}}
	if _, err := NewDryRunner(client).DryRun(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0]["name"] != "id" {
		t.Fatalf("queryParameters = %v, want the one named id", got)
	}
	pt, _ := got[0]["parameterType"].(map[string]any)
	pv, _ := got[0]["parameterValue"].(map[string]any)
	if pt["type"] != "INT64" || pv["value"] != "7" {
		t.Errorf("parameter = type %v value %v, want INT64 7", pt, pv)
	}

	bad := in
	bad.Parameters = []session.Parameter{{Name: "id", Type: "GEOGRAPHY", Value: json.RawMessage(`"POINT(1 2)"`)}}
	got = nil
	if _, err := NewDryRunner(client).DryRun(context.Background(), bad); err == nil {
		t.Error("a parameter type the execute step refuses passed the dry run")
	}
	if got != nil {
		t.Error("a refused parameter still reached BigQuery")
	}
}
