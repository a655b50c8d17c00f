package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/gateway/local"
)

// TestApproveCommand runs `approvals`, `approve` and `deny` against a
// local gateway from a directory with no data dir: the requester's own
// approval is refused with exit code 1, an approver's decision through the
// CLI decides the session.
func TestApproveCommand(t *testing.T) {
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	mint := func(sub string, groups ...string) string {
		tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: sub, Groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := mint("alice@example.com", "analysts")
	submit := func() string {
		body := strings.NewReader(`{"sql": "SELECT * FROM demo.customers LIMIT 5", "wait_seconds": 10}`)
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/queries", body)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusAccepted || out["status"] != "pending_approval" {
			t.Fatalf("submit = %d %v", resp.StatusCode, out)
		}
		return out["session_id"].(string)
	}
	status := func(id string) string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/sessions/"+id+"?wait_seconds=2", nil)
			req.Header.Set("Authorization", "Bearer "+alice)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			s, _ := out["status"].(string)
			if s != "pending_approval" && s != "running" || time.Now().After(deadline) {
				return s
			}
		}
	}

	id := submit()
	// The requester may not approve her own query.
	_, stderr, err := run(t, "approve", id, "--url", g.URL, "--token", alice)
	var ec exitCode
	if !errors.As(err, &ec) || ec != exitRefused || !strings.Contains(stderr, "refused (403 self_approval): You cannot approve your own query") {
		t.Errorf("self-approval: err %v, stderr %q; want exit 3 with self_approval", err, stderr)
	}

	a1 := mint("approver1@example.com")
	t.Setenv("QUERYGATE_URL", g.URL)
	t.Setenv("QUERYGATE_TOKEN", a1)
	stdout, stderr, err := run(t, "approvals")
	if err != nil || !strings.Contains(stdout, `"session_id": "`+id+`"`) {
		t.Fatalf("approvals: err %v\n%s%s", err, stdout, stderr)
	}
	stdout, stderr, err = run(t, "approve", id, "--comment", "fine")
	if err != nil || !strings.Contains(stdout, `"decision": "approved"`) || !strings.Contains(stderr, "SELECT * FROM demo.customers LIMIT 5") {
		t.Fatalf("approve: err %v\n%s%s", err, stdout, stderr)
	}
	if s := status(id); s != "succeeded" {
		t.Errorf("approved session ended %q, want succeeded", s)
	}

	id2 := submit()
	stdout, stderr, err = run(t, "deny", id2, "--comment", "not today")
	if err != nil || !strings.Contains(stdout, `"decision": "rejected"`) {
		t.Fatalf("deny: err %v\n%s%s", err, stdout, stderr)
	}
	if s := status(id2); s != "rejected" {
		t.Errorf("denied session ended %q, want rejected", s)
	}
	// A decided session is no longer waiting: refused, exit 3.
	if _, stderr, err := run(t, "approve", id2); !errors.As(err, &ec) || ec != exitRefused || !strings.Contains(stderr, "not_pending") {
		t.Errorf("approve after deny: %v %q, want exit 3 naming not_pending", err, stderr)
	}
	// No such held query for this approver: exit 1.
	if _, _, err := run(t, "approve", "qs_00000000000000000000000000000000"); !errors.As(err, &ec) || ec != exitFailed {
		t.Errorf("approve of an unknown session: %v, want exit 1", err)
	}
}
