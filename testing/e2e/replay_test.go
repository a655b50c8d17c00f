package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// agentPages returns the rows of every page of a succeeded session exactly
// as the agent received them: the raw "rows" bytes of the first answer,
// then of each GET with page_token.
func agentPages(t *testing.T, g *local.Gateway, tok string, first response) []json.RawMessage {
	t.Helper()
	var pages []json.RawMessage
	raw := first.raw
	id, _ := first.body["session_id"].(string)
	for {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("decode answer: %v: %s", err, raw)
		}
		rows, ok := m["rows"]
		if !ok {
			t.Fatalf("answer without rows: %s", raw)
		}
		pages = append(pages, rows)
		var next string
		if nt, ok := m["next_page_token"]; ok {
			if err := json.Unmarshal(nt, &next); err != nil {
				t.Fatal(err)
			}
		}
		if next == "" {
			return pages
		}
		r := do(t, "GET", g.URL+"/v1/sessions/"+id+"?page_token="+next, tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("GET page %s = %d %s", next, r.code, r.raw)
		}
		raw = r.raw
	}
}

// checkReplay checks that replay of id prints every page the agent got,
// byte for byte, and that the store's pages are those bytes.
func checkReplay(t *testing.T, st session.Store, id string, pages []json.RawMessage) []byte {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	if err := replay.Run(ctx, st, id, "", &out); err != nil {
		t.Fatalf("replay.Run(%s): %v", id, err)
	}
	for i, p := range pages {
		var rows []json.RawMessage
		if err := json.Unmarshal(p, &rows); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		block := fmt.Sprintf("--- page %d (%d rows)\n%s\n", i, len(rows), p)
		if !bytes.Contains(out.Bytes(), []byte(block)) {
			t.Errorf("replay does not print page %d as the agent received it:\nagent: %s\nreplay:\n%s", i, p, out.Bytes())
		}
		sp, err := st.GetPage(ctx, id, i)
		if err != nil {
			t.Fatalf("GetPage(%d): %v", i, err)
		}
		if !bytes.Equal(sp.Rows, p) {
			t.Errorf("stored page %d differs from what the agent received:\nstored: %s\nagent:  %s", i, sp.Rows, p)
		}
	}
	if n := bytes.Count(out.Bytes(), []byte("\n--- page ")); n != len(pages) {
		t.Errorf("replay prints %d pages, the agent received %d", n, len(pages))
	}
	got, err := replay.Rows(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pages) {
		t.Fatalf("replay.Rows = %d pages, want %d", len(got), len(pages))
	}
	for i := range got {
		if !bytes.Equal(got[i], pages[i]) {
			t.Errorf("replay.Rows page %d differs from the agent's:\nreplay: %s\nagent:  %s", i, got[i], pages[i])
		}
	}
	return out.Bytes()
}

// TestReplayGivesTheAgentsRows is issue 6's replay acceptance: a session
// recorded end to end replays (CLI text and the /sessions/{id} page) with
// exactly the rows the agent received, across pages, before and after the
// gateway restarts; the page is served to the requester, the session's
// approvers and auditors only.
func TestReplayGivesTheAgentsRows(t *testing.T) {
	dir := t.TempDir()
	// Four rows a page, so a 10-row result spans three pages.
	g, stop := startGatewayConfig(t, local.Config{DataDir: dir, Limits: steps.Limits{PageRows: 4}})
	alice := token(t, g, "alice@example.com", "analysts")
	bob := token(t, g, "bob@example.com", "analysts")
	auditor := token(t, g, "auditor@example.com")

	// The literal holds characters JSON encoders treat specially (HTML
	// escaping, quotes, non-ASCII), so "byte for byte" is tested.
	sql := `SELECT customer_id, full_name, email, notes, created_at, 'a<b & "c" café' AS tag FROM demo.customers WHERE customer_id <= 10 ORDER BY customer_id`
	body, _ := json.Marshal(map[string]any{"sql": sql, "prompt": "ten customers for the replay test", "conversation_id": "conv-replay",
		"agent": map[string]string{"name": "claude-code", "model": "m"}})
	r := do(t, "POST", g.URL+"/v1/queries", alice, body)
	if r.code != http.StatusOK || r.body["status"] != "succeeded" {
		t.Fatalf("POST /v1/queries = %d %s", r.code, r.raw)
	}
	id := r.body["session_id"].(string)
	pages := agentPages(t, g, alice, r)
	if len(pages) != 3 {
		t.Fatalf("agent received %d pages, want 3 (10 rows, 4 a page)", len(pages))
	}
	if !bytes.Contains(pages[0], []byte("[EMAIL_ADDRESS]")) || !bytes.Contains(pages[0], []byte(`\u003c`)) {
		t.Errorf("page 0 is not the masked, JSON-escaped rows expected: %s", pages[0])
	}

	out := checkReplay(t, g.Store, id, pages)
	// Control: the containment check tells one changed byte apart.
	if tampered := bytes.Replace(pages[0], []byte(`\u003c`), []byte(`<`), 1); bytes.Contains(out, tampered) {
		t.Errorf("control: replay output also contains a page that differs from the agent's in one character")
	}
	for _, want := range []string{"session " + id + " (conversation conv-replay", "status:     succeeded", "ten customers for the replay test",
		sql, "decision:   allow", "result:     10 rows, 10 stored in 3 pages", "timeline hash chain intact"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("replay output lacks %q:\n%s", want, out)
		}
	}

	t.Run("session page", func(t *testing.T) {
		for _, tc := range []struct {
			name, tok string
			want      int
		}{
			{"requester", alice, http.StatusOK},
			{"auditor", auditor, http.StatusOK},
			{"another analyst", bob, http.StatusNotFound},
			{"no token", "", http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := do(t, "GET", g.URL+"/sessions/"+id, tc.tok, nil)
				if p.code != tc.want {
					t.Fatalf("GET /sessions/%s = %d, want %d", id, p.code, tc.want)
				}
				if tc.want != http.StatusOK {
					if bytes.Contains(p.raw, []byte("[EMAIL_ADDRESS]")) || bytes.Contains(p.raw, []byte(id)) {
						t.Errorf("refused page shows the session: %s", p.raw)
					}
					return
				}
				html := string(p.raw)
				for _, want := range []string{id, "session.completed", "[EMAIL_ADDRESS]", "ten customers for the replay test"} {
					if !strings.Contains(html, want) {
						t.Errorf("page lacks %q", want)
					}
				}
				// Every row the agent received is on the page.
				for _, pg := range pages {
					var rows []map[string]any
					if err := json.Unmarshal(pg, &rows); err != nil {
						t.Fatal(err)
					}
					for _, row := range rows {
						// created_at is not masked and differs per row.
						if ts := fmt.Sprint(row["created_at"]); !strings.Contains(html, ts) {
							t.Errorf("page lacks row %v (created_at %q)", row["customer_id"], ts)
						}
					}
				}
			})
		}
	})

	t.Run("approved session", func(t *testing.T) {
		id := submitForApproval(t, g, alice, "all columns of five customers")
		m := waitMail(t, g, "approver1@example.com", id)
		approve, _ := approvalLinks(t, g, m)
		if _, res := newHTTPBrowser(t).decide(g, approve, "approve", "for replay"); res.code() != "approved" {
			t.Fatalf("approve over HTTP: %d %q", res.status, res.code())
		}
		done := waitSession(t, g, alice, id)
		if done.body["status"] != "succeeded" {
			t.Fatalf("status %v: %s", done.body["status"], done.raw)
		}
		pages := agentPages(t, g, alice, done)
		out := checkReplay(t, g.Store, id, pages)
		if !bytes.Contains(out, []byte("approval:   approved by approver1@example.com")) || !bytes.Contains(out, []byte("comment:  for replay")) {
			t.Errorf("replay lacks the approval:\n%s", out)
		}
		approver2 := token(t, g, "approver2@example.com")
		for name, tc := range map[string]struct {
			tok  string
			want int
		}{"asked approver": {approver2, http.StatusOK}, "another analyst": {bob, http.StatusNotFound}} {
			if p := do(t, "GET", g.URL+"/sessions/"+id, tc.tok, nil); p.code != tc.want {
				t.Errorf("%s: GET /sessions/%s = %d, want %d", name, id, p.code, tc.want)
			}
		}
	})

	// What is on disk replays the same after the gateway is gone.
	stop()
	st, err := session.OpenSQLite(filepath.Join(dir, "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if again := checkReplay(t, st, id, pages); !bytes.Equal(again, out) {
		t.Errorf("replay from the closed gateway's store differs:\nbefore:\n%s\nafter:\n%s", out, again)
	}
}
