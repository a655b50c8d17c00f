package replay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

const page0 = `[{"full_name":"[PERSON_NAME]","n":1.50},{"full_name":"J\u00f6rg","n":2}]`

func newStore(t *testing.T) session.Store {
	t.Helper()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// record stores a finished session the way the workflow does.
func record(t *testing.T, st session.Store, id, conv string, created time.Time, prompt string) {
	t.Helper()
	ctx := t.Context()
	s := &session.Session{
		ID: id, ConversationID: conv, CreatedAt: created, Status: session.StatusRunning,
		Principal: session.Principal{Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com"},
		Agent:     session.Agent{Name: "claude-code", Model: "m1"},
		Prompt:    prompt, SQL: "SELECT full_name, n\nFROM demo.customers", SQLSHA256: session.SQLHash("x"),
		Readers: []string{"alice@example.com"},
	}
	s.AddEvent(created, "alice@example.com", session.ReceivedData{})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPage(ctx, id, &session.Page{Index: 0, Rows: json.RawMessage(page0), Count: 2}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPage(ctx, id, &session.Page{Index: 1, Rows: json.RawMessage(`[{"full_name":"x","n":3}]`), Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Update(ctx, id, func(s *session.Session) error {
		s.Status = session.StatusSucceeded
		s.Decision = &session.Decision{Action: "require_approval", RuleIDs: []string{"pii"}, Reasons: []string{"reads PII column full_name"}}
		s.Approval = &session.Approval{Group: "approvers", RequestedAt: created.Add(2 * time.Second), Decision: "approved", DecidedBy: "bob@example.com", DecidedAt: created.Add(90 * time.Second), Comment: "ok"}
		s.Execution = &session.Execution{JobID: "job-1", BytesProcessed: 1024, TotalRows: 3, StartedAt: created.Add(91 * time.Second), FinishedAt: created.Add(93 * time.Second)}
		s.Result = &session.Result{Schema: []session.Field{{Name: "full_name", Type: "STRING"}, {Name: "n", Type: "NUMERIC"}}, TotalRows: 3, StoredRows: 3, Pages: 2, MaskedColumns: []string{"full_name"}}
		s.AddEvent(created.Add(1500*time.Millisecond), "policy", session.PolicyDecidedData{Action: "require_approval"})
		s.AddEvent(created.Add(90*time.Second), "bob@example.com", session.ApprovalDecidedData{Decision: "approved"})
		s.AddEvent(created.Add(95*time.Second), "record", session.CompletedData{Status: "succeeded"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunSession(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	record(t, st, "s1", "c1", t0, "list customers\x1b[31m")
	var out bytes.Buffer
	if err := replay.Run(t.Context(), st, "s1", "", &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"session s1 (conversation c1, +0s)\n",
		"status:     succeeded\n",
		"principal:  alice@example.com (https://issuer.example alice)\n",
		"prompt:\n  list customers\ufffd[31m\n", // the escape character is neutralized
		"sql (sha256 " + session.SQLHash("x") + "):\n  SELECT full_name, n\n  FROM demo.customers\n",
		"decision:   require_approval (rules pii)\n  reason:   reads PII column full_name\n",
		"approval:   approved by bob@example.com at +1m30s (group approvers, requested at +2s)\n",
		"execution:  job job-1, 1024 bytes processed, 3 rows, ran 2s\n",
		"  +1.5s       policy.decided         policy                   {\"action\":\"require_approval\",\"analysis_path\":\"\",\"estimated_bytes\":0,\"approver_group\":\"\"}\n",
		"  +1m35s      session.completed      record                   {\"status\":\"succeeded\"}\n",
		"timeline hash chain intact\n",
		"result:     3 rows, 3 stored in 2 pages\n",
		"--- page 0 (2 rows)\n" + page0 + "\n--- page 1 (1 rows)\n[{\"full_name\":\"x\",\"n\":3}]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("replay output lacks %q\noutput:\n%s", want, got)
		}
	}
}

func TestRowsByteForByte(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	record(t, st, "s1", "", t0, "p")
	rows, err := replay.Rows(t.Context(), st, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || string(rows[0]) != page0 {
		t.Errorf("Rows = %q, want page 0 = %q", rows, page0)
	}
}

func TestRunConversation(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	record(t, st, "late", "c1", t0.Add(time.Minute), "second question")
	record(t, st, "early", "c1", t0, "first question")
	record(t, st, "other", "c2", t0, "elsewhere")
	var out bytes.Buffer
	if err := replay.Run(t.Context(), st, "", "c1", &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	var heads []string
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, "session ") || strings.HasPrefix(l, "conversation ") {
			heads = append(heads, l)
		}
	}
	want := []string{"conversation c1: 2 sessions", "session early (conversation c1, +0s)", "session late (conversation c1, +1m0s)"}
	if diff := cmp.Diff(want, heads); diff != "" {
		t.Errorf("conversation headings (-want, +got):\n%s", diff)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	var out bytes.Buffer
	if err := replay.Run(t.Context(), st, "", "", &out); err == nil {
		t.Error("Run with no id succeeded")
	}
	if err := replay.Run(t.Context(), st, "a", "b", &out); err == nil {
		t.Error("Run with both ids succeeded")
	}
	if err := replay.Run(t.Context(), st, "missing", "", &out); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Run(missing) err = %v, want ErrNotFound", err)
	}
	if err := replay.Run(t.Context(), st, "", "no-conv", &out); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Run(--conversation no-conv) err = %v, want ErrNotFound", err)
	}
}

func TestPageHandler(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	record(t, st, "s1", "c1", t0, `<script>alert("x")</script>`)
	authorize := func(r *http.Request, s *session.Session) bool {
		return r.Header.Get("X-Test-User") == s.Principal.Email
	}
	h := replay.NewPageHandler(st, authorize)
	cases := []struct {
		name, method, path, user string
		status                   int
		contains                 []string
	}{
		{"requester", "GET", "/sessions/s1", "alice@example.com", 200, []string{
			"<h1>Session s1</h1>", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "<h2>Decision: require_approval</h2>",
			"<td>+1.5s</td><td>policy.decided</td>", "<td>[PERSON_NAME]</td><td>1.50</td>", "<td>Jörg</td><td>2</td>", "Hash chain intact.",
		}},
		{"not allowed", "GET", "/sessions/s1", "mallory@example.com", 404, []string{"session not found"}},
		{"missing", "GET", "/sessions/nope", "alice@example.com", 404, []string{"session not found"}},
		{"post", "POST", "/sessions/s1", "alice@example.com", 405, nil},
		{"nested path", "GET", "/sessions/s1/x", "alice@example.com", 404, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("X-Test-User", tc.user)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			for _, c := range tc.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body lacks %q\n%s", c, body)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Error("body holds an unescaped <script>")
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
		})
	}
}

func TestPageHandlerWithPathPattern(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	record(t, st, "s1", "", t0, "p")
	mux := http.NewServeMux()
	mux.Handle("GET /sessions/{id}", replay.NewPageHandler(st, func(*http.Request, *session.Session) bool { return true }))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/sessions/s1", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<h1>Session s1</h1>") {
		t.Errorf("GET /sessions/s1 through a {id} pattern = %d\n%s", rec.Code, rec.Body)
	}
}
