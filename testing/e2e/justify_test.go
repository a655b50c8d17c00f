package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/openapi"
	"github.com/querygate/querygate/internal/policy"
)

// offsetClock is the real clock plus an offset the test moves forward, so
// the gateway sees half an approval window pass without the test waiting.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// TestJustificationAndBreakGlass drives issue 15 items 2 to 4 through the
// local gateway, with require_justification and break_glass_group on the
// star rule: a held query without a justification is a 400 (API JSON,
// BigQuery's error body); with one, the text is in the approval mail and
// on the approval page, and one reminder goes out at half the TTL, never
// two. A member of the break-glass group runs the same query at once,
// flagged in the session and the audit table, and the approvers get a
// review mail; a non-member's break-glass is refused with 403.
func TestJustificationAndBreakGlass(t *testing.T) {
	src := string(policy.DefaultYAML())
	const anchor = "    approver_group: approvers\n    approval_ttl: 15m\n"
	if !strings.Contains(src, anchor) {
		t.Fatal("default policy's star rule changed; update the test's anchor")
	}
	src = strings.Replace(src, anchor, anchor+"    require_justification: true\n    break_glass_group: oncall\n", 1)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	groups := local.DefaultGroups()
	groups["oncall"] = []string{"oncall@example.com"}
	clk := &offsetClock{}
	// The test runs the sweep itself (Sweep), at the moments it chooses.
	g, _ := startGatewayConfig(t, local.Config{PolicyFile: file, Groups: groups, Now: clk.Now, SweepInterval: -1})
	alice := token(t, g, "alice@example.com", "analysts")
	oncall := token(t, g, "oncall@example.com", "analysts")
	a1 := token(t, g, "approver1@example.com")
	const why = "Incident 4711: confirm <which> customers the fraud alert names"
	post := func(tok string, fields map[string]any) response {
		body := map[string]any{"sql": starSQL, "agent": map[string]string{"name": "claude-code", "model": "m"}}
		for k, v := range fields {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		return do(t, "POST", g.URL+"/v1/queries", tok, b)
	}
	sweep := func() {
		t.Helper()
		if _, err := g.Components.Approval.Sweep(context.Background()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
	}
	mailsTo := func(to, id, kind string) []mailboxMessage {
		t.Helper()
		msgs, _ := mailbox(t, g, to)
		var out []mailboxMessage
		for _, m := range msgs {
			if strings.Contains(m.Subject, "(session "+id+")") && strings.Contains(m.Subject, kind) {
				out = append(out, m)
			}
		}
		return out
	}

	t.Run("justification required", func(t *testing.T) {
		r := post(alice, nil)
		if r.code != http.StatusBadRequest || r.body["code"] != "justification_required" || r.body["status"] != "denied" {
			t.Fatalf("POST without a justification = %d %s, want 400 justification_required", r.code, r.raw)
		}
		if _, err := openapi.CheckResponse("POST", "/v1/queries", r.code, "application/json", r.raw); err != nil {
			t.Errorf("the 400 is not as documented: %v", err)
		}
		if msg, _ := r.body["error"].(string); !strings.Contains(msg, "Rule star-over-sensitive holds this query for approval and requires a justification") ||
			!strings.Contains(msg, `add the field "justification"`) {
			t.Errorf("400 error does not say what to add: %q", msg)
		}
		// The BigQuery front door: 400 with BigQuery's error body.
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/bigquery/v2/projects/querygate-local/queries",
			bytes.NewReader([]byte(`{"query":"`+starSQL+`","useLegacySql":false}`)))
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var bq struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Errors  []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &bq)
		if resp.StatusCode != http.StatusBadRequest || bq.Error.Code != 400 || len(bq.Error.Errors) != 1 || bq.Error.Errors[0].Reason != "invalid" ||
			!strings.Contains(bq.Error.Message, "X-Querygate-Justification") {
			t.Errorf("jobs.query without a justification = %d %s, want 400 invalid naming the header", resp.StatusCode, raw)
		}
	})

	t.Run("justification shown, reminder once", func(t *testing.T) {
		r := post(alice, map[string]any{"justification": why + "\u202e\n"})
		if r.code != http.StatusAccepted || r.body["status"] != "pending_approval" {
			t.Fatalf("POST with a justification = %d %s, want 202 pending_approval", r.code, r.raw)
		}
		id, _ := r.body["session_id"].(string)
		m := waitMail(t, g, "approver1@example.com", id)
		if want := "Justification:\n  > " + why + "\n"; !strings.Contains(m.Text, want) {
			t.Errorf("mail text lacks %q:\n%s", want, m.Text)
		}
		if want := "Incident 4711: confirm &lt;which&gt; customers"; !strings.Contains(m.HTML, want) {
			t.Errorf("mail HTML lacks %q", want)
		}
		approve, _ := approvalLinks(t, g, m)
		page := newHTTPBrowser(t).get(approve)
		if want := `<pre id="justification">Incident 4711: confirm &lt;which&gt; customers the fraud alert names</pre>`; page.status != http.StatusOK || !strings.Contains(page.body, want) {
			t.Errorf("approval page = %d, lacks %q", page.status, want)
		}
		s := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil)
		if s.body["justification"] != why || s.body["break_glass"] != false {
			t.Errorf("session justification %v break_glass %v", s.body["justification"], s.body["break_glass"])
		}

		// The window is 15m: nothing at 7m, one reminder past 7m30s, and
		// none again.
		clk.Advance(7 * time.Minute)
		sweep()
		if n := len(mailsTo("approver1@example.com", id, "Reminder")); n != 0 {
			t.Fatalf("%d reminders before half the TTL", n)
		}
		clk.Advance(45 * time.Second)
		sweep()
		sweep()
		for _, a := range approvers {
			got := mailsTo(a, id, "Reminder: approval needed")
			if len(got) != 1 {
				t.Fatalf("%s got %d reminders, want 1", a, len(got))
			}
			if !strings.Contains(got[0].Text, "half of its approval window has passed") || !strings.Contains(got[0].Text, why) {
				t.Errorf("reminder to %s:\n%s", a, got[0].Text)
			}
		}
		clk.Advance(time.Minute)
		sweep()
		if n := len(mailsTo("approver2@example.com", id, "Reminder")); n != 1 {
			t.Errorf("%d reminders after another sweep, want still 1", n)
		}
	})

	t.Run("break-glass runs at once", func(t *testing.T) {
		r := post(oncall, map[string]any{"justification": why, "break_glass": true})
		if r.code != http.StatusOK || r.body["status"] != "succeeded" {
			t.Fatalf("break-glass POST = %d %s, want 200 succeeded", r.code, r.raw)
		}
		id, _ := r.body["session_id"].(string)
		s := waitSession(t, g, oncall, id)
		if _, err := openapi.CheckResponse("GET", "/v1/sessions/"+id, s.code, "application/json", s.raw); err != nil {
			t.Errorf("the break-glass session is not as documented: %v", err)
		}
		if s.body["break_glass"] != true || s.body["justification"] != why {
			t.Errorf("session break_glass %v justification %v", s.body["break_glass"], s.body["justification"])
		}
		if types := timelineTypes(s.body); !slices.Contains(types, "policy.break_glass") || slices.Contains(types, "approval.requested") {
			t.Errorf("timeline %v: want policy.break_glass and no approval.requested", types)
		}
		rows := string(queryDirect(t, g, "SELECT event_type, data FROM `querygate-local."+local.AuditDataset+"."+local.AuditTable+
			"` WHERE session_id = '"+id+"' AND event_type = 'policy.break_glass'"))
		for _, want := range []string{"event_type=policy.break_glass", `"principal":"oncall@example.com"`, `"groups":["oncall"]`,
			`"review_group":"approvers"`, "Incident 4711: confirm \\u003cwhich\\u003e customers"} {
			if !strings.Contains(rows, want) {
				t.Errorf("audit rows lack %s:\n%s", want, rows)
			}
		}
		if r := do(t, "GET", g.URL+"/v1/sessions/"+id, a1, nil); r.code != http.StatusNotFound {
			t.Errorf("approver reads the session before the review = %d, want 404", r.code)
		}
		sweep()
		for _, a := range approvers {
			got := mailsTo(a, id, "Review: query run under break-glass by oncall@example.com")
			if len(got) != 1 {
				t.Fatalf("%s got %d review mails, want 1", a, len(got))
			}
			for _, want := range []string{"A query was run under break-glass by oncall@example.com", "Justification:\n  > " + why,
				"Break-glass group: oncall", "Review: " + g.URL + "/sessions/" + id} {
				if !strings.Contains(got[0].Text, want) {
					t.Errorf("review mail to %s lacks %q:\n%s", a, want, got[0].Text)
				}
			}
		}
		sweep()
		if n := len(mailsTo("approver1@example.com", id, "Review")); n != 1 {
			t.Errorf("%d review mails after another sweep, want 1", n)
		}
		if r := do(t, "GET", g.URL+"/v1/sessions/"+id, a1, nil); r.code != http.StatusOK || r.body["break_glass"] != true {
			t.Errorf("reviewer reads the session = %d %v", r.code, r.body["break_glass"])
		}
	})

	t.Run("non-member refused", func(t *testing.T) {
		r := post(alice, map[string]any{"justification": why, "break_glass": true})
		if r.code != http.StatusForbidden || r.body["status"] != "denied" || !slices.Contains(stringsOf(r.body["rule_ids"]), "builtin.break_glass_refused") {
			t.Fatalf("non-member break-glass = %d %s, want 403 builtin.break_glass_refused", r.code, r.raw)
		}
		if reasons := strings.Join(stringsOf(r.body["reasons"]), " "); !strings.Contains(reasons, `principal "alice@example.com" is not a member of group oncall`) {
			t.Errorf("reasons %q do not say why", reasons)
		}
		if r := post(oncall, map[string]any{"break_glass": true}); r.code != http.StatusBadRequest ||
			!strings.Contains(r.body["error"].(string), "break_glass needs a justification") {
			t.Errorf("break-glass without a justification = %d %s, want 400", r.code, r.raw)
		}
	})
}
