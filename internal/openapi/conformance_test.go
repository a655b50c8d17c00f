package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
)

// The fakes below let the real intake handlers produce every response the
// document lists; the SQL of a request picks the outcome the fake workflow
// records, as the real workflow would through the same store.

type verifier map[string]*session.Principal

func (v verifier) Verify(_ context.Context, tok string) (*session.Principal, error) {
	p, ok := v[tok]
	if !ok {
		return nil, auth.ErrUnauthenticated
	}
	c := *p
	return &c, nil
}

// groups fails for the subject "groups-down".
type groups struct{}

func (groups) GroupsOf(_ context.Context, p *session.Principal) ([]string, error) {
	if p.Subject == "groups-down" {
		return nil, errors.New("directory unavailable")
	}
	return p.Groups, nil
}

func (groups) Members(context.Context, string) ([]string, error) { return nil, nil }

// store fails the calls the test names.
type store struct {
	session.Store
}

func (s store) Create(ctx context.Context, x *session.Session) error {
	if x.SQL == "SELECT 'create fails'" {
		return errors.New("disk full")
	}
	return s.Store.Create(ctx, x)
}

func (s store) Get(ctx context.Context, id string) (*session.Session, error) {
	if id == "qs_get_fails" {
		return nil, errors.New("store down")
	}
	return s.Store.Get(ctx, id)
}

func (s store) List(ctx context.Context, q session.ListQuery) (*session.ListResult, error) {
	if q.ConversationID == "list-fails" {
		return nil, errors.New("store down")
	}
	return s.Store.List(ctx, q)
}

// workflow records the outcome its SQL names, synchronously.
type workflow struct {
	store session.Store
	now   time.Time
}

func (w *workflow) Start(ctx context.Context, args map[string]any) (string, error) {
	id := args["session_id"].(string)
	cur, err := w.store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if cur.SQL == "SELECT 'start fails'" {
		return "", errors.New("workflows unavailable")
	}
	var page *session.Page
	_, err = w.store.Update(ctx, id, func(x *session.Session) error {
		d := &session.Decision{Action: "allow", RuleIDs: []string{"analysts-read-only"}, Reasons: []string{"read-only"}, DecidedAt: w.now}
		x.Decision = d
		switch x.SQL {
		case "SELECT email FROM t":
			x.Status = session.StatusSucceeded
			x.Execution = &session.Execution{JobID: "job1", StartedAt: w.now, FinishedAt: w.now, BytesProcessed: 10, TotalRows: 2}
			x.Result = &session.Result{Schema: []session.Field{{Name: "email", Type: "STRING", Mode: "NULLABLE"}}, MaskedColumns: []string{"email"},
				TotalRows: 2, StoredRows: 2, Pages: 1}
			page = &session.Page{Index: 0, Rows: json.RawMessage(`[{"email":"[EMAIL_ADDRESS]"},{"email":"[EMAIL_ADDRESS]"}]`), Count: 2}
		case "SELECT 'page lost'":
			// Succeeded, but its stored page cannot be read back.
			x.Status = session.StatusSucceeded
			x.Execution = &session.Execution{JobID: "job2", StartedAt: w.now, FinishedAt: w.now, BytesProcessed: 10, TotalRows: 2}
			x.Result = &session.Result{Schema: []session.Field{{Name: "email", Type: "STRING", Mode: "NULLABLE"}}, MaskedColumns: []string{"email"},
				TotalRows: 2, StoredRows: 2, Pages: 1}
		case "SELECT * FROM pii":
			d.Action = "require_approval"
			d.ApproverGroup = "approvers"
			d.ApprovalTTL = session.Duration(15 * time.Minute)
			x.Status = session.StatusPendingApproval
			x.Approval = &session.Approval{Group: "approvers", Approvers: []string{"a1@example.com"}, RequestedAt: w.now, ExpiresAt: w.now.Add(15 * time.Minute)}
		case "DROP TABLE t":
			d.Action, d.RuleIDs, d.Reasons = "deny", []string{"deny-ddl"}, []string{"DDL is not allowed."}
			x.Status = session.StatusDenied
		case "SELECT broken":
			x.Status = session.StatusFailed
			x.Errors = append(x.Errors, session.ErrorEntry{Step: "execute", Message: "Unrecognized name: broken", Time: w.now})
		default:
			x.Decision = nil // still running
		}
		return nil
	})
	if err == nil && page != nil {
		err = w.store.PutPage(ctx, id, page)
	}
	return "exec/" + id, err
}

type reidentifier struct{ fail bool }

func (r reidentifier) Reidentify(_ context.Context, t *deid.Table) (*deid.Table, error) {
	if r.fail {
		return nil, errors.New("dlp unavailable")
	}
	out := &deid.Table{Headers: t.Headers}
	for range t.Rows {
		out.Rows = append(out.Rows, []deid.Value{"ann@example.com"})
	}
	return out, nil
}

type auditor struct{}

func (auditor) WriteSession(context.Context, *session.Session) error { return nil }

// apiServer is one intake configuration mounted as the gateway mounts it.
func apiServer(t *testing.T, st session.Store, re intake.ReidentifyConfig) *httptest.Server {
	t.Helper()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	users := verifier{
		"alice":   {Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts", "reidentifiers"}},
		"bob":     {Issuer: "https://issuer.example", Subject: "bob", Email: "bob@example.com", Groups: []string{"analysts"}},
		"nogroup": {Issuer: "https://issuer.example", Subject: "groups-down", Email: "down@example.com"},
	}
	in := &intake.Server{Verifier: users, Groups: groups{}, Store: st, Orchestrator: &workflow{store: st, now: now},
		AuditorsGroup: "auditors", PublicURL: "https://querygate.example", Now: func() time.Time { return now }}
	mux := http.NewServeMux()
	in.Register(mux)
	in.RegisterReidentify(mux, re)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	name, method, path, token string
	body                      []byte
	want                      int
}

func TestResponsesMatchDocument(t *testing.T) {
	dir := t.TempDir()
	sq, err := session.OpenSQLite(filepath.Join(dir, "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := store{sq}
	api := apiServer(t, st, intake.ReidentifyConfig{Reidentifier: reidentifier{}, Audit: auditor{}, Group: "reidentifiers"})
	broken := apiServer(t, st, intake.ReidentifyConfig{Reidentifier: reidentifier{fail: true}, Audit: auditor{}, Group: "reidentifiers"})
	unconfigured := apiServer(t, st, intake.ReidentifyConfig{Group: "reidentifiers"})

	covered := map[string]bool{}
	run := func(t *testing.T, base string, c call) map[string]any {
		t.Helper()
		req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.want {
			t.Fatalf("%s: %s %s = %d, want %d: %s", c.name, c.method, c.path, resp.StatusCode, c.want, body)
		}
		path := c.path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		key, err := CheckResponse(c.method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		if err != nil {
			t.Errorf("%s: the response departs from the document: %v\n%s", c.name, err, body)
		}
		tmpl, _ := Match(path)
		covered[c.method+" "+tmpl+" "+key] = true
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return m
	}
	q := func(sql string, wait int) []byte {
		b, _ := json.Marshal(map[string]any{"sql": sql, "wait_seconds": wait})
		return b
	}
	// Sessions the reads below need.
	ok := run(t, api.URL, call{"succeeded", "POST", "/v1/queries", "alice", q("SELECT email FROM t", 5), 200})
	okID := ok["session_id"].(string)
	pending := run(t, api.URL, call{"pending", "POST", "/v1/queries", "alice", q("SELECT * FROM pii", 5), 202})
	pendingID := pending["session_id"].(string)
	if pending["status"] != "pending_approval" || pending["approvers"] == nil || pending["expires_at"] == nil {
		t.Errorf("pending response lacks approvers or expiry: %v", pending)
	}
	denied := run(t, api.URL, call{"denied", "POST", "/v1/queries", "alice", q("DROP TABLE t", 5), 403})
	failed := run(t, api.URL, call{"failed", "POST", "/v1/queries", "alice", q("SELECT broken", 5), 422})

	calls := []struct {
		base string
		c    call
	}{
		{api.URL, call{"running", "POST", "/v1/queries", "alice", q("SELECT 1", 0), 202}},
		{api.URL, call{"bad json", "POST", "/v1/queries", "alice", []byte(`{"sql":`), 400}},
		{api.URL, call{"unknown field", "POST", "/v1/queries", "alice", []byte(`{"sql":"SELECT 1","bogus":1}`), 400}},
		{api.URL, call{"no token", "POST", "/v1/queries", "", q("SELECT 1", 0), 401}},
		{api.URL, call{"bad token", "POST", "/v1/queries", "mallory", q("SELECT 1", 0), 401}},
		{api.URL, call{"too large", "POST", "/v1/queries", "alice", bytes.Repeat([]byte(" "), intake.MaxBodyBytes+1), 413}},
		{api.URL, call{"store down", "POST", "/v1/queries", "alice", q("SELECT 'create fails'", 0), 503}},
		{api.URL, call{"result unreadable", "POST", "/v1/queries", "alice", q("SELECT 'page lost'", 0), 500}},
		{api.URL, call{"workflow down", "POST", "/v1/queries", "alice", q("SELECT 'start fails'", 0), 503}},
		{api.URL, call{"groups down", "POST", "/v1/queries", "nogroup", q("SELECT 1", 0), 503}},

		{api.URL, call{"list", "GET", "/v1/sessions", "alice", nil, 200}},
		{api.URL, call{"list page size", "GET", "/v1/sessions?page_size=0", "alice", nil, 400}},
		{api.URL, call{"list no token", "GET", "/v1/sessions", "", nil, 401}},
		{api.URL, call{"list store down", "GET", "/v1/sessions?conversation_id=list-fails", "alice", nil, 500}},
		{api.URL, call{"list groups down", "GET", "/v1/sessions", "nogroup", nil, 503}},

		{api.URL, call{"get succeeded", "GET", "/v1/sessions/" + okID, "alice", nil, 200}},
		{api.URL, call{"get pending", "GET", "/v1/sessions/" + pendingID, "alice", nil, 200}},
		{api.URL, call{"get denied", "GET", "/v1/sessions/" + denied["session_id"].(string), "alice", nil, 200}},
		{api.URL, call{"get failed", "GET", "/v1/sessions/" + failed["session_id"].(string), "alice", nil, 200}},
		{api.URL, call{"get bad wait", "GET", "/v1/sessions/" + pendingID + "?wait_seconds=soon", "alice", nil, 400}},
		{api.URL, call{"get no token", "GET", "/v1/sessions/" + okID, "", nil, 401}},
		{api.URL, call{"get other's", "GET", "/v1/sessions/" + okID, "bob", nil, 404}},
		{api.URL, call{"get store down", "GET", "/v1/sessions/qs_get_fails", "alice", nil, 500}},
		{api.URL, call{"get groups down", "GET", "/v1/sessions/" + okID, "nogroup", nil, 503}},

		{api.URL, call{"reidentify", "POST", "/v1/sessions/" + okID + "/reidentify", "alice", nil, 200}},
		{api.URL, call{"reidentify bad page", "POST", "/v1/sessions/" + okID + "/reidentify?page_token=9", "alice", nil, 400}},
		{api.URL, call{"reidentify no token", "POST", "/v1/sessions/" + okID + "/reidentify", "", nil, 401}},
		{api.URL, call{"reidentify not member", "POST", "/v1/sessions/" + pendingID + "/reidentify", "bob", nil, 404}},
		{api.URL, call{"reidentify pending", "POST", "/v1/sessions/" + pendingID + "/reidentify", "alice", nil, 409}},
		{broken.URL, call{"reidentify fails", "POST", "/v1/sessions/" + okID + "/reidentify", "alice", nil, 500}},
		{unconfigured.URL, call{"reidentify unconfigured", "POST", "/v1/sessions/" + okID + "/reidentify", "alice", nil, 503}},
	}
	for _, x := range calls {
		run(t, x.base, x.c)
	}
	// bob is an analyst without the re-identification group, reading his
	// own session.
	bobs := run(t, api.URL, call{"bob succeeded", "POST", "/v1/queries", "bob", q("SELECT email FROM t", 5), 200})
	run(t, api.URL, call{"reidentify forbidden", "POST", "/v1/sessions/" + bobs["session_id"].(string) + "/reidentify", "bob", nil, 403})

	// Every documented response of these operations was produced.
	var missing []string
	for _, op := range Operations() {
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue // the approval pages and metadata: testing/e2e
		}
		if strings.HasPrefix(op.Path, "/v1/approvals") {
			continue // TestApprovalResponsesMatchDocument
		}
		for _, st := range op.Statuses {
			if st == "429" {
				continue // TestLimitResponsesMatchDocument
			}
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
