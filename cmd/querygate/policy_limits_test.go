package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// TestPolicyCheckLimits: `querygate policy check` lists the limits that
// apply to the principal with where each is set, and with --store their
// current use from the session store.
func TestPolicyCheckLimits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	src := strings.Replace(string(policy.DefaultYAML()), "  job_timeout: 5m\n",
		"  job_timeout: 5m\n  limits:\n    requests_per_minute: 8\n    bytes_per_day: 10GB\n    groups:\n      analysts:\n        concurrent_sessions: 3\n", 1)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load([]byte(src), file)
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "sessions.db")
	st, err := session.OpenSQLite(store)
	if err != nil {
		t.Fatal(err)
	}
	enf, err := limits.New(limits.Config{Policy: pol, Counters: st, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	alice := &session.Principal{Issuer: "https://issuer.example", Subject: "a", Email: "alice@example.com", Groups: []string{"analysts"}}
	for _, id := range []string{"s1", "s2"} {
		if err := enf.Admit(context.Background(), alice, id); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	check := func(args ...string) map[string]any {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"check", "--sql", "SELECT full_name FROM demo.customers", "--policy", file, "--email", "alice@example.com", "--groups", "analysts", "--json"}, args...)
		if err := runPolicy(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("policy check: %v %s", err, errOut.String())
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("policy check --json: %v\n%s", err, out.String())
		}
		return m
	}
	byName := func(m map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, x := range m["limits"].([]any) {
			l := x.(map[string]any)
			delete(l, "resets_at") // the wall clock's window
			out[l["name"].(string)] = l
		}
		return out
	}
	configured := byName(check())
	want := map[string]map[string]any{
		"requests_per_minute": {"name": "requests_per_minute", "limit": float64(8), "source": "defaults"},
		"bytes_per_day":       {"name": "bytes_per_day", "limit": float64(10e9), "source": "defaults"},
		"concurrent_sessions": {"name": "concurrent_sessions", "limit": float64(3), "source": "group analysts"},
	}
	if diff := cmp.Diff(want, configured); diff != "" {
		t.Errorf("configured limits (-want, +got):\n%s", diff)
	}
	used := byName(check("--store", store))
	if c := used["concurrent_sessions"]; c["used"] != float64(2) || c["limit"] != float64(3) {
		t.Errorf("concurrent_sessions with --store = %v, want 2 of 3 used", c)
	}
	if b := used["bytes_per_day"]; b["used"] != float64(0) {
		t.Errorf("bytes_per_day with --store = %v, want 0 used", b)
	}
	var out, errOut bytes.Buffer
	if err := runPolicy(context.Background(), []string{"check", "--sql", "SELECT 1", "--policy", file, "--store", filepath.Join(dir, "none.db")}, &out, &errOut); err == nil {
		t.Error("policy check with a missing --store file succeeded")
	}
	out.Reset()
	if err := runPolicy(context.Background(), []string{"check", "--sql", "SELECT full_name FROM demo.customers", "--policy", file, "--store", store}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "limits:\n") || !strings.Contains(out.String(), "  concurrent_sessions: 3 (group analysts), used 2\n") {
		t.Errorf("text output lacks the limits:\n%s", out.String())
	}
}
