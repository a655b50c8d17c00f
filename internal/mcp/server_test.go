package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

type verifier map[string]*session.Principal

func (v verifier) Verify(_ context.Context, tok string) (*session.Principal, error) {
	p, ok := v[tok]
	if !ok {
		return nil, errors.New("signature invalid: kid abc unknown")
	}
	c := *p
	return &c, nil
}

type groups struct{}

func (groups) GroupsOf(_ context.Context, p *session.Principal) ([]string, error) {
	if p.Subject == "groups-down" {
		return nil, errors.New("directory unavailable")
	}
	return p.Groups, nil
}

func (groups) Members(context.Context, string) ([]string, error) { return nil, nil }

var _ auth.Groups = groups{}

// workflow records what the SQL names, as the real workflow would.
type workflow struct{ store session.Store }

func (w workflow) Start(ctx context.Context, args map[string]any) (string, error) {
	id := args["session_id"].(string)
	_, err := w.store.Update(ctx, id, func(x *session.Session) error {
		switch x.SQL {
		case "SELECT * FROM pii":
			x.Status = session.StatusPendingApproval
			x.Decision = &session.Decision{Action: "require_approval", RuleIDs: []string{"star-over-sensitive"},
				Reasons: []string{"The query selects * over a table with sensitive columns."}, ApproverGroup: "approvers"}
			x.Approval = &session.Approval{Group: "approvers", Approvers: []string{"a1@example.com"},
				RequestedAt: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 12, 2, 12, 15, 0, 0, time.UTC)}
		case "DROP TABLE t":
			x.Status = session.StatusDenied
			x.Decision = &session.Decision{Action: "deny", RuleIDs: []string{"deny-ddl"}, Reasons: []string{"DDL is not allowed."}}
		case "SELECT ssn FROM t":
			if x.Justification == "" {
				x.Status = session.StatusDenied
				x.Decision = &session.Decision{Action: "deny", RuleIDs: []string{"ssn-held", "builtin.justification_required"},
					Reasons: []string{"held", "Rule ssn-held holds this query for approval and requires a justification."},
					Justify: session.Justify{MissingJustification: true}}
			}
		case "SELECT broken":
			x.Status = session.StatusFailed
			x.Errors = append(x.Errors, session.ErrorEntry{Step: "execute", Message: "Unrecognized name: broken"})
		}
		return nil
	})
	return "exec", err
}

// policy decides by SQL text; it records what it was asked.
type fakePolicy struct {
	mu    sync.Mutex
	asked []string
}

func (p *fakePolicy) Evaluate(_ context.Context, s *session.Session) (*session.Decision, error) {
	p.mu.Lock()
	p.asked = append(p.asked, s.SQL)
	p.mu.Unlock()
	if !slices.Contains(s.Principal.Groups, "analysts") {
		return &session.Decision{Action: "deny", RuleIDs: []string{"builtin.no_grant"}, Reasons: []string{"No allow rule matches."}}, nil
	}
	switch s.SQL {
	case "SELECT * FROM `p1.demo.customers`":
		return &session.Decision{Action: "require_approval", RuleIDs: []string{"star-over-sensitive"},
			ColumnInfoTypes: map[string][]string{"Email": {"EMAIL_ADDRESS"}}, MaskedColumns: []string{"Email"}}, nil
	case "SELECT * FROM `p1.demo.events`":
		return &session.Decision{Action: "allow", ColumnInfoTypes: map[string][]string{"*": {"PERSON_NAME"}}}, nil
	case "SELECT ssn FROM t":
		return &session.Decision{Action: "deny", RuleIDs: []string{"ssn-held", "builtin.justification_required"},
			Reasons: []string{"held", "Rule ssn-held holds this query for approval and requires a justification."},
			Justify: session.Justify{MissingJustification: true}}, nil
	case "SELECT * FROM `p1.secret.keys`", "DROP TABLE t":
		return &session.Decision{Action: "deny", RuleIDs: []string{"deny-ddl"}, Reasons: []string{"Not allowed."}}, nil
	}
	return &session.Decision{Action: "allow", RuleIDs: []string{"analysts-read-only"}, Reasons: []string{"Read-only query."},
		MaskedColumns: []string{"email"}}, nil
}

type tables map[string]*sqlscan.TableMeta

func (t tables) Table(_ context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	if m, ok := t[ref.String()]; ok {
		return m, nil
	}
	return nil, sqlscan.ErrTableNotFound
}

type datasets struct{}

func (datasets) ListDatasets(_ context.Context, project string) ([]Dataset, error) {
	return []Dataset{{Project: project, Dataset: "demo", Tables: []string{"customers"}}, {Project: project, Dataset: "audit"}}, nil
}

type fixture struct {
	srv    *httptest.Server
	store  session.Store
	policy *fakePolicy
	intake *intake.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := &intake.Server{Verifier: verifier{
		"alice": {Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts"}},
		"bob":   {Issuer: "https://issuer.example", Subject: "bob", Email: "bob@example.com", Groups: []string{"analysts"}},
		"eve":   {Issuer: "https://issuer.example", Subject: "eve", Email: "eve@example.com"},
		"down":  {Issuer: "https://issuer.example", Subject: "groups-down"},
	}, Groups: groups{}, Store: st, Orchestrator: workflow{st}, PublicURL: "https://qg.example"}
	pol := &fakePolicy{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	m, err := New(Config{Intake: in, Policy: pol, Datasets: datasets{}, Projects: []string{"p1"}, HiddenDatasets: []string{"audit"},
		Tables: tables{"p1.demo.customers": {Type: "TABLE", Columns: []sqlscan.Column{{Name: "id", Type: "INT64"}, {Name: "email", Type: "STRING"}}},
			"p1.demo.events": {Type: "TABLE", Columns: []sqlscan.Column{{Name: "who", Type: "STRING"}}}},
		Issuers: []string{"https://accounts.google.com", "accounts.google.com", "https://issuer.example"}, PublicURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(mux)
	return &fixture{srv: srv, store: st, policy: pol, intake: in}
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func (f *fixture) connect(t *testing.T, tok string, progress func(string)) *sdk.ClientSession {
	t.Helper()
	opts := &sdk.ClientOptions{}
	if progress != nil {
		opts.ProgressNotificationHandler = func(_ context.Context, r *sdk.ProgressNotificationClientRequest) { progress(r.Params.Message) }
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "unit", Version: "1"}, opts).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: f.srv.URL + Path, HTTPClient: &http.Client{Transport: bearer(tok)}, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, map[string]any) {
	t.Helper()
	p := &sdk.CallToolParams{Name: name, Arguments: args}
	p.SetProgressToken("tok")
	res, err := cs.CallTool(context.Background(), p)
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &out)
	}
	return res, out
}

func text(res *sdk.CallToolResult) string {
	var s []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			s = append(s, tc.Text)
		}
	}
	return strings.Join(s, "\n")
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"bad token", "Bearer forged", http.StatusUnauthorized},
		{"groups unavailable", "Bearer down", http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+Path, strings.NewReader(`{}`))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if strings.Contains(string(body), "kid") || strings.Contains(string(body), "directory") {
				t.Errorf("body leaks the verifier's or directory's reason: %s", body)
			}
			if tc.want == http.StatusUnauthorized {
				want := `Bearer resource_metadata="` + f.srv.URL + `/.well-known/oauth-protected-resource/mcp"`
				if got := resp.Header.Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for path, resource := range map[string]string{MetadataPath: f.srv.URL, MetadataPath + Path: f.srv.URL + Path} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"resource": resource, "authorization_servers": []any{"https://accounts.google.com", "https://issuer.example"},
			"bearer_methods_supported": []any{"header"}, "resource_name": "querygate", "resource_documentation": f.srv.URL + "/openapi.json"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s (-want, +got):\n%s", path, diff)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	err := (&Config{PublicURL: "ftp://x"}).Validate()
	for _, want := range []string{"Intake", "Policy", "Tables", "Datasets", "Projects", "Issuers", "PublicURL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

func TestRunQueryOutcomes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := f.connect(t, "alice", nil)
	cases := []struct {
		sql       string
		wantErr   bool
		status    string
		wantInTxt string
	}{
		{"DROP TABLE t", true, "denied", "DDL is not allowed."},
		{"SELECT broken", true, "failed", "Unrecognized name: broken"},
		{"SELECT 1", false, "running", "still running"},
	}
	for _, tc := range cases {
		t.Run(tc.sql, func(t *testing.T) {
			res, out := call(t, cs, "run_query", map[string]any{"sql": tc.sql, "wait": 0})
			if res.IsError != tc.wantErr || out["status"] != tc.status || !strings.Contains(text(res), tc.wantInTxt) {
				t.Errorf("run_query(%q) = error %v status %v %q; want error %v status %s containing %q",
					tc.sql, res.IsError, out["status"], text(res), tc.wantErr, tc.status, tc.wantInTxt)
			}
			if next, _ := out["next_step"].(string); next == "" {
				t.Errorf("no next_step: %v", out)
			}
		})
	}
	t.Run("invalid sql", func(t *testing.T) {
		res, out := call(t, cs, "run_query", map[string]any{"sql": "SELECT 1 /* \u202e */"})
		if !res.IsError || out != nil || !strings.Contains(text(res), "U+202E") {
			t.Errorf("run_query with a bidi control = error %v %v %q, want a tool error naming it", res.IsError, out, text(res))
		}
	})
	t.Run("wait out of range", func(t *testing.T) {
		res, _ := call(t, cs, "run_query", map[string]any{"sql": "SELECT 1", "wait": 301})
		if !res.IsError {
			t.Errorf("wait 301 accepted: %s", text(res))
		}
	})
}

// TestApprovalWait: run_query reports the approval wait as progress and
// returns the rows once the session succeeds, without any sleep: the test
// moves the session on when it sees it pending.
func TestApprovalWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var msgs []string
	cs := f.connect(t, "alice", func(m string) { mu.Lock(); msgs = append(msgs, m); mu.Unlock() })

	type result struct {
		res *sdk.CallToolResult
		out map[string]any
	}
	done := make(chan result, 1)
	go func() {
		p := &sdk.CallToolParams{Name: "run_query", Arguments: map[string]any{"sql": "SELECT * FROM pii", "wait": 300}}
		p.SetProgressToken("wait")
		res, err := cs.CallTool(context.Background(), p)
		if err != nil {
			res = &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: err.Error()}}}
		}
		var out map[string]any
		if res.StructuredContent != nil {
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &out)
		}
		done <- result{res, out}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var id string
	for id == "" {
		l, err := f.store.List(ctx, session.ListQuery{PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Sessions {
			if s.Status == session.StatusPendingApproval {
				id = s.ID
			}
		}
		if id == "" {
			if ctx.Err() != nil {
				t.Fatal("no pending session")
			}
			time.Sleep(10 * time.Millisecond) // polling a store, not measuring time
		}
	}
	// Wait until the tool reported the wait, then approve.
	for {
		mu.Lock()
		seen := slices.ContainsFunc(msgs, func(m string) bool {
			return strings.Contains(m, id) && strings.Contains(m, "waiting for approval by a1@example.com")
		})
		mu.Unlock()
		if seen {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no progress notification for %s: %q", id, msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.store.PutPage(ctx, id, &session.Page{Index: 0, Rows: json.RawMessage(`[{"email":"[EMAIL_ADDRESS]","n":12345678901234567}]`), Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Update(ctx, id, func(x *session.Session) error {
		x.Status = session.StatusSucceeded
		x.Result = &session.Result{Schema: []session.Field{{Name: "email", Type: "STRING"}, {Name: "n", Type: "INT64"}}, MaskedColumns: []string{"email"}, TotalRows: 1, StoredRows: 1, Pages: 1}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.res.IsError || r.out["status"] != "succeeded" {
		t.Fatalf("run_query = error %v %v: %s", r.res.IsError, r.out, text(r.res))
	}
	want := []any{map[string]any{"email": "[EMAIL_ADDRESS]", "n": float64(12345678901234567)}}
	if diff := cmp.Diff(want, r.out["rows"]); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	// The large integer crossed as the exact JSON number the store holds.
	if !strings.Contains(text(r.res), "12345678901234567") {
		t.Errorf("text lost the integer's digits: %s", text(r.res))
	}

	// get_session: the owner pages, others see nothing.
	res, out := call(t, cs, "get_session", map[string]any{"id": id, "page": 1})
	if !res.IsError || out != nil {
		t.Errorf("page 1 of a one-page result = %v %q, want a tool error", out, text(res))
	}
	bob := f.connect(t, "bob", nil)
	if res, _ := call(t, bob, "get_session", map[string]any{"id": id}); !res.IsError || !strings.Contains(text(res), "No session") {
		t.Errorf("bob reads alice's session: %q", text(res))
	}
}

func TestPendingResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := f.connect(t, "alice", nil)
	res, out := call(t, cs, "run_query", map[string]any{"sql": "SELECT * FROM pii", "wait": 0})
	if res.IsError || out["status"] != "pending_approval" {
		t.Fatalf("run_query = error %v %v", res.IsError, out)
	}
	id := out["session_id"].(string)
	want := map[string]any{"approvers": []any{"a1@example.com"}, "approver_group": "approvers", "expires_at": "2026-12-02T12:15:00Z"}
	got := map[string]any{"approvers": out["approvers"], "approver_group": out["approver_group"], "expires_at": out["expires_at"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pending result (-want, +got):\n%s", diff)
	}
	if next := out["next_step"].(string); !strings.Contains(next, `call get_session with {"id": "`+id+`", "wait": 60}`) {
		t.Errorf("next_step = %q", next)
	}
}

func TestCatalogTools(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := f.connect(t, "alice", nil)

	res, out := call(t, cs, "describe_table", map[string]any{"table": "demo.customers"})
	if res.IsError {
		t.Fatalf("describe_table: %s", text(res))
	}
	wantCols := []any{
		map[string]any{"name": "id", "type": "INT64", "masked": false},
		map[string]any{"name": "email", "type": "STRING", "masked": true, "info_types": []any{"EMAIL_ADDRESS"}},
	}
	if diff := cmp.Diff(wantCols, out["columns"]); diff != "" {
		t.Errorf("columns (-want, +got):\n%s", diff)
	}
	if out["select_star"] != "require_approval" {
		t.Errorf("select_star = %v", out["select_star"])
	}
	// The parser-fallback key "*" masks every column.
	_, out = call(t, cs, "describe_table", map[string]any{"table": "p1.demo.events"})
	if cols := out["columns"].([]any); cols[0].(map[string]any)["masked"] != true {
		t.Errorf("events columns = %v, want all masked", cols)
	}
	for _, tc := range []struct{ table, want string }{
		{"secret.keys", "You may not read"},
		{"demo.nope", "does not exist"},
		{"demo.customers`; DROP TABLE x; --", "only letters"},
		{"customers", "dataset.table"},
	} {
		if res, _ := call(t, cs, "describe_table", map[string]any{"table": tc.table}); !res.IsError || !strings.Contains(text(res), tc.want) {
			t.Errorf("describe_table(%q) = %q, want a tool error containing %q", tc.table, text(res), tc.want)
		}
	}
	f.policy.mu.Lock()
	for _, q := range f.policy.asked {
		if strings.Contains(q, "DROP") {
			t.Errorf("an unsafe name reached the policy: %q", q)
		}
	}
	f.policy.mu.Unlock()

	res, out = call(t, cs, "list_datasets", map[string]any{})
	if res.IsError {
		t.Fatalf("list_datasets: %s", text(res))
	}
	if diff := cmp.Diff([]any{map[string]any{"project": "p1", "dataset": "demo", "tables": []any{"customers"}}}, out["datasets"]); diff != "" {
		t.Errorf("datasets (-want, +got):\n%s", diff)
	}

	for sql, want := range map[string]string{"SELECT email FROM demo.customers": "would run", "DROP TABLE t": "would be denied",
		"SELECT * FROM `p1.demo.customers`": "would need approval"} {
		res, out := call(t, cs, "explain_policy", map[string]any{"sql": sql})
		if res.IsError || out["outcome"] != want {
			t.Errorf("explain_policy(%q) = error %v %v, want %s", sql, res.IsError, out, want)
		}
	}
	n, _ := f.store.List(context.Background(), session.ListQuery{PageSize: 10})
	if len(n.Sessions) != 0 {
		t.Errorf("catalog tools recorded %d sessions, want none", len(n.Sessions))
	}

	eve := f.connect(t, "eve", nil)
	for tool, args := range map[string]map[string]any{"list_datasets": {}, "describe_table": {"table": "demo.customers"}} {
		if res, _ := call(t, eve, tool, args); !res.IsError || !strings.Contains(text(res), "No allow rule") {
			t.Errorf("%s for a caller no rule grants = %q, want the policy's reason", tool, text(res))
		}
	}
}
