package bqapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

func TestLeadingComment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, sql, want string }{
		{"none", "SELECT 1", ""},
		{"dash", "-- why I ask\nSELECT 1", "why I ask"},
		{"label", "  -- Prompt: churn report\n-- second line\nSELECT 1", "churn report\nsecond line"},
		{"hash", "# one\r\nSELECT 1", "one"},
		{"block", "/* find\n * the customers\n */ SELECT 1", "find\nthe customers"},
		{"comment after token", "SELECT 1 -- not a prompt", ""},
		{"unterminated block", "/* oops SELECT 1", ""},
		{"mixed", "-- a\n/* b */\nSELECT 1", "a\nb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LeadingComment(tc.sql); got != tc.want {
				t.Errorf("LeadingComment(%q) = %q, want %q", tc.sql, got, tc.want)
			}
		})
	}
}

func TestPromptHeaderWins(t *testing.T) {
	t.Parallel()
	sql := "-- from the comment\nSELECT 1"
	r := httptest.NewRequest("POST", "/", nil)
	if p, e := promptOf(r, sql); e != nil || p != "from the comment" {
		t.Errorf("no header: %q, %v", p, e)
	}
	r.Header.Set(PromptHeader, "from%20the%20header%0Aline%202%20%E2%9C%93")
	if p, e := promptOf(r, sql); e != nil || p != "from the header\nline 2 ✓" {
		t.Errorf("header: %q, %v", p, e)
	}
	r.Header.Set(PromptHeader, "")
	if p, e := promptOf(r, sql); e != nil || p != "" {
		t.Errorf("empty header still wins: %q, %v", p, e)
	}
	r.Header.Set(PromptHeader, "100%")
	if _, e := promptOf(r, sql); e == nil || e.Code != http.StatusBadRequest {
		t.Errorf("bad percent-encoding accepted: %v", e)
	}
}

func TestToIntake(t *testing.T) {
	t.Parallel()
	decode := func(body string) *queryRequest {
		var q queryRequest
		if err := json.Unmarshal([]byte(body), &q); err != nil {
			t.Fatal(err)
		}
		return &q
	}
	r := httptest.NewRequest("POST", "/", nil)
	q := decode(`{"query":"SELECT @n, @s","useLegacySql":false,"defaultDataset":{"projectId":"p","datasetId":"demo"},
		"parameterMode":"NAMED","queryParameters":[
			{"name":"n","parameterType":{"type":"INT64"},"parameterValue":{"value":"42"}},
			{"name":"s","parameterType":{"type":"STRING"},"parameterValue":{"value":"x\"y"}}],
		"labels":{"querygate-conversation":"c1","querygate-agent":"a","querygate-model":"m","other":"z"}}`)
	got, e := q.toIntake(r, q.Labels, false)
	if e != nil {
		t.Fatal(e)
	}
	if got.DefaultDataset != "p.demo" || got.ConversationID != "c1" || got.Agent != (session.Agent{Name: "a", Model: "m"}) {
		t.Errorf("request = %+v", got)
	}
	wantParams := []session.Parameter{{Name: "n", Type: "INT64", Value: json.RawMessage("42")}, {Name: "s", Type: "STRING", Value: json.RawMessage(`"x\"y"`)}}
	if diff := cmp.Diff(wantParams, got.Parameters); diff != "" {
		t.Errorf("parameters (-want, +got):\n%s", diff)
	}

	for _, tc := range []struct{ name, body string }{
		{"empty", `{"query":"  "}`},
		{"legacy", `{"query":"SELECT 1","useLegacySql":true}`},
		{"dry run", `{"query":"SELECT 1","dryRun":true}`},
		{"external tables", `{"query":"SELECT 1","tableDefinitions":{"t":{}}}`},
		{"session", `{"query":"SELECT 1","createSession":true}`},
		{"connection properties", `{"query":"SELECT 1","connectionProperties":[{"key":"session_id","value":"x"}]}`},
		{"positional", `{"query":"SELECT ?","queryParameters":[{"parameterType":{"type":"INT64"},"parameterValue":{"value":"1"}}]}`},
		{"array param", `{"query":"SELECT @a","parameterMode":"NAMED","queryParameters":[{"name":"a","parameterType":{"type":"ARRAY","arrayType":{"type":"INT64"}},"parameterValue":{"arrayValues":[]}}]}`},
		{"bad int", `{"query":"SELECT @a","parameterMode":"NAMED","queryParameters":[{"name":"a","parameterType":{"type":"INT64"},"parameterValue":{"value":"4x"}}]}`},
		{"nan", `{"query":"SELECT @a","parameterMode":"NAMED","queryParameters":[{"name":"a","parameterType":{"type":"FLOAT64"},"parameterValue":{"value":"NaN"}}]}`},
		{"bidi in sql", `{"query":"SELECT 1 -- \u202e"}`},
		{"newline in label", `{"query":"SELECT 1","labels":{"querygate-agent":"a\nb"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := decode(tc.body)
			if _, e := q.toIntake(r, q.Labels, false); e == nil || e.Code != http.StatusBadRequest {
				t.Errorf("accepted: %v", e)
			}
		})
	}
}

func TestSessionIDIsPerCaller(t *testing.T) {
	t.Parallel()
	alice := &session.Principal{Issuer: "https://issuer", Subject: "alice"}
	bob := &session.Principal{Issuer: "https://issuer", Subject: "bob"}
	a := SessionID(alice, "p", "job1")
	if a != SessionID(alice, "p", "job1") {
		t.Error("not deterministic")
	}
	for _, other := range []string{SessionID(bob, "p", "job1"), SessionID(alice, "q", "job1"), SessionID(alice, "p", "job2")} {
		if other == a {
			t.Errorf("collision: %s", a)
		}
	}
	if len(a) != len("qs_")+32 || a[:3] != "qs_" {
		t.Errorf("id %q is not shaped like a session id", a)
	}
}
