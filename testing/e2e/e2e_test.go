// Package e2e starts the local gateway in process (embedded BigQuery,
// SQLite, the Workflows runtime running the real YAML, the local
// de-identifier, the dev issuer, the SMTP sink) and drives it over HTTP as
// an agent would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
)

func startGateway(t *testing.T, dir string) *local.Gateway {
	t.Helper()
	g, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", DataDir: dir, Project: "querygate-local",
		BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	return g
}

func token(t *testing.T, g *local.Gateway, subject string, groups ...string) string {
	t.Helper()
	tok, err := g.DevIssuer.Mint(auth.MintOptions{Subject: subject, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	code int
	body map[string]any
	raw  []byte
}

func do(t *testing.T, method, url, tok string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{code: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func countSessions(t *testing.T, g *local.Gateway) int {
	t.Helper()
	res, err := g.Store.List(context.Background(), session.ListQuery{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Sessions)
}

func TestQueryEndToEndAndRestart(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir)
	alice := token(t, g, "alice@example.com", "analysts")
	r := do(t, "POST", g.URL+"/v1/queries", alice, []byte(`{"sql":"SELECT full_name FROM demo.customers LIMIT 3","prompt":"show me three customers","agent":{"name":"claude-code","model":"m"}}`))
	if r.code != http.StatusOK {
		t.Fatalf("POST /v1/queries = %d %s", r.code, r.raw)
	}
	if r.body["status"] != "succeeded" {
		t.Errorf("status = %v", r.body["status"])
	}
	rows, _ := r.body["rows"].([]any)
	if len(rows) != 3 {
		t.Fatalf("rows = %d, want 3: %s", len(rows), r.raw)
	}
	for _, row := range rows {
		m := row.(map[string]any)
		name, _ := m["full_name"].(string)
		if len(m) != 1 || name == "" {
			t.Errorf("row = %v, want one full_name column", m)
		}
	}
	schema, _ := r.body["schema"].([]any)
	if len(schema) != 1 || schema[0].(map[string]any)["name"] != "full_name" {
		t.Errorf("schema = %v", schema)
	}
	id, _ := r.body["session_id"].(string)
	s := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil)
	if s.code != http.StatusOK || s.body["prompt"] != "show me three customers" {
		t.Fatalf("GET session = %d %s", s.code, s.raw)
	}
	tl, _ := s.body["timeline"].([]any)
	var types []string
	for _, e := range tl {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	want := []string{"session.received", "policy.decided", "query.started", "query.finished", "result.masked", "session.completed"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("timeline = %v, want %v", types, want)
	}
	// Another principal cannot read it.
	bob := token(t, g, "bob@example.com", "analysts")
	if got := do(t, "GET", g.URL+"/v1/sessions/"+id, bob, nil); got.code != http.StatusNotFound {
		t.Errorf("bob reads alice's session: %d", got.code)
	}
	auditor := token(t, g, "auditor@example.com")
	if got := do(t, "GET", g.URL+"/v1/sessions/"+id, auditor, nil); got.code != http.StatusOK {
		t.Errorf("auditor reads session: %d", got.code)
	}

	if err := g.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	g2 := startGateway(t, dir)
	defer g2.Close()
	alice2 := token(t, g2, "alice@example.com", "analysts")
	s2 := do(t, "GET", g2.URL+"/v1/sessions/"+id, alice2, nil)
	if s2.code != http.StatusOK || s2.body["prompt"] != "show me three customers" || s2.body["status"] != "succeeded" {
		t.Fatalf("after restart GET session = %d %s", s2.code, s2.raw)
	}
	rows2, _ := s2.body["rows"].([]any)
	if len(rows2) != 3 {
		t.Errorf("after restart rows = %d", len(rows2))
	}
}

func TestBadInputCreatesNoSession(t *testing.T) {
	g := startGateway(t, t.TempDir())
	defer g.Close()
	alice := token(t, g, "alice@example.com", "analysts")
	expired, _ := g.DevIssuer.Mint(auth.MintOptions{Subject: "alice@example.com", TTL: -time.Minute})
	wrongAud, _ := g.DevIssuer.Mint(auth.MintOptions{Subject: "alice@example.com", Audience: "someone-else"})
	parts := strings.Split(alice, ".")
	tampered := parts[0] + "." + parts[1][:len(parts[1])-2] + "x" + parts[1][len(parts[1])-1:] + "." + parts[2]
	other, err := auth.LoadOrCreateDevIssuer(t.TempDir(), "http://127.0.0.1:1/dev/oidc")
	if err != nil {
		t.Fatal(err)
	}
	wrongIssuer, _ := other.Mint(auth.MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	sameIssuerOtherKey, _ := func() (string, error) {
		d, err := auth.LoadOrCreateDevIssuer(t.TempDir(), g.DevIssuer.Issuer)
		if err != nil {
			return "", err
		}
		return d.Mint(auth.MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	}()
	good := []byte(`{"sql":"SELECT 1"}`)
	for _, tc := range []struct {
		name     string
		tok      string
		body     []byte
		wantCode int
		wantMsg  string
	}{
		{"missing token", "", good, 401, "Bearer"},
		{"garbage token", "garbage", good, 401, "invalid"},
		{"tampered token", tampered, good, 401, "invalid"},
		{"expired token", expired, good, 401, "expired"},
		{"wrong audience", wrongAud, good, 401, "audience"},
		{"wrong issuer", wrongIssuer, good, 401, "invalid"},
		{"forged key", sameIssuerOtherKey, good, 401, "invalid"},
		{"truncated json", alice, []byte(`{"sql":"SEL`), 400, "truncated"},
		{"missing sql", alice, []byte(`{"prompt":"x"}`), 400, `"sql" is required`},
		{"wrong type", alice, []byte(`{"sql":["x"]}`), 400, `"sql" must be a string`},
		{"oversized", alice, []byte(`{"sql":"` + strings.Repeat("x", 2<<20) + `"}`), 413, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countSessions(t, g)
			r := do(t, "POST", g.URL+"/v1/queries", tc.tok, tc.body)
			msg, _ := r.body["error"].(string)
			if r.code != tc.wantCode || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %d %s, want %d containing %q", r.code, r.raw, tc.wantCode, tc.wantMsg)
			}
			if after := countSessions(t, g); after != before {
				t.Errorf("sessions %d -> %d: bad input created a session", before, after)
			}
		})
	}
	if r := do(t, "GET", g.URL+"/healthz", "", nil); r.code != 200 {
		t.Errorf("healthz after bad input = %d", r.code)
	}
}
