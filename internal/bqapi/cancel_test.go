package bqapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/session"
)

// fakeWithdrawer plays approval.Service.Withdraw and the workflow after
// it: the session ends rejected with the requester's withdrawal on record.
type fakeWithdrawer struct {
	store *session.SQLite
	err   error
	calls []string
}

func (f *fakeWithdrawer) Withdraw(ctx context.Context, id string, by *session.Principal, reason string) (bool, error) {
	f.calls = append(f.calls, id+" "+by.Subject+" "+reason)
	if f.err != nil {
		return false, f.err
	}
	_, err := f.store.Update(ctx, id, func(x *session.Session) error {
		x.Approval.Decision, x.Approval.DecidedBy, x.Approval.Comment = "rejected", by.Email, reason
		x.AddEvent(time.Now(), by.Email, session.ApprovalDecidedData{Decision: "rejected", Comment: reason, Via: approval.ViaRequester})
		x.Status = session.StatusRejected
		return nil
	})
	return true, err
}

// fakeSources answers Describe from a fixed description.
type fakeSources struct{}

func (fakeSources) Describe(_ context.Context, _ *session.Principal, table string) (*mcp.TableDescription, error) {
	switch table {
	case "p.demo.customers":
		return &mcp.TableDescription{Table: table, Type: "TABLE", SelectStar: "require_approval", Columns: []mcp.Column{
			{Name: "id", Type: "INT64", Mode: "REQUIRED"},
			{Name: "email", Type: "STRING", Description: "contact address", Masked: true, InfoTypes: []string{"EMAIL_ADDRESS"}},
			{Name: "score", Type: "FLOAT64"},
		}}, nil
	case "p.demo.secret":
		return nil, &mcp.DescribeError{Kind: mcp.DescribeDenied, Message: "You may not read p.demo.secret: no rule grants it."}
	case "p.demo.gone":
		return nil, &mcp.DescribeError{Kind: mcp.DescribeNotFound, Message: "Table p.demo.gone does not exist."}
	}
	return nil, errors.New("catalog down")
}

func newCancelHarness(t *testing.T, w Withdrawer) *harness {
	t.Helper()
	h := newHarnessWith(t, func(s *Server) { s.Withdraw, s.Sources = w, fakeSources{} })
	if fw, ok := w.(*fakeWithdrawer); ok {
		fw.store = h.store
	}
	return h
}

// hold inserts job jobID and plays policy holding it for approval.
func (h *harness) hold(jobID string) string {
	h.t.Helper()
	insert := map[string]any{"jobReference": map[string]any{"jobId": jobID},
		"configuration": map[string]any{"query": map[string]any{"query": "SELECT * FROM t", "useLegacySql": false}}}
	if code, body := h.do("POST", "/bigquery/v2/projects/p/jobs", "alice-token", insert); code != 200 {
		h.t.Fatalf("jobs.insert = %d %v", code, body)
	}
	id := SessionID(&session.Principal{Issuer: "https://issuer", Subject: "alice"}, "p", jobID)
	_, err := h.store.Update(context.Background(), id, func(x *session.Session) error {
		x.Decision = &session.Decision{Action: "require_approval"}
		x.Approval = &session.Approval{Group: "approvers", Approvers: []string{"ap@example.com"}, RequestedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		x.Status = session.StatusPendingApproval
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func state(job map[string]any) (string, string) {
	j, _ := job["job"].(map[string]any)
	st, _ := j["status"].(map[string]any)
	er, _ := st["errorResult"].(map[string]any)
	s, _ := st["state"].(string)
	r, _ := er["reason"].(string)
	return s, r
}

func TestCancelWithdrawsHeldJob(t *testing.T) {
	t.Parallel()
	w := &fakeWithdrawer{}
	h := newCancelHarness(t, w)
	id := h.hold("held-1")
	code, body := h.do("POST", "/bigquery/v2/projects/p/jobs/held-1/cancel", "alice-token", nil)
	if s, r := state(body); code != 200 || body["kind"] != "bigquery#jobCancelResponse" || s != "DONE" || r != reasonStopped {
		t.Fatalf("cancel = %d %v, want DONE with reason stopped", code, body)
	}
	if diff := cmp.Diff([]string{id + " alice " + cancelReason}, w.calls); diff != "" {
		t.Errorf("withdraw calls (-want, +got):\n%s", diff)
	}
	// getQueryResults answers the cancellation as the job's error.
	code, body = h.do("GET", "/bigquery/v2/projects/p/queries/held-1?timeoutMs=0", "alice-token", nil)
	if e, _ := body["error"].(map[string]any); code != 400 || !strings.Contains(e["message"].(string), "cancelled") {
		t.Errorf("getQueryResults after cancel = %d %v", code, body)
	}
	// A finished job is answered as it is; nothing is withdrawn again.
	if code, body = h.do("POST", "/bigquery/v2/projects/p/jobs/held-1/cancel", "alice-token", nil); code != 200 || len(w.calls) != 1 {
		t.Errorf("second cancel = %d %v, %d withdraw calls", code, body, len(w.calls))
	}
}

func TestCancelWithoutWithdrawLeavesJob(t *testing.T) {
	t.Parallel()
	h := newCancelHarness(t, nil)
	h.hold("held-2")
	code, body := h.do("POST", "/bigquery/v2/projects/p/jobs/held-2/cancel", "alice-token", nil)
	if s, _ := state(body); code != 200 || s != "RUNNING" {
		t.Errorf("cancel without a withdrawer = %d %v, want the job RUNNING as it is", code, body)
	}
}

func TestCancelWithdrawFailureIsRetryable(t *testing.T) {
	t.Parallel()
	h := newCancelHarness(t, &fakeWithdrawer{err: errors.New("store down")})
	h.hold("held-3")
	code, body := h.do("POST", "/bigquery/v2/projects/p/jobs/held-3/cancel", "alice-token", nil)
	e, _ := body["error"].(map[string]any)
	if code != 503 || e == nil || strings.Contains(e["message"].(string), "store down") {
		t.Errorf("cancel with a failing withdrawer = %d %v, want 503 without the fault's details", code, body)
	}
}

func TestSourceTableSchema(t *testing.T) {
	t.Parallel()
	h := newCancelHarness(t, nil)
	code, body := h.do("GET", "/bigquery/v2/projects/p/datasets/demo/tables/customers", "alice-token", nil)
	if code != 200 || body["kind"] != "bigquery#table" || body["id"] != "p:demo.customers" || body["numRows"] != nil {
		t.Fatalf("tables.get = %d %v", code, body)
	}
	want := map[string]any{"fields": []any{
		map[string]any{"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
		map[string]any{"name": "email", "type": "STRING", "mode": "NULLABLE",
			"description": "querygate: masked for you (EMAIL_ADDRESS): query results carry de-identified replacements, served as STRING. contact address"},
		map[string]any{"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
	}}
	if diff := cmp.Diff(want, body["schema"]); diff != "" {
		t.Errorf("schema (-want, +got):\n%s", diff)
	}
	if d, _ := body["description"].(string); !strings.Contains(d, "columns email come back de-identified") || !strings.Contains(d, "SELECT * on this table needs an approver") {
		t.Errorf("description = %q", d)
	}
	for _, tc := range []struct {
		path   string
		code   int
		reason string
	}{
		{"/bigquery/v2/projects/p/datasets/demo/tables/secret", 403, reasonAccessDenied},
		{"/bigquery/v2/projects/p/datasets/demo/tables/gone", 404, reasonNotFound},
		{"/bigquery/v2/projects/p/datasets/demo/tables/broken", 503, reasonBackendError},
		{"/bigquery/v2/projects/p/datasets/de%20mo/tables/x", 400, reasonInvalid},
	} {
		code, body := h.do("GET", tc.path, "alice-token", nil)
		e, _ := body["error"].(map[string]any)
		errs, _ := e["errors"].([]any)
		if code != tc.code || len(errs) != 1 || errs[0].(map[string]any)["reason"] != tc.reason {
			t.Errorf("GET %s = %d %v, want %d %s", tc.path, code, body, tc.code, tc.reason)
		}
	}
}
