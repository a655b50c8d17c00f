package openapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// TestLimitResponsesMatchDocument produces the responses that only a
// policy with limits gives: the 429 of POST /v1/queries and the limits
// member of GET /v1/sessions (TestResponsesMatchDocument runs without
// limits and leaves the 429 to this test).
func TestLimitResponsesMatchDocument(t *testing.T) {
	sq, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	pol, err := policy.Load([]byte("version: 1\ndefaults:\n  limits:\n    requests_per_minute: 1\n    bytes_per_day: 1GB\n    concurrent_sessions: 5\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	enf, err := limits.New(limits.Config{Policy: pol, Counters: sq, Sessions: sq, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	users := verifier{"alice": {Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts"}}}
	in := &intake.Server{Verifier: users, Groups: groups{}, Store: sq, Orchestrator: &workflow{store: sq, now: now},
		PublicURL: "https://querygate.example", Now: clock, Limits: enf}
	mux := http.NewServeMux()
	in.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	send := func(method, path string, body []byte, want int) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
		}
		if _, err := CheckResponse(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
			t.Errorf("%s %s %d departs from the document: %v\n%s", method, path, want, err, raw)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp, m
	}
	q := []byte(`{"sql":"SELECT 1","wait_seconds":0}`)
	send("POST", "/v1/queries", q, http.StatusAccepted)
	resp, body := send("POST", "/v1/queries", q, http.StatusTooManyRequests)
	if ra := resp.Header.Get("Retry-After"); ra != "30" || body["retry_after_seconds"] != float64(30) {
		t.Errorf("Retry-After = %q, body %v; want 30 seconds", ra, body)
	}
	_, list := send("GET", "/v1/sessions", nil, http.StatusOK)
	lim, _ := list["limits"].(map[string]any)
	for name, used := range map[string]float64{"requests_per_minute": 1, "bytes_per_day": 0, "concurrent_sessions": 1} {
		c, _ := lim[name].(map[string]any)
		if c["used"] != used || c["source"] != "defaults" {
			t.Errorf("limits.%s = %v, want used %v from defaults", name, c, used)
		}
	}
}
