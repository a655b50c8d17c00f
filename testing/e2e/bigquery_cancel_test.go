package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"

	"github.com/querygate/querygate/internal/gateway/local"
)

// jobs.cancel and tables.get on source tables, through Google's Go client
// unmodified (issue 14, item 1).

func TestBigQueryClientCancelsHeldJob(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // bounds client retries
	defer cancel()
	tok := token(t, g, "dana@example.com", "analysts")
	c := bqClient(t, g, tok, nil)

	// A held job is withdrawn: DONE with BigQuery's "stopped" error, and
	// the session ends rejected with the cancellation as its reason.
	job, err := c.Query(starSQL).Run(ctx)
	if err != nil {
		t.Fatalf("Query.Run: %v", err)
	}
	st, err := job.Status(ctx)
	if err != nil || st.State != bigquery.Running {
		t.Fatalf("held job: state %v, err %v; want RUNNING", st, err)
	}
	id := waitPendingSession(t, g, tok)
	if err := job.Cancel(ctx); err != nil {
		t.Fatalf("job.Cancel: %v", err)
	}
	// As with BigQuery, waiting on a query job that ended in error fails
	// with the job's error (jobs.getQueryResults answers it), and the job's
	// status holds it as errorResult.
	_, err = job.Wait(ctx)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusBadRequest || len(ge.Errors) != 1 || ge.Errors[0].Reason != "stopped" {
		t.Fatalf("job.Wait after Cancel: %v; want 400 with reason stopped", err)
	}
	st, err = job.Status(ctx)
	var be *bigquery.Error
	if err != nil || st.State != bigquery.Done || !errors.As(st.Err(), &be) || be.Reason != "stopped" || !strings.Contains(be.Message, "cancelled") {
		t.Fatalf("status after Cancel: %v %v; want DONE with errorResult reason stopped", st, err)
	}
	s := waitSession(t, g, tok, id)
	ap, _ := s.body["approval"].(map[string]any)
	if s.body["status"] != "rejected" || ap["decided_by"] != "dana@example.com" || !strings.Contains(ap["comment"].(string), "jobs.cancel") {
		t.Errorf("withdrawn session: status %v approval %v", s.body["status"], ap)
	}
	if got := timelineTypes(s.body); !strings.Contains(strings.Join(got, ","), "approval.requested,approval.decided,session.completed") {
		t.Errorf("timeline = %v, want the withdrawal recorded as approval.decided before the end", got)
	}
	// The approver can no longer approve it.
	r := do(t, "GET", g.URL+"/v1/approvals?status=pending", token(t, g, approvers[0]), nil)
	if strings.Contains(string(r.raw), id) {
		t.Errorf("the withdrawn query still waits for approvers: %s", r.raw)
	}

	// A finished job stays as it was: DONE, no error.
	job, err = c.Query("SELECT customer_id FROM demo.customers WHERE customer_id = 1").Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = job.Wait(ctx); err != nil || st.Err() != nil {
		t.Fatalf("allowed job: %v %v", err, st)
	}
	if err := job.Cancel(ctx); err != nil {
		t.Fatalf("cancel of a finished job: %v", err)
	}
	if st, err = job.Status(ctx); err != nil || st.State != bigquery.Done || st.Err() != nil {
		t.Errorf("finished job after Cancel: %v %v, want DONE without error", st, err)
	}
}

func TestBigQueryClientSourceTableMetadata(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := bqClient(t, g, token(t, g, "erin@example.com", "analysts"), nil)

	md, err := c.Dataset("demo").Table("customers").Metadata(ctx)
	if err != nil {
		t.Fatalf("table.Metadata: %v", err)
	}
	type col struct {
		Name   string
		Type   bigquery.FieldType
		Masked bool
	}
	var got []col
	for _, f := range md.Schema {
		got = append(got, col{f.Name, f.Type, strings.HasPrefix(f.Description, "querygate: masked for you")})
	}
	want := []col{{"customer_id", bigquery.IntegerFieldType, false}, {"full_name", bigquery.StringFieldType, true},
		{"email", bigquery.StringFieldType, true}, {"phone", bigquery.StringFieldType, true}}
	if diff := cmp.Diff(want, got[:min(len(got), len(want))]); diff != "" {
		t.Errorf("demo.customers schema (-want, +got), first columns:\n%s", diff)
	}
	for _, f := range md.Schema {
		if f.Name == "email" && !strings.Contains(f.Description, "EMAIL_ADDRESS") {
			t.Errorf("email's description %q does not name its infoType", f.Description)
		}
	}
	if md.NumRows != 0 {
		t.Errorf("a source table's row count is served (%d): only the schema is", md.NumRows)
	}

	// querygate's own audit table is not described. Neither is a table
	// the policy cannot resolve: policy decides before the catalog is
	// asked, so a missing table is refused like one the caller may not
	// read.
	for _, tc := range []struct {
		dataset, table string
		code           int
	}{{local.AuditDataset, local.AuditTable, http.StatusForbidden}, {"demo", "no_such_table", http.StatusForbidden}} {
		_, err := c.Dataset(tc.dataset).Table(tc.table).Metadata(ctx)
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != tc.code {
			t.Errorf("Metadata of %s.%s: %v, want HTTP %d", tc.dataset, tc.table, err, tc.code)
		}
	}
}
