package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/gateway/local"
)

// The BigQuery front door, driven by Google's Node.js client
// (@google-cloud/bigquery 9.3.0, testing/bqnode), unmodified: apiEndpoint
// points it at the gateway and an OAuth2Client holding the dev ID token
// authenticates it.

// nodeResult is what testing/bqnode/run.js prints.
type nodeResult struct {
	OK      bool             `json:"ok"`
	JobID   string           `json:"jobId"`
	Rows    []map[string]any `json:"rows"`
	Code    int              `json:"code"`
	Reason  string           `json:"reason"`
	Message string           `json:"message"`
}

// nodeHarness returns the harness directory, skipping the test when node
// or the npm packages are missing, unless QUERYGATE_REQUIRE_EMULATORS is
// set (CI), which makes that a failure.
func nodeHarness(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "bqnode"))
	if err != nil {
		t.Fatal(err)
	}
	var missing error
	if _, err := exec.LookPath("node"); err != nil {
		missing = errors.New("node is not installed")
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@google-cloud", "bigquery", "package.json")); err != nil {
		missing = errors.New("the Node BigQuery client is not installed: run `npm ci` in testing/bqnode")
	}
	if missing != nil {
		if os.Getenv("QUERYGATE_REQUIRE_EMULATORS") == "" {
			t.Skipf("skipping the Node.js client test: %v", missing)
		}
		t.Fatalf("QUERYGATE_REQUIRE_EMULATORS is set: %v", missing)
	}
	return dir
}

// startNode runs one query with the Node client in the background; wait
// returns its result.
func startNode(t *testing.T, dir string, g *local.Gateway, tok string, spec map[string]any) (wait func() nodeResult) {
	t.Helper()
	arg, _ := json.Marshal(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // bounds a hang
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "run.js"), string(arg))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "QG_ENDPOINT="+g.URL, "QG_TOKEN="+tok, "QG_PROJECT="+bqProject)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start node: %v", err)
	}
	return func() nodeResult {
		t.Helper()
		defer cancel()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node: %v\nstderr:\n%s", err, stderr.String())
		}
		var r nodeResult
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
			t.Fatalf("node output %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
		}
		return r
	}
}

func TestBigQueryNodeClient(t *testing.T) {
	dir := nodeHarness(t)
	g, _ := startGatewayConfig(t, local.Config{})

	t.Run("allowed query is masked", func(t *testing.T) {
		tok := token(t, g, "nora@example.com", "analysts")
		r := startNode(t, dir, g, tok, map[string]any{"mode": "query",
			"sql":    "-- two customers for a mailing test\nSELECT customer_id, email FROM demo.customers WHERE customer_id <= 2 ORDER BY customer_id",
			"labels": map[string]string{"querygate-agent": "node-agent"}})()
		if !r.OK {
			t.Fatalf("node query failed: %d %s %s", r.Code, r.Reason, r.Message)
		}
		want := []map[string]any{{"customer_id": float64(1), "email": "[EMAIL_ADDRESS]"}, {"customer_id": float64(2), "email": "[EMAIL_ADDRESS]"}}
		if got, _ := json.Marshal(r.Rows); string(got) != mustJSON(want) {
			t.Errorf("rows = %s, want %s", got, mustJSON(want))
		}
		s := onlySession(t, g, tok)
		if s["status"] != "succeeded" || s["prompt"] != "two customers for a mailing test" {
			t.Errorf("session = %v, prompt %q", s["status"], s["prompt"])
		}
		if ag, _ := s["agent"].(map[string]any); ag["name"] != "node-agent" {
			t.Errorf("agent = %v", s["agent"])
		}
	})

	t.Run("approval then rows", func(t *testing.T) {
		tok := token(t, g, "olga@example.com", "analysts")
		wait := startNode(t, dir, g, tok, map[string]any{"mode": "job", "sql": starSQL})
		id := waitPendingSession(t, g, tok)
		approve, _ := approvalLinks(t, g, waitMail(t, g, approvers[0], id))
		if _, res := newHTTPBrowser(t).decide(g, approve, "approve", ""); res.status != http.StatusOK {
			t.Fatalf("approve = %d %s", res.status, res.code())
		}
		r := wait()
		if !r.OK || len(r.Rows) != 5 {
			t.Fatalf("node after approval: ok %v, %d rows, %d %s %s", r.OK, len(r.Rows), r.Code, r.Reason, r.Message)
		}
		customers := customerByID()
		for _, row := range r.Rows {
			if row["ssn"] != "[US_SOCIAL_SECURITY_NUMBER]" || row["email"] != "[EMAIL_ADDRESS]" {
				t.Errorf("row %v: ssn and email are not masked", row["customer_id"])
			}
			raw := customers[int64(row["customer_id"].(float64))]
			if row["city"] != raw["city"] {
				t.Errorf("row %v: city %v, want the unmasked %v", row["customer_id"], row["city"], raw["city"])
			}
		}
	})

	t.Run("dml is 403", func(t *testing.T) {
		tok := token(t, g, "pia@example.com", "analysts")
		r := startNode(t, dir, g, tok, map[string]any{"mode": "query", "sql": "DELETE FROM demo.orders WHERE TRUE"})()
		if r.OK || r.Code != http.StatusForbidden || r.Reason != "accessDenied" || !strings.Contains(r.Message, "Data modification") {
			t.Errorf("node DML = ok %v %d %q %q, want 403 accessDenied with the policy's reason", r.OK, r.Code, r.Reason, r.Message)
		}
	})
}

// waitPendingSession waits until the caller's only session awaits approval
// and returns its id.
func waitPendingSession(t *testing.T, g *local.Gateway, tok string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // bounds a hang
	for {
		r := do(t, "GET", g.URL+"/v1/sessions", tok, nil)
		list, _ := r.body["sessions"].([]any)
		if len(list) == 1 {
			m := list[0].(map[string]any)
			id, _ := m["session_id"].(string)
			if m["status"] == "pending_approval" {
				return id
			}
			if terminal(m["status"]) {
				t.Fatalf("session %s ended %v before approval", id, m["status"])
			}
			waitSessionChange(t, g, tok, id)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pending session: %s", r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSessionChange long-polls the session once.
func waitSessionChange(t *testing.T, g *local.Gateway, tok, id string) {
	t.Helper()
	do(t, "GET", g.URL+"/v1/sessions/"+id+"?wait_seconds=5", tok, nil)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
