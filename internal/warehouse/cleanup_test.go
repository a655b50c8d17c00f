package warehouse

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/bqlocal"
)

func isGone(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

// TestDeleteResult runs jobs on the embedded BigQuery and checks that the
// per-job result each leaves behind is deleted, and nothing else.
func TestDeleteResult(t *testing.T) {
	ctx := context.Background()
	proj := &types.Project{ID: "p1", Datasets: []*types.Dataset{
		{ID: "d1", Tables: []*types.Table{{
			ID:      "t1",
			Columns: []*types.Column{{Name: "name", Type: types.STRING, Mode: types.NullableMode}},
			Data:    types.Data{{"name": "a"}, {"name": "b"}},
		}}},
		{ID: "results"},
	}}
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: "p1", Addr: "127.0.0.1:0", Projects: []*types.Project{proj}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := bqlocal.Client(ctx, srv.Endpoint(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	w := New(client)
	run := func(t *testing.T, jobID, results string) *Job {
		t.Helper()
		job, err := w.Run(ctx, Query{JobID: jobID, SQL: "SELECT name FROM d1.t1", DefaultProject: "p1", ResultsDataset: results})
		if err != nil {
			t.Fatalf("run %s: %v", jobID, err)
		}
		var n int
		if _, _, err := w.Read(ctx, job.ID, job.Location, 0, func([]bigquery.Value) error { n++; return nil }); err != nil || n != 2 {
			t.Fatalf("read %s: %d rows, %v", jobID, n, err)
		}
		return job
	}

	t.Run("emulator_per_job_dataset", func(t *testing.T) {
		job := run(t, "querygate_qs_one", "")
		if _, err := client.Dataset(job.ID).Metadata(ctx); err != nil {
			t.Fatalf("before: the per-job dataset %s is not there (%v); the test would prove nothing", job.ID, err)
		}
		if err := w.DeleteResult(ctx, job.ID, job.Location, ""); err != nil {
			t.Fatalf("DeleteResult: %v", err)
		}
		if _, err := client.Dataset(job.ID).Metadata(ctx); !isGone(err) {
			t.Errorf("after: dataset %s: %v, want not found", job.ID, err)
		}
		// The emulator's job record held the result too.
		if _, err := client.JobFromID(ctx, job.ID); !isGone(err) {
			t.Errorf("after: job %s: %v, want not found", job.ID, err)
		}
		if err := w.DeleteResult(ctx, job.ID, job.Location, ""); err != nil {
			t.Errorf("second DeleteResult: %v, want nil (already gone)", err)
		}
	})
	for _, tc := range []struct{ name, jobID, arg string }{
		// Named by the caller: deleted without a job lookup.
		{"results_dataset_named", "querygate_qs_two", "p1.results"},
		// Found through the job's destination.
		{"results_dataset_from_job", "querygate_qs_three", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := run(t, tc.jobID, "results")
			tbl := client.Dataset("results").Table(job.ID)
			if _, err := tbl.Metadata(ctx); err != nil {
				t.Fatalf("before: results.%s is not there (%v)", job.ID, err)
			}
			if err := w.DeleteResult(ctx, job.ID, job.Location, tc.arg); err != nil {
				t.Fatalf("DeleteResult: %v", err)
			}
			if _, err := tbl.Metadata(ctx); !isGone(err) {
				t.Errorf("after: results.%s: %v, want not found", job.ID, err)
			}
			if _, err := client.Dataset("results").Metadata(ctx); err != nil {
				t.Errorf("the results dataset itself was touched: %v", err)
			}
			if err := w.DeleteResult(ctx, job.ID, job.Location, tc.arg); err != nil {
				t.Errorf("second DeleteResult: %v, want nil", err)
			}
		})
	}
	t.Run("unknown_job", func(t *testing.T) {
		if err := w.DeleteResult(ctx, "querygate_qs_never", "", ""); err != nil {
			t.Errorf("DeleteResult(unknown job) = %v, want nil", err)
		}
	})
	// The source table is untouched.
	it := client.Dataset("d1").Table("t1").Read(ctx)
	var n int
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("read d1.t1 after cleanup: %v", err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("d1.t1 has %d rows after cleanup, want 2", n)
	}
}
