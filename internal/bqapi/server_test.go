package bqapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
)

// These tests drive the handlers over HTTP against a real SQLite store, a
// token verifier that knows two tokens, and an orchestrator that only
// records starts: the test plays the workflow by updating the session.

type fakeVerifier map[string]*session.Principal

func (f fakeVerifier) Verify(_ context.Context, tok string) (*session.Principal, error) {
	if p, ok := f[tok]; ok {
		c := *p
		return &c, nil
	}
	return nil, errors.New("bad token")
}

type fakeOrchestrator struct {
	mu     sync.Mutex
	starts []string
}

func (o *fakeOrchestrator) Start(_ context.Context, args map[string]any) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.starts = append(o.starts, args["session_id"].(string))
	return "exec-" + args["session_id"].(string), nil
}

type harness struct {
	t     *testing.T
	url   string
	store *session.SQLite
	orch  *fakeOrchestrator
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with configure applied to the Server
// before it is mounted.
func newHarnessWith(t *testing.T, configure func(*Server)) *harness {
	t.Helper()
	store, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	orch := &fakeOrchestrator{}
	in := &intake.Server{Store: store, Orchestrator: orch, Verifier: fakeVerifier{
		"alice-token": {Issuer: "https://issuer", Subject: "alice", Email: "alice@example.com"},
		"bob-token":   {Issuer: "https://issuer", Subject: "bob", Email: "bob@example.com"},
	}}
	mux := http.NewServeMux()
	srvConf := &Server{Intake: in, DecisionWait: time.Millisecond}
	if configure != nil {
		configure(srvConf)
	}
	srvConf.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, url: srv.URL, store: store, orch: orch}
}

func (h *harness) do(method, path, tok string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
	}
	return resp.StatusCode, out
}

// finish plays the workflow: policy allowed, the query ran, and these
// rows were masked and stored.
func (h *harness) finish(id string, status session.Status, schema []session.Field, rows []string, pageRows int) {
	h.t.Helper()
	ctx := context.Background()
	var raws []json.RawMessage
	for _, r := range rows {
		raws = append(raws, json.RawMessage(r))
	}
	pages, stored, _ := session.Paginate(raws, session.PageCaps{PageRows: pageRows})
	for _, p := range pages {
		if err := h.store.PutPage(ctx, id, p); err != nil {
			h.t.Fatal(err)
		}
	}
	_, err := h.store.Update(ctx, id, func(x *session.Session) error {
		x.Decision = &session.Decision{Action: "allow", Reasons: []string{"ok"}}
		x.Status = status
		switch status {
		case session.StatusSucceeded:
			x.Execution = &session.Execution{JobID: "j", BytesProcessed: 10}
			x.Result = &session.Result{Schema: schema, MaskedColumns: []string{"email"}, TotalRows: stored, StoredRows: stored, Pages: len(pages)}
		case session.StatusDenied:
			x.Decision = &session.Decision{Action: "deny", RuleIDs: []string{"deny-dml"}, Reasons: []string{"Data modification is not allowed."}}
		case session.StatusRejected:
			x.Approval = &session.Approval{Decision: "rejected", Comment: "not today"}
		case session.StatusFailed:
			x.Errors = append(x.Errors, session.ErrorEntry{Step: "workflow", Message: "Syntax error: Unexpected …"})
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

var testSchema = []session.Field{{Name: "id", Type: "INTEGER", Mode: "NULLABLE"}, {Name: "email", Type: "STRING", Mode: "NULLABLE"}}

func testRows(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, `{"id":`+strconv.Itoa(i)+`,"email":"[EMAIL_ADDRESS]"}`)
	}
	return out
}

func TestErrorsHaveGoogleShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		name, method, path, tok string
		body                    any
		code                    int
		reason                  string
	}{
		{"no token", "POST", "/bigquery/v2/projects/p/queries", "", map[string]any{"query": "SELECT 1"}, 401, reasonRequired},
		{"bad token", "POST", "/bigquery/v2/projects/p/queries", "nope", map[string]any{"query": "SELECT 1"}, 401, reasonAuthError},
		{"unknown job", "GET", "/bigquery/v2/projects/p/jobs/nope", "alice-token", nil, 404, reasonNotFound},
		{"bad job id", "GET", "/bigquery/v2/projects/p/jobs/a%20b", "alice-token", nil, 400, reasonInvalid},
		{"other dataset", "GET", "/bigquery/v2/projects/p/datasets/demo", "alice-token", nil, 404, reasonNotFound},
		{"load job", "POST", "/bigquery/v2/projects/p/jobs", "alice-token", map[string]any{"configuration": map[string]any{"load": map[string]any{}}}, 400, reasonInvalid},
		{"unsupported method", "GET", "/bigquery/v2/projects/p/models", "alice-token", nil, 400, reasonInvalid},
		{"bad json", "POST", "/bigquery/v2/projects/p/queries", "alice-token", "not an object", 400, reasonInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(tc.method, tc.path, tc.tok, tc.body)
			e, _ := body["error"].(map[string]any)
			errs, _ := e["errors"].([]any)
			if code != tc.code || e["code"] != float64(tc.code) || len(errs) != 1 || errs[0].(map[string]any)["reason"] != tc.reason {
				t.Errorf("got %d %v, want %d reason %s", code, body, tc.code, tc.reason)
			}
		})
	}
	if len(h.orch.starts) != 0 {
		t.Errorf("refused requests started %d workflows", len(h.orch.starts))
	}
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	insert := map[string]any{"jobReference": map[string]any{"projectId": "p", "jobId": "job-1"},
		"configuration": map[string]any{"query": map[string]any{"query": "-- why\nSELECT id, email FROM t", "useLegacySql": false},
			"labels": map[string]any{LabelAgent: "agent-x"}}}
	code, job := h.do("POST", "/bigquery/v2/projects/p/jobs", "alice-token", insert)
	if code != 200 || job["status"].(map[string]any)["state"] != "RUNNING" {
		t.Fatalf("jobs.insert = %d %v", code, job)
	}
	id := SessionID(&session.Principal{Issuer: "https://issuer", Subject: "alice"}, "p", "job-1")
	sess, err := h.store.Get(context.Background(), id)
	if err != nil || sess.Prompt != "why" || sess.Agent.Name != "agent-x" {
		t.Fatalf("session = %+v, %v", sess, err)
	}
	if pl, err := sess.Timeline[0].Payload(); err != nil || pl.(session.ReceivedData).JobID != "job-1" || pl.(session.ReceivedData).FrontDoor != "bigquery" {
		t.Fatalf("session.received payload = %+v, %v", pl, err)
	}
	// Retried insert: same job, one workflow.
	if code, _ := h.do("POST", "/bigquery/v2/projects/p/jobs", "alice-token", insert); code != 200 || len(h.orch.starts) != 1 {
		t.Errorf("retry = %d, %d starts", code, len(h.orch.starts))
	}
	// Still running: jobComplete false.
	code, res := h.do("GET", "/bigquery/v2/projects/p/queries/job-1?timeoutMs=0", "alice-token", nil)
	if code != 200 || res["jobComplete"] != false || res["rows"] != nil {
		t.Errorf("getQueryResults while running = %d %v", code, res)
	}
	// Bob cannot see it.
	if code, _ := h.do("GET", "/bigquery/v2/projects/p/jobs/job-1", "bob-token", nil); code != 404 {
		t.Errorf("bob jobs.get = %d", code)
	}

	h.finish(id, session.StatusSucceeded, testSchema, testRows(5), 2)
	code, job = h.do("GET", "/bigquery/v2/projects/p/jobs/job-1", "alice-token", nil)
	st := job["status"].(map[string]any)
	dst := job["configuration"].(map[string]any)["query"].(map[string]any)["destinationTable"]
	if code != 200 || st["state"] != "DONE" || st["errorResult"] != nil ||
		!cmp.Equal(dst, map[string]any{"projectId": "p", "datasetId": ResultsDataset, "tableId": id}) {
		t.Errorf("jobs.get = %d %v", code, job)
	}
	// Pages across the stored pages (2 rows each): 3, then 2.
	code, res = h.do("GET", "/bigquery/v2/projects/p/queries/job-1?maxResults=3", "alice-token", nil)
	if code != 200 || res["totalRows"] != "5" || len(res["rows"].([]any)) != 3 || res["pageToken"] == nil {
		t.Fatalf("page 1 = %d %v", code, res)
	}
	wantSchema := map[string]any{"fields": []any{
		map[string]any{"name": "id", "type": "INTEGER", "mode": "NULLABLE"},
		map[string]any{"name": "email", "type": "STRING", "mode": "NULLABLE", "description": maskedDescription},
	}}
	if diff := cmp.Diff(wantSchema, res["schema"]); diff != "" {
		t.Errorf("schema (-want, +got):\n%s", diff)
	}
	code, res2 := h.do("GET", "/bigquery/v2/projects/p/queries/job-1?maxResults=3&pageToken="+res["pageToken"].(string), "alice-token", nil)
	rows := res2["rows"].([]any)
	if code != 200 || len(rows) != 2 || res2["pageToken"] != nil {
		t.Fatalf("page 2 = %d %v", code, res2)
	}
	if diff := cmp.Diff(map[string]any{"f": []any{map[string]any{"v": "4"}, map[string]any{"v": "[EMAIL_ADDRESS]"}}}, rows[0]); diff != "" {
		t.Errorf("row 4 (-want, +got):\n%s", diff)
	}
	// startIndex lands inside a stored page; tabledata.list agrees.
	_, res = h.do("GET", "/bigquery/v2/projects/p/queries/job-1?startIndex=3&maxResults=1", "alice-token", nil)
	_, td := h.do("GET", "/bigquery/v2/projects/p/datasets/"+ResultsDataset+"/tables/"+id+"/data?startIndex=3&maxResults=1", "alice-token", nil)
	want := []any{map[string]any{"f": []any{map[string]any{"v": "4"}, map[string]any{"v": "[EMAIL_ADDRESS]"}}}}
	if !cmp.Equal(res["rows"], want) || !cmp.Equal(td["rows"], want) || td["kind"] != "bigquery#tableDataList" {
		t.Errorf("startIndex=3: getQueryResults %v, tabledata %v", res["rows"], td)
	}
	if code, _ := h.do("GET", "/bigquery/v2/projects/p/queries/job-1?pageToken=garbage", "alice-token", nil); code != 400 {
		t.Errorf("garbage pageToken = %d", code)
	}
	// tables.get marks the masked column; bob cannot read the table.
	_, tbl := h.do("GET", "/bigquery/v2/projects/p/datasets/"+ResultsDataset+"/tables/"+id, "alice-token", nil)
	if tbl["numRows"] != "5" || !cmp.Equal(tbl["schema"], wantSchema) {
		t.Errorf("tables.get = %v", tbl)
	}
	if code, _ := h.do("GET", "/bigquery/v2/projects/p/datasets/"+ResultsDataset+"/tables/"+id, "bob-token", nil); code != 404 {
		t.Errorf("bob tables.get = %d", code)
	}
	_, list := h.do("GET", "/bigquery/v2/projects/p/datasets/"+ResultsDataset+"/tables", "alice-token", nil)
	if tables := list["tables"].([]any); len(tables) != 1 || tables[0].(map[string]any)["tableReference"].(map[string]any)["tableId"] != id {
		t.Errorf("tables.list = %v", list)
	}
	// The job id reused for other SQL is a conflict.
	insert["configuration"].(map[string]any)["query"] = map[string]any{"query": "SELECT 2"}
	if code, _ := h.do("POST", "/bigquery/v2/projects/p/jobs", "alice-token", insert); code != 409 {
		t.Errorf("reused job id = %d, want 409", code)
	}
}

func TestEndedJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		status  session.Status
		code    int
		reason  string
		message string
	}{
		{session.StatusDenied, 403, reasonAccessDenied, "Data modification is not allowed. (rules: deny-dml)"},
		{session.StatusRejected, 403, reasonAccessDenied, "an approver rejected the query: not today"},
		{session.StatusExpired, 403, reasonAccessDenied, "no approver decided"},
		{session.StatusFailed, 400, reasonInvalidQuery, "Syntax error"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			jobID := "job-" + string(tc.status)
			code, _ := h.do("POST", "/bigquery/v2/projects/p/jobs", "alice-token", map[string]any{
				"jobReference": map[string]any{"jobId": jobID}, "configuration": map[string]any{"query": map[string]any{"query": "SELECT 1"}}})
			if code != 200 {
				t.Fatalf("insert = %d", code)
			}
			h.finish(SessionID(&session.Principal{Issuer: "https://issuer", Subject: "alice"}, "p", jobID), tc.status, nil, nil, 0)
			_, job := h.do("GET", "/bigquery/v2/projects/p/jobs/"+jobID, "alice-token", nil)
			st := job["status"].(map[string]any)
			er, _ := st["errorResult"].(map[string]any)
			if st["state"] != "DONE" || er["reason"] != tc.reason || !strings.Contains(er["message"].(string), tc.message) {
				t.Errorf("jobs.get status = %v", st)
			}
			code, res := h.do("GET", "/bigquery/v2/projects/p/queries/"+jobID, "alice-token", nil)
			e, _ := res["error"].(map[string]any)
			if code != tc.code || !strings.Contains(e["message"].(string), tc.message) {
				t.Errorf("getQueryResults = %d %v", code, res)
			}
		})
	}
}
