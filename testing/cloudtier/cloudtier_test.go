package cloudtier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dlp "cloud.google.com/go/dlp/apiv2"
	executions "cloud.google.com/go/workflows/executions/apiv1"

	"github.com/querygate/querygate/testing/cloudtier"
)

// env is the deployment under test. Only QUERYGATE_TEST_PROJECT decides
// whether the tier runs; each test then skips, saying what it lacks, when a
// variable it needs is unset.
type env struct {
	project, location, workflow string
	// gateway is intake's URL (terraform output intake_url); approvals is
	// the service that serves /v1/approvals (approval's URL, terraform
	// output function_urls["approval"], or the load balancer routing it).
	gateway, approvals string
	// agentToken and approverToken are ID tokens for the gateway's
	// audience (gcloud auth print-identity-token --audiences=AUDIENCE),
	// the approver's a member of the approval rule's group.
	agentToken, approverToken string
	allowedSQL, deniedSQL     string
	approvalSQL               string
	record                    bool
}

func load(t *testing.T) env {
	t.Helper()
	e := env{
		project:       os.Getenv("QUERYGATE_TEST_PROJECT"),
		location:      or(os.Getenv("QUERYGATE_TEST_LOCATION"), "us-central1"),
		workflow:      or(os.Getenv("QUERYGATE_TEST_WORKFLOW"), "query-session"),
		gateway:       strings.TrimRight(os.Getenv("QUERYGATE_TEST_GATEWAY_URL"), "/"),
		approvals:     strings.TrimRight(os.Getenv("QUERYGATE_TEST_APPROVALS_URL"), "/"),
		agentToken:    os.Getenv("QUERYGATE_TEST_AGENT_TOKEN"),
		approverToken: os.Getenv("QUERYGATE_TEST_APPROVER_TOKEN"),
		allowedSQL:    or(os.Getenv("QUERYGATE_TEST_ALLOWED_SQL"), "SELECT 1 AS one"),
		deniedSQL:     or(os.Getenv("QUERYGATE_TEST_DENIED_SQL"), "DELETE FROM querygate_cloudtier.none WHERE TRUE"),
		approvalSQL:   os.Getenv("QUERYGATE_TEST_APPROVAL_SQL"),
		record:        os.Getenv("QUERYGATE_TEST_RECORD") == "1",
	}
	if e.project == "" {
		t.Skip("QUERYGATE_TEST_PROJECT is not set: the cloud tier runs only against a real project (docs/deploy.md)")
	}
	return e
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (e env) needGateway(t *testing.T) {
	t.Helper()
	if e.gateway == "" || e.agentToken == "" {
		t.Skip("QUERYGATE_TEST_GATEWAY_URL and QUERYGATE_TEST_AGENT_TOKEN are needed for the query flows")
	}
}

// call sends one JSON request and decodes the JSON answer.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, not a JSON object (%d bytes)", method, url, resp.StatusCode, len(b))
	}
	return resp.StatusCode, out
}

func TestAllowedQueryReturnsRows(t *testing.T) {
	e := load(t)
	e.needGateway(t)
	code, out := call(t, http.MethodPost, e.gateway+"/v1/queries", e.agentToken, map[string]any{"sql": e.allowedSQL, "wait_seconds": 120})
	if code != http.StatusOK || out["status"] != "succeeded" {
		t.Fatalf("POST /v1/queries %q = %d %v, want 200 succeeded", e.allowedSQL, code, out["status"])
	}
	if _, ok := out["rows"]; !ok {
		t.Errorf("a succeeded query's answer has no rows: keys %v", keys(out))
	}
	if n, _ := out["total_rows"].(float64); n < 1 {
		t.Errorf("total_rows = %v, want at least 1 (QUERYGATE_TEST_ALLOWED_SQL must return a row)", out["total_rows"])
	}
}

func TestDeniedQueryIsRefused(t *testing.T) {
	e := load(t)
	e.needGateway(t)
	code, out := call(t, http.MethodPost, e.gateway+"/v1/queries", e.agentToken, map[string]any{"sql": e.deniedSQL, "wait_seconds": 120})
	if code != http.StatusForbidden || out["status"] != "denied" {
		t.Fatalf("POST /v1/queries %q = %d %v, want 403 denied", e.deniedSQL, code, out["status"])
	}
	if r, _ := out["reasons"].([]any); len(r) == 0 {
		t.Error("a denial gives the agent no reason")
	}
}

// TestApprovalFlow holds a query for approval, approves it through the
// decisions API as the approver, and waits for its rows.
func TestApprovalFlow(t *testing.T) {
	e := load(t)
	e.needGateway(t)
	if e.approvalSQL == "" || e.approvals == "" || e.approverToken == "" {
		t.Skip("QUERYGATE_TEST_APPROVAL_SQL, QUERYGATE_TEST_APPROVALS_URL and QUERYGATE_TEST_APPROVER_TOKEN are needed for the approval flow")
	}
	code, out := call(t, http.MethodPost, e.gateway+"/v1/queries", e.agentToken, map[string]any{"sql": e.approvalSQL, "wait_seconds": 60})
	id, _ := out["session_id"].(string)
	if code != http.StatusAccepted || out["status"] != "pending_approval" || id == "" {
		t.Fatalf("POST /v1/queries %q = %d %v, want 202 pending_approval with a session id", e.approvalSQL, code, out["status"])
	}
	code, held := call(t, http.MethodGet, e.approvals+"/v1/approvals/"+id, e.approverToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/approvals/%s = %d, want 200", id, code)
	}
	code, dec := call(t, http.MethodPost, e.approvals+"/v1/approvals/"+id+"/decision", e.approverToken, map[string]string{
		"decision": "approve", "comment": "cloud tier test", "sql_sha256": fmt.Sprint(held["sql_sha256"]), "run_sha256": fmt.Sprint(held["run_sha256"])})
	if code != http.StatusOK || dec["decision"] != "approve" {
		t.Fatalf("POST decision = %d %v, want 200 approve", code, dec)
	}
	// The workflow resumes from the callback; the session ends within a
	// bounded number of long polls.
	for i := 0; i < 6; i++ {
		code, out = call(t, http.MethodGet, e.gateway+"/v1/sessions/"+id+"?wait_seconds=60", e.agentToken, nil)
		if s, _ := out["status"].(string); s == "succeeded" || s == "failed" || s == "denied" || s == "expired" || s == "rejected" {
			break
		}
	}
	if out["status"] != "succeeded" {
		t.Fatalf("the approved session ended %v (HTTP %d), want succeeded", out["status"], code)
	}
}

// TestRecordDLPBehaviour sends the DLP probes to the real service and, with
// QUERYGATE_TEST_RECORD=1, writes testdata/dlp.json; without it, compares.
// internal/deid/dlpfake TestInventedBehaviour then holds the fake to it.
func TestRecordDLPBehaviour(t *testing.T) {
	e := load(t)
	ctx := context.Background()
	c, err := dlp.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parent := "projects/" + e.project + "/locations/" + e.location
	got := &cloudtier.Recorded{Source: fmt.Sprintf("recorded from Cloud DLP in %s on %s", e.location, time.Now().UTC().Format("2006-01-02")), Outcomes: map[string]cloudtier.Outcome{}}
	for _, p := range cloudtier.DLPProbes() {
		got.Outcomes[p.Name] = cloudtier.OutcomeOf(p.Call(ctx, c, parent))
	}
	compareOrRecord(t, e, "dlp.json", got)
}

// TestRecordWorkflowsBehaviour is the same for the Executions API.
func TestRecordWorkflowsBehaviour(t *testing.T) {
	e := load(t)
	ctx := context.Background()
	c, err := executions.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wf := "projects/" + e.project + "/locations/" + e.location + "/workflows/" + e.workflow
	got := &cloudtier.Recorded{Source: fmt.Sprintf("recorded from Workflows Executions in %s on %s", e.location, time.Now().UTC().Format("2006-01-02")), Outcomes: map[string]cloudtier.Outcome{}}
	for _, p := range cloudtier.WorkflowProbes() {
		o := cloudtier.OutcomeOf(p.Call(ctx, c, wf))
		o.LimitError = false // a DLP notion
		got.Outcomes[p.Name] = o
	}
	compareOrRecord(t, e, "workflows.json", got)
}

func compareOrRecord(t *testing.T, e env, name string, got *cloudtier.Recorded) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if e.record {
		if err := got.Save(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: now run the fakes' TestInventedBehaviour", path)
		return
	}
	rec, err := cloudtier.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range rec.Outcomes {
		if g := got.Outcomes[k]; g.Code != w.Code || g.LimitError != w.LimitError {
			t.Errorf("%s: the service answers %s (limit error %v), %s says %s (%v): rerun with QUERYGATE_TEST_RECORD=1 and fix the fake", k, g.Code, g.LimitError, path, w.Code, w.LimitError)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
