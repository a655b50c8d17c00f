package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
)

// TestAttackForgedCallback reproduces issue 10 finding 6 through the local
// gateway: a callback posted with the approval identity's own token made
// the workflow try to execute, and could end a pending session. Here two
// forged callbacks ("approved", then "rejected") reach the workflow before
// the real decision. The workflow reads the decision from the approval
// record instead, so the forgeries change nothing: the approver's Deny is
// what ends the session, and the query never runs.
func TestAttackForgedCallback(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir)
	defer g.Close()
	alice := token(t, g, "alice@example.com", "analysts")
	id := submitForApprovers(t, g, alice, "forged callback", []string{"approver1@example.com", "approver2@example.com"})
	m := waitMail(t, g, "approver2@example.com", id)

	state, err := approval.OpenSQLite(filepath.Join(dir, "approval.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	req, err := state.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := url.Parse(req.CallbackURL)
	if err != nil {
		t.Fatal(err)
	}
	// Anyone who can read the data dir can mint this; in the cloud, a
	// compromised approval service account could.
	forged, err := g.DevIssuer.Mint(auth.MintOptions{Subject: local.ApprovalIdentity, Audience: cb.Scheme + "://" + cb.Host, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"decision":"approved","approver":"approver1@example.com","comment":"forged"}`,
		`{"decision":"rejected","approver":"approver1@example.com","comment":"forged"}`,
	} {
		r, _ := http.NewRequest(http.MethodPost, req.CallbackURL, bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+forged)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("forged callback: status %d (the runtime must accept the identity, or this test proves nothing)", resp.StatusCode)
		}
	}
	// The real decision, queued behind the forgeries.
	b := newHTTPBrowser(t)
	if _, res := b.decide(g, m.Links[1], "deny", "not this one"); res.status != http.StatusOK {
		t.Fatalf("deny: status %d", res.status)
	}
	r := waitSession(t, g, alice, id)
	if r.body["status"] != string(session.StatusRejected) {
		t.Fatalf("status %v, want rejected: %s", r.body["status"], r.raw)
	}
	s, err := g.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Approval.DecidedBy != "approver2@example.com" || s.Approval.Comment != "not this one" || s.Execution != nil {
		t.Errorf("approval %+v, execution %+v: the forged callbacks had an effect", s.Approval, s.Execution)
	}
	for _, e := range s.Timeline {
		if e.Type == session.EventQueryStarted || e.Type == session.EventFailed {
			t.Errorf("timeline has %s: a forged callback drove the workflow", e.Type)
		}
	}
}

// TestAttackClaimedPrivilegedGroups is issue 10 finding 6's group attack
// through the local gateway: a token whose groups claim names auditors,
// re-identifiers and approvers gets none of that power; only the
// configured membership (the static map) grants it.
func TestAttackClaimedPrivilegedGroups(t *testing.T) {
	g := startGateway(t, t.TempDir())
	defer g.Close()
	alice := token(t, g, "alice@example.com", "analysts")
	r := do(t, "POST", g.URL+"/v1/queries", alice, []byte(`{"sql":"SELECT full_name FROM demo.customers LIMIT 1"}`))
	if r.code != http.StatusOK {
		t.Fatalf("alice's query: %d %s", r.code, r.raw)
	}
	id, _ := r.body["session_id"].(string)

	mallory := token(t, g, "mallory@example.com", "analysts", "auditors", "reidentifiers", "approvers")
	if l := do(t, "GET", g.URL+"/v1/sessions", mallory, nil); l.code != http.StatusOK || len(l.body["sessions"].([]any)) != 0 {
		t.Errorf("mallory lists %d sessions (status %d), want none", len(l.body["sessions"].([]any)), l.code)
	}
	if got := do(t, "GET", g.URL+"/v1/sessions/"+id, mallory, nil); got.code != http.StatusNotFound {
		t.Errorf("mallory reads alice's session: %d, want 404", got.code)
	}
	if got := do(t, "POST", g.URL+"/v1/sessions/"+id+"/reidentify", mallory, nil); got.code == http.StatusOK {
		t.Errorf("mallory re-identifies alice's session: %d %s", got.code, got.raw)
	}
	// The configured auditor, with no claim at all, does read it.
	auditor := token(t, g, "auditor@example.com")
	if l := do(t, "GET", g.URL+"/v1/sessions", auditor, nil); l.code != http.StatusOK || len(l.body["sessions"].([]any)) != 1 {
		t.Errorf("the auditor lists %v (status %d), want alice's session", l.body["sessions"], l.code)
	}
}
