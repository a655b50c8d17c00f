package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
)

type noMail struct{}

func (noMail) Send(context.Context, mail.Message) error { return nil }

// TestApprovalResponsesMatchDocument drives the decisions API through
// every response the document lists for it.
func TestApprovalResponsesMatchDocument(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sq, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := store{sq}
	state := approval.NewMemory()
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(callback.Close)
	svc, err := approval.New(approval.Config{PublicBaseURL: "https://querygate.example"}, approval.Deps{
		Store: st, State: state, Keys: approval.StaticKeys{ID: "k1", Key: bytes.Repeat([]byte("k"), 32)},
		Groups: approval.StaticGroups{}, Mailer: noMail{},
		IDToken: func(context.Context, string) (string, error) { return "tok", nil },
		Now:     func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	users := verifier{
		"alice":   {Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com"},
		"a1":      {Issuer: "https://issuer.example", Subject: "a1", Email: "a1@example.com"},
		"a2":      {Issuer: "https://issuer.example", Subject: "a2", Email: "a2@example.com"},
		"mallory": {Issuer: "https://issuer.example", Subject: "m", Email: "mallory@example.com"},
	}
	mux := http.NewServeMux()
	svc.RegisterAPI(mux, users)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	held := func(id string, min int, expires time.Time, withCallback bool) *session.Session {
		sql := "SELECT * FROM pii"
		x := &session.Session{ID: id, Principal: session.Principal{Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com"},
			SQL: sql, SQLSHA256: session.SQLHash(sql), Status: session.StatusPendingApproval, CreatedAt: now,
			Decision: &session.Decision{Action: "require_approval", ApproverGroup: "approvers", Reasons: []string{"PII"}, MinApprovals: min, DecidedAt: now},
			Approval: &session.Approval{Group: "approvers", Approvers: []string{"a1@example.com", "a2@example.com"}, RequestedAt: now, ExpiresAt: expires, MinApprovals: min}}
		if err := st.Create(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if withCallback {
			if _, err := state.Begin(context.Background(), approval.Request{SessionID: id, CallbackURL: callback.URL + "/cb", ExpiresAt: expires, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		return x
	}
	quorum := held("qs_quorum", 2, now.Add(time.Hour), true)
	held("qs_undeliverable", 0, now.Add(time.Hour), false)
	held("qs_expired", 0, now.Add(-time.Minute), true)
	hashes := func(decision string) []byte {
		b, _ := json.Marshal(map[string]string{"decision": decision, "sql_sha256": quorum.SQLSHA256, "run_sha256": approval.RunHash(quorum)})
		return b
	}

	covered := map[string]bool{}
	for _, c := range []call{
		{"list", "GET", "/v1/approvals?status=pending", "a1", nil, 200},
		{"list bad status", "GET", "/v1/approvals?status=done", "a1", nil, 400},
		{"list no token", "GET", "/v1/approvals", "", nil, 401},
		{"get", "GET", "/v1/approvals/qs_quorum", "a1", nil, 200},
		{"get no token", "GET", "/v1/approvals/qs_quorum", "", nil, 401},
		{"get requester", "GET", "/v1/approvals/qs_quorum", "alice", nil, 403},
		{"get stranger", "GET", "/v1/approvals/qs_quorum", "mallory", nil, 404},
		{"get store down", "GET", "/v1/approvals/qs_get_fails", "a1", nil, 500},
		{"bad body", "POST", "/v1/approvals/qs_quorum/decision", "a1", []byte(`{"decision":`), 400},
		{"no hashes", "POST", "/v1/approvals/qs_quorum/decision", "a1", []byte(`{"decision":"approve"}`), 400},
		{"no token", "POST", "/v1/approvals/qs_quorum/decision", "", hashes("approve"), 401},
		{"self", "POST", "/v1/approvals/qs_quorum/decision", "alice", hashes("approve"), 403},
		{"stranger", "POST", "/v1/approvals/qs_quorum/decision", "mallory", hashes("approve"), 404},
		{"first approval", "POST", "/v1/approvals/qs_quorum/decision", "a1", hashes("approve"), 200},
		{"again", "POST", "/v1/approvals/qs_quorum/decision", "a1", hashes("approve"), 409},
		{"deny", "POST", "/v1/approvals/qs_quorum/decision", "a2", hashes("deny"), 200},
		{"expired", "POST", "/v1/approvals/qs_expired/decision", "a1", hashes("approve"), 410},
		{"undeliverable", "POST", "/v1/approvals/qs_undeliverable/decision", "a1", hashes("approve"), 502},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s = %d, want %d: %s", c.name, c.method, c.path, resp.StatusCode, c.want, body)
			continue
		}
		path, _, _ := strings.Cut(c.path, "?")
		key, err := CheckResponse(c.method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		if err != nil {
			t.Errorf("%s: the response departs from the document: %v\n%s", c.name, err, body)
		}
		tmpl, _ := Match(path)
		covered[c.method+" "+tmpl+" "+key] = true
	}
	var missing []string
	for _, op := range Operations() {
		if !strings.HasPrefix(op.Path, "/v1/approvals") {
			continue
		}
		for _, st := range op.Statuses {
			if !covered[op.Method+" "+op.Path+" "+st] {
				missing = append(missing, fmt.Sprintf("%s %s %s", op.Method, op.Path, st))
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but never produced by the handlers:\n%s", strings.Join(missing, "\n"))
	}
}
