package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/policy"
)

// TestQuorumThroughTheGateway drives issue 15 item 1's acceptance through
// the local gateway with min_approvals: 2 on the star rule: one approval
// (the decisions API) leaves the session pending, the same approver again
// changes nothing, the requester cannot approve, the second approver (the
// mailed link) runs it; on another session an approval then a deny
// rejects.
func TestQuorumThroughTheGateway(t *testing.T) {
	src := string(policy.DefaultYAML())
	const anchor = "    approver_group: approvers\n    approval_ttl: 15m\n"
	if !strings.Contains(src, anchor) {
		t.Fatal("default policy's star rule changed; update the test's anchor")
	}
	src = strings.Replace(src, anchor, anchor+"    min_approvals: 2\n", 1)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	g, _ := startGatewayConfig(t, local.Config{PolicyFile: file})
	alice := token(t, g, "alice@example.com", "analysts")
	a1 := token(t, g, "approver1@example.com")
	a2 := token(t, g, "approver2@example.com")

	decide := func(tok, id, decision string, held map[string]any) response {
		body, _ := json.Marshal(map[string]any{"decision": decision, "sql_sha256": held["sql_sha256"], "run_sha256": held["run_sha256"]})
		return do(t, "POST", g.URL+"/v1/approvals/"+id+"/decision", tok, body)
	}
	waiting := func(tok string) []map[string]any {
		r := do(t, "GET", g.URL+"/v1/approvals?status=pending", tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("GET /v1/approvals = %d %s", r.code, r.raw)
		}
		var out []map[string]any
		for _, x := range r.body["approvals"].([]any) {
			out = append(out, x.(map[string]any))
		}
		return out
	}

	t.Run("two approvals run it", func(t *testing.T) {
		id := submitForApproval(t, g, alice, "quorum of two")
		m := waitMail(t, g, "approver2@example.com", id)
		if !strings.Contains(m.Text, "0 of 2 approvals") {
			t.Errorf("mail lacks the progress:\n%s", m.Text)
		}
		list := waiting(a1)
		if len(list) != 1 || list[0]["session_id"] != id || list[0]["sql"] != starSQL {
			t.Fatalf("approver1's waiting list = %v", list)
		}
		held := list[0]

		// The requester cannot approve her own query.
		if r := decide(alice, id, "approve", held); r.code != http.StatusForbidden || r.body["code"] != "self_approval" {
			t.Errorf("self-approval = %d %s, want 403 self_approval", r.code, r.raw)
		}
		// A decision must name what it approves.
		if r := decide(a1, id, "approve", map[string]any{}); r.code != http.StatusBadRequest || r.body["code"] != "hash_required" {
			t.Errorf("decision without hashes = %d %s, want 400 hash_required", r.code, r.raw)
		}
		r := decide(a1, id, "approve", held)
		if r.code != http.StatusOK || r.body["decision"] != "pending" || r.body["progress"] != "1 of 2 approvals: approver1@example.com" {
			t.Fatalf("first approval = %d %s", r.code, r.raw)
		}
		s := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil)
		if s.body["status"] != "pending_approval" {
			t.Fatalf("after one approval status = %v, want pending_approval", s.body["status"])
		}
		ap, _ := s.body["approval"].(map[string]any)
		if votes, _ := ap["approvals"].([]any); len(votes) != 1 || ap["min_approvals"] != float64(2) {
			t.Errorf("session approval = %v, want one counted approval of 2", ap)
		}
		if r := decide(a1, id, "approve", held); r.code != http.StatusConflict || r.body["code"] != "already_approved" {
			t.Errorf("approver1 again = %d %s, want 409 already_approved", r.code, r.raw)
		}
		if list := waiting(a1); len(list) != 0 {
			t.Errorf("approver1 still has %d waiting after approving", len(list))
		}

		// approver2 approves with the mailed link and the query runs.
		approve, _ := approvalLinks(t, g, m)
		b := newHTTPBrowser(t)
		page, result := b.decide(g, approve, "approve", "second approval")
		if !strings.Contains(page.body, "1 of 2 approvals: approver1@example.com") {
			t.Errorf("approver2's page lacks the progress")
		}
		if result.code() != "approved" {
			t.Fatalf("approver2's decision = %q: %s", result.code(), result.body)
		}
		if r := waitSession(t, g, alice, id); r.body["status"] != "succeeded" {
			t.Fatalf("after two approvals status = %v: %s", r.body["status"], r.raw)
		}
	})

	t.Run("approval then deny rejects", func(t *testing.T) {
		id := submitForApproval(t, g, alice, "quorum then deny")
		waitMail(t, g, "approver1@example.com", id)
		r := do(t, "GET", g.URL+"/v1/approvals/"+id, a2, nil)
		if r.code != http.StatusOK {
			t.Fatalf("GET /v1/approvals/%s = %d %s", id, r.code, r.raw)
		}
		if d := decide(a2, id, "approve", r.body); d.body["decision"] != "pending" {
			t.Fatalf("approval = %d %s", d.code, d.raw)
		}
		if d := decide(a1, id, "deny", r.body); d.code != http.StatusOK || d.body["decision"] != "rejected" {
			t.Fatalf("deny = %d %s", d.code, d.raw)
		}
		if s := waitSession(t, g, alice, id); s.body["status"] != "rejected" {
			t.Errorf("after a deny status = %v, want rejected", s.body["status"])
		}
	})
}
