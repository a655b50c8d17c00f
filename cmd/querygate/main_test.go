package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := realMain(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts: %q", len(parts), tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _, err := run(t, "token", "--data-dir", dir, "--subject", "alice@example.com", "--groups", "analysts, ops")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("token printed %q, want one line", out)
	}
	c := claimsOf(t, out)
	if c["sub"] != "alice@example.com" || c["aud"] != "querygate" {
		t.Errorf("claims = %v", c)
	}
	if g, _ := c["groups"].([]any); len(g) != 2 || g[0] != "analysts" || g[1] != "ops" {
		t.Errorf("groups = %v", c["groups"])
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "dev-issuer.pem")); err != nil {
		t.Errorf("key not created: %v", err)
	}
	out, _, err = run(t, "token", "--data-dir", dir, "--subject", "a@x", "--ttl", "-1m", "--audience", "other")
	if err != nil {
		t.Fatal(err)
	}
	c = claimsOf(t, out)
	if exp, _ := c["exp"].(float64); int64(exp) >= time.Now().Unix() {
		t.Errorf("negative ttl gave exp %v in the future", exp)
	}
	if c["aud"] != "other" {
		t.Errorf("aud = %v", c["aud"])
	}
	var ec exitCode
	if _, _, err := run(t, "token", "--data-dir", dir); !errors.As(err, &ec) || ec != 2 {
		t.Errorf("token without --subject: err = %v, want exit 2", err)
	}
}

func TestWorkflowsValidate(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "workflows", "validate", filepath.Join("..", "..", "workflows", "query_session.yaml"))
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("validate real workflow: %v %q", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("main:\n  steps:\n    - a:\n        call: googleapis.bigquery.v2.jobs.query\n        args: {}\n"), 0o600)
	out, _, err = run(t, "workflows", "validate", bad)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, "line 3") || !strings.Contains(out, "googleapis.bigquery.v2.jobs.query") {
		t.Errorf("validate bad workflow: err %v out %q, want exit 1 naming the call and its step line", err, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	_, errOut, err := run(t, "frobnicate")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("err %v stderr %q", err, errOut)
	}
}
