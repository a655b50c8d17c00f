package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/openapi"
)

// bearer adds an Authorization header to every request, as an MCP host
// configured with a token header does.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// progressLog collects the progress notifications a client receives.
type progressLog struct {
	mu   sync.Mutex
	msgs []string
}

func (p *progressLog) add(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, req.Params.Message)
}

func (p *progressLog) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

func connectMCP(t *testing.T, g *local.Gateway, tok string, progress *progressLog) *sdk.ClientSession {
	t.Helper()
	opts := &sdk.ClientOptions{}
	if progress != nil {
		opts.ProgressNotificationHandler = progress.add
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "e2e-agent", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: g.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{token: tok, base: http.DefaultTransport}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callTool calls a tool and decodes its structured content.
func callTool(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, progressToken string) (*sdk.CallToolResult, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	params := &sdk.CallToolParams{Name: name, Arguments: args}
	if progressToken != "" {
		params.SetProgressToken(progressToken)
	}
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: structured content: %v", name, err)
		}
	}
	return res, out
}

func resultText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// TestMCPAcceptance is issue 14's MCP acceptance: the go-sdk client
// connects with a dev token, lists the tools, gets masked rows, gets a
// pending result with a session id for SELECT * on demo.customers, and
// gets a tool error for DROP TABLE; without a token /mcp answers 401 with
// a WWW-Authenticate header naming the resource metadata.
func TestMCPAcceptance(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	metaURL := g.URL + "/.well-known/oauth-protected-resource/mcp"

	t.Run("no token", func(t *testing.T) {
		resp, err := http.Post(g.URL+"/mcp", "application/json",
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("POST /mcp without a token = %d, want 401", resp.StatusCode)
		}
		if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+metaURL+`"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		bad := do(t, "POST", g.URL+"/mcp", "not-a-token", []byte(`{}`))
		if bad.code != http.StatusUnauthorized || strings.Contains(string(bad.raw), "malformed") {
			t.Errorf("POST /mcp with a bad token = %d %s, want 401 without the verifier's reason", bad.code, bad.raw)
		}
	})

	t.Run("resource metadata", func(t *testing.T) {
		for path, resource := range map[string]string{
			"/.well-known/oauth-protected-resource/mcp": g.URL + "/mcp",
			"/.well-known/oauth-protected-resource":     g.URL,
		} {
			resp, err := http.Get(g.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if _, err := openapi.CheckResponse("GET", path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
				t.Errorf("GET %s: %v", path, err)
			}
			var m struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
				BearerMethods        []string `json:"bearer_methods_supported"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, raw)
			}
			if m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{g.DevIssuer.Issuer}) || !slices.Equal(m.BearerMethods, []string{"header"}) {
				t.Errorf("GET %s = %+v, want resource %s, the dev issuer %s and header bearer", path, m, resource, g.DevIssuer.Issuer)
			}
		}
	})

	progress := &progressLog{}
	alice := token(t, g, "alice@example.com", "analysts")
	cs := connectMCP(t, g, alice, progress)

	t.Run("tools", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range res.Tools {
			names = append(names, tl.Name)
			if tl.Annotations == nil || !tl.Annotations.ReadOnlyHint || tl.Annotations.DestructiveHint == nil || *tl.Annotations.DestructiveHint ||
				tl.Annotations.OpenWorldHint == nil {
				t.Errorf("%s: annotations %+v, want read-only, not destructive, open-world stated", tl.Name, tl.Annotations)
			}
			if tl.OutputSchema == nil {
				t.Errorf("%s has no outputSchema", tl.Name)
			}
		}
		slices.Sort(names)
		if want := []string{"describe_table", "explain_policy", "get_session", "list_datasets", "run_query"}; !slices.Equal(names, want) {
			t.Errorf("tools = %v, want %v", names, want)
		}
	})

	t.Run("masked rows", func(t *testing.T) {
		res, out := callTool(t, cs, "run_query", map[string]any{"sql": "SELECT customer_id, email FROM demo.customers ORDER BY customer_id LIMIT 3",
			"prompt": "three customers' emails", "wait": 120}, "")
		if res.IsError || out["status"] != "succeeded" {
			t.Fatalf("run_query = error %v, %v: %s", res.IsError, out, resultText(res))
		}
		rows, _ := out["rows"].([]any)
		if len(rows) != 3 {
			t.Fatalf("rows = %v, want 3", out["rows"])
		}
		for _, r := range rows {
			if email := r.(map[string]any)["email"]; email != "[EMAIL_ADDRESS]" {
				t.Errorf("email = %v, want [EMAIL_ADDRESS]", email)
			}
		}
		if got := stringsOf(out["masked_columns"]); !slices.Equal(got, []string{"email"}) {
			t.Errorf("masked_columns = %v, want [email]", got)
		}
		// The session is a querygate session like any other.
		r := do(t, "GET", g.URL+"/v1/sessions/"+out["session_id"].(string), alice, nil)
		if r.code != http.StatusOK || r.body["prompt"] != "three customers' emails" || r.body["agent"].(map[string]any)["name"] != "mcp:e2e-agent" {
			t.Errorf("GET session = %d %s", r.code, r.raw)
		}
	})

	t.Run("pending", func(t *testing.T) {
		res, out := callTool(t, cs, "run_query", map[string]any{"sql": "SELECT * FROM demo.customers LIMIT 5", "prompt": "everything", "wait": 5}, "p-pending")
		id, _ := out["session_id"].(string)
		if res.IsError || !strings.HasPrefix(id, "qs_") {
			t.Fatalf("run_query = error %v %v: %s", res.IsError, out, resultText(res))
		}
		deadline := time.Now().Add(3 * time.Minute)
		for out["status"] == "running" && time.Now().Before(deadline) {
			res, out = callTool(t, cs, "get_session", map[string]any{"id": id, "wait": 5}, "p-get")
		}
		if res.IsError || out["status"] != "pending_approval" {
			t.Fatalf("status = %v (error %v), want pending_approval: %s", out["status"], res.IsError, resultText(res))
		}
		if got := stringsOf(out["approvers"]); !slices.Equal(got, []string{"approver1@example.com", "approver2@example.com"}) {
			t.Errorf("approvers = %v", got)
		}
		if _, err := time.Parse(time.RFC3339, out["expires_at"].(string)); err != nil {
			t.Errorf("expires_at = %v: %v", out["expires_at"], err)
		}
		next, _ := out["next_step"].(string)
		if !strings.Contains(next, "get_session") || !strings.Contains(next, id) {
			t.Errorf("next_step = %q, want get_session with %s", next, id)
		}
		if !slices.ContainsFunc(progress.all(), func(m string) bool {
			return strings.Contains(m, id) && strings.Contains(m, "waiting for approval")
		}) {
			t.Errorf("no progress notification about the approval wait of %s among %q", id, progress.all())
		}
		// Another principal cannot read it through MCP either.
		bob := connectMCP(t, g, token(t, g, "bob@example.com", "analysts"), nil)
		if res, _ := callTool(t, bob, "get_session", map[string]any{"id": id}, ""); !res.IsError {
			t.Errorf("bob reads alice's session: %s", resultText(res))
		}
	})

	t.Run("drop table", func(t *testing.T) {
		res, out := callTool(t, cs, "run_query", map[string]any{"sql": "DROP TABLE demo.customers", "wait": 120}, "")
		if !res.IsError || out["status"] != "denied" {
			t.Fatalf("run_query DROP TABLE = error %v %v, want a denied tool error", res.IsError, out)
		}
		if rules := stringsOf(out["rule_ids"]); !slices.Contains(rules, "deny-ddl") {
			t.Errorf("rule_ids = %v, want deny-ddl", rules)
		}
		if txt := resultText(res); !strings.Contains(txt, "not allowed") {
			t.Errorf("text = %q, want the policy's reason", txt)
		}
	})

	t.Run("explain policy", func(t *testing.T) {
		for sql, want := range map[string]string{
			"SELECT customer_id FROM demo.customers LIMIT 1": "allow",
			"SELECT * FROM demo.customers":                   "require_approval",
			"DROP TABLE demo.customers":                      "deny",
		} {
			res, out := callTool(t, cs, "explain_policy", map[string]any{"sql": sql}, "")
			if res.IsError || out["action"] != want {
				t.Errorf("explain_policy(%q) = error %v %v, want %s", sql, res.IsError, out, want)
			}
		}
	})

	t.Run("describe table", func(t *testing.T) {
		res, out := callTool(t, cs, "describe_table", map[string]any{"table": "demo.customers"}, "")
		if res.IsError {
			t.Fatalf("describe_table: %s", resultText(res))
		}
		masked := map[string]bool{}
		for _, c := range out["columns"].([]any) {
			m := c.(map[string]any)
			masked[m["name"].(string)] = m["masked"].(bool)
		}
		for col, want := range map[string]bool{"email": true, "ssn": true, "full_name": true, "customer_id": false} {
			if got, ok := masked[col]; !ok || got != want {
				t.Errorf("column %s masked = %v (present %v), want %v", col, got, ok, want)
			}
		}
		if res, _ := callTool(t, cs, "describe_table", map[string]any{"table": "demo.customers; DROP"}, ""); !res.IsError {
			t.Errorf("describe_table accepted a name with SQL in it")
		}
	})

	t.Run("list datasets", func(t *testing.T) {
		res, out := callTool(t, cs, "list_datasets", map[string]any{}, "")
		if res.IsError {
			t.Fatalf("list_datasets: %s", resultText(res))
		}
		var names []string
		var tables []string
		for _, d := range out["datasets"].([]any) {
			m := d.(map[string]any)
			names = append(names, m["dataset"].(string))
			if m["dataset"] == "demo" {
				tables = stringsOf(m["tables"])
			}
		}
		if !slices.Contains(names, "demo") || slices.Contains(names, local.AuditDataset) {
			t.Errorf("datasets = %v, want demo and not %s", names, local.AuditDataset)
		}
		if !slices.Contains(tables, "customers") {
			t.Errorf("demo tables = %v, want customers", tables)
		}
	})

	t.Run("caller without a grant", func(t *testing.T) {
		eve := connectMCP(t, g, token(t, g, "eve@example.com"), nil)
		if res, _ := callTool(t, eve, "describe_table", map[string]any{"table": "demo.customers"}, ""); !res.IsError {
			t.Errorf("describe_table for a caller no rule grants: %s", resultText(res))
		}
		if res, _ := callTool(t, eve, "list_datasets", map[string]any{}, ""); !res.IsError {
			t.Errorf("list_datasets for a caller no rule grants: %s", resultText(res))
		}
	})
}
