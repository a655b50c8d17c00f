package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/demodata"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/testing/browser"
)

// starSQL needs approval under the default policy (star over a table with
// sensitive columns).
const starSQL = "SELECT * FROM demo.customers LIMIT 5"

var approvers = []string{"approver1@example.com", "approver2@example.com"}

// submitForApproval sends starSQL as an analyst and checks the 202
// pending_approval answer. It returns the session id.
func submitForApproval(t *testing.T, g *local.Gateway, tok, prompt string) string {
	t.Helper()
	return submitForApprovers(t, g, tok, prompt, approvers)
}

// submitForApprovers is submitForApproval when the approvers asked are not
// the whole group (the requester is one of them).
func submitForApprovers(t *testing.T, g *local.Gateway, tok, prompt string, approvers []string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sql": starSQL, "prompt": prompt, "agent": map[string]string{"name": "claude-code", "model": "m"}})
	r := do(t, "POST", g.URL+"/v1/queries", tok, body)
	if r.code != http.StatusAccepted || r.body["status"] != "pending_approval" {
		t.Fatalf("POST /v1/queries = %d %s, want 202 pending_approval", r.code, r.raw)
	}
	if got := stringsOf(r.body["approvers"]); !cmp.Equal(got, approvers) {
		t.Errorf("202 approvers = %v, want %v", got, approvers)
	}
	if s, _ := r.body["expires_at"].(string); s == "" {
		t.Errorf("202 has no expires_at: %s", r.raw)
	}
	id, _ := r.body["session_id"].(string)
	if !strings.HasPrefix(id, "qs_") {
		t.Fatalf("session_id = %q", id)
	}
	return id
}

// checkMail checks that the approval mail shows what the approver decides on.
func checkMail(t *testing.T, m mailboxMessage, id, prompt string) {
	t.Helper()
	for _, want := range []string{"alice@example.com", "claude-code", id, prompt, starSQL,
		"The query selects * over a table with sensitive columns"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("mail to %s: text part lacks %q:\n%s", m.To, want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, "Approve") || !strings.Contains(m.HTML, "Deny") {
		t.Errorf("mail to %s: HTML part lacks the Approve and Deny links", m.To)
	}
}

// customerByID indexes the demo customers, whose raw values the masked rows
// must not contain.
func customerByID() map[int64]map[string]any {
	out := map[int64]map[string]any{}
	for _, r := range demodata.Customers().Rows {
		out[r["customer_id"].(int64)] = r
	}
	return out
}

func rowID(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err == nil {
			return n
		}
	}
	t.Fatalf("customer_id %v (%T) is not an integer", v, v)
	return 0
}

// TestApprovalByBrowser drives issue 5's acceptance end to end: an
// analyst's star query is held, the mail reaches both approvers over SMTP,
// headless Chromium opens a mailed link and presses a button, and the
// agent's long poll ends with the masked rows (Approve) or rejected (Deny).
func TestApprovalByBrowser(t *testing.T) {
	g, _ := startGatewayConfig(t, local.Config{})
	customers := customerByID()
	masks := map[string]string{
		"email": "[EMAIL_ADDRESS]", "phone": "[PHONE_NUMBER]", "ssn": "[US_SOCIAL_SECURITY_NUMBER]",
		"card_number": "[CREDIT_CARD_NUMBER]", "full_name": "[PERSON_NAME]", "street_address": "[STREET_ADDRESS]",
	}

	t.Run("approve", func(t *testing.T) {
		ctx := browser.New(t, 2*time.Minute)
		alice := token(t, g, "alice@example.com", "analysts")
		prompt := "list five customers with every column"
		id := submitForApproval(t, g, alice, prompt)
		var mails []mailboxMessage
		for _, a := range approvers {
			m := waitMail(t, g, a, id)
			checkMail(t, m, id, prompt)
			mails = append(mails, m)
		}
		approve, _ := approvalLinks(t, g, mails[0])

		err := chromedp.Do(ctx,
			chromedp.Navigate(approve),
			chromedp.WaitVisible(chromedp.CSS(`#approval`)),
		)
		if err != nil {
			t.Fatalf("browser, open the Approve link: %v", err)
		}
		if got := browserText(t, ctx, `#sql`); got != starSQL {
			t.Errorf("page SQL = %q, want %q", got, starSQL)
		}
		if got := browserText(t, ctx, `#requester`); !strings.Contains(got, "alice@example.com") {
			t.Errorf("page requester = %q", got)
		}
		// Opening the page decided nothing.
		if s := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil); s.body["status"] != "pending_approval" {
			t.Fatalf("after GET of the page, status = %v, want pending_approval", s.body["status"])
		}
		err = chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#comment`), "ok for the churn report"),
			chromedp.Click(chromedp.CSS(`#approve`)),
			chromedp.WaitVisible(chromedp.CSS(`#result`)),
		)
		if err != nil {
			t.Fatalf("browser, click Approve: %v", err)
		}
		if got, code := browserText(t, ctx, `#decision`), browserAttr(t, ctx, `#result`, "data-code"); got != "approved" || code != "approved" {
			t.Errorf("result page: decision %q, code %q, want approved", got, code)
		}

		r := waitSession(t, g, alice, id)
		if r.body["status"] != "succeeded" {
			t.Fatalf("agent's wait ended with %v, want succeeded: %s", r.body["status"], r.raw)
		}
		rows, _ := r.body["rows"].([]any)
		if len(rows) != 5 {
			t.Fatalf("rows = %d, want 5: %s", len(rows), r.raw)
		}
		for _, row := range rows {
			m := row.(map[string]any)
			raw, ok := customers[rowID(t, m["customer_id"])]
			if !ok {
				t.Fatalf("row %v is not a demo customer", m)
			}
			if len(m) != 10 {
				t.Errorf("row has %d columns, want the 10 of demo.customers: %v", len(m), m)
			}
			for col, want := range masks {
				if m[col] != want {
					t.Errorf("customer %v: %s = %q, want %q", m["customer_id"], col, m[col], want)
				}
			}
			for _, col := range []string{"email", "phone", "ssn", "card_number", "full_name", "street_address"} {
				if v := raw[col].(string); strings.Contains(string(r.raw), v) {
					t.Errorf("customer %v: raw %s %q is in the agent's response", m["customer_id"], col, v)
				}
			}
		}
		// notes is masked by content inspection (PII in free text), which
		// masked_columns now reports too (issue 10, finding 6).
		wantMasked := []string{"card_number", "email", "full_name", "notes", "phone", "ssn", "street_address"}
		gotMasked := stringsOf(r.body["masked_columns"])
		slices.Sort(gotMasked)
		if !cmp.Equal(gotMasked, wantMasked) {
			t.Errorf("masked_columns = %v, want %v", gotMasked, wantMasked)
		}
		ap, _ := r.body["approval"].(map[string]any)
		if ap["decision"] != "approved" || ap["decided_by"] != "approver1@example.com" || ap["comment"] != "ok for the churn report" {
			t.Errorf("approval = %v", ap)
		}
		want := []string{"session.received", "policy.decided", "approval.requested", "approval.decided", "query.started",
			"query.finished", "result.masked", "session.completed"}
		if diff := cmp.Diff(want, timelineTypes(r.body)); diff != "" {
			t.Errorf("timeline (-want, +got):\n%s", diff)
		}

		// The other approver's link no longer decides anything, and the
		// used link says so when opened again.
		other, _ := approvalLinks(t, g, mails[1])
		if p := newHTTPBrowser(t).get(other); p.code() != "not_pending" {
			t.Errorf("approver2's link after the decision: %d code %q, want not_pending", p.status, p.code())
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(approve), chromedp.WaitVisible(chromedp.CSS(`#result`))); err != nil {
			t.Fatalf("browser, reopen the used link: %v", err)
		}
		if code := browserAttr(t, ctx, `#result`, "data-code"); code != "link_used" && code != "not_pending" {
			t.Errorf("reopened link: code %q, want link_used or not_pending", code)
		}
		if s := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil); s.body["status"] != "succeeded" || len(timelineTypes(s.body)) != len(want) {
			t.Errorf("after reopening links: status %v, timeline %v", s.body["status"], timelineTypes(s.body))
		}
	})

	t.Run("deny", func(t *testing.T) {
		ctx := browser.New(t, 2*time.Minute)
		alice := token(t, g, "alice@example.com", "analysts")
		prompt := "dump the customers table"
		id := submitForApproval(t, g, alice, prompt)
		m := waitMail(t, g, "approver2@example.com", id)
		checkMail(t, m, id, prompt)
		_, deny := approvalLinks(t, g, m)

		err := chromedp.Do(ctx,
			chromedp.Navigate(deny),
			chromedp.WaitVisible(chromedp.CSS(`#approval`)),
			chromedp.SendKeys(chromedp.CSS(`#comment`), "too broad, name the columns"),
			chromedp.Click(chromedp.CSS(`#deny`)),
			chromedp.WaitVisible(chromedp.CSS(`#result`)),
		)
		if err != nil {
			t.Fatalf("browser, open the Deny link and click Deny: %v", err)
		}
		if got, code := browserText(t, ctx, `#decision`), browserAttr(t, ctx, `#result`, "data-code"); got != "rejected" || code != "rejected" {
			t.Errorf("result page: decision %q, code %q, want rejected", got, code)
		}

		r := waitSession(t, g, alice, id)
		if r.body["status"] != "rejected" {
			t.Fatalf("agent's wait ended with %v, want rejected: %s", r.body["status"], r.raw)
		}
		wantReasons := []string{
			"The query selects * over a table with sensitive columns. Name the columns you need to run it without approval." +
				" (statement 1: * over querygate-local.demo.customers)",
			"an approver rejected the query: too broad, name the columns",
		}
		if diff := cmp.Diff(wantReasons, stringsOf(r.body["reasons"])); diff != "" {
			t.Errorf("reasons (-want, +got):\n%s", diff)
		}
		if _, ok := r.body["rows"]; ok {
			t.Errorf("a rejected session returned rows: %s", r.raw)
		}
		if r.body["execution"] != nil {
			t.Errorf("a rejected session ran: execution = %v", r.body["execution"])
		}
		ap, _ := r.body["approval"].(map[string]any)
		if ap["decision"] != "rejected" || ap["decided_by"] != "approver2@example.com" {
			t.Errorf("approval = %v", ap)
		}
		want := []string{"session.received", "policy.decided", "approval.requested", "approval.decided", "session.completed"}
		if diff := cmp.Diff(want, timelineTypes(r.body)); diff != "" {
			t.Errorf("timeline (-want, +got):\n%s", diff)
		}
	})
}

// TestApprovalExpires lets the approval window (3s, from a policy file)
// run out: the agent's wait ends with expired, nothing runs, and the mailed
// link is refused afterwards.
func TestApprovalExpires(t *testing.T) {
	src := string(policy.DefaultYAML())
	if n := strings.Count(src, "approval_ttl: 15m"); n != 2 {
		t.Fatalf("default policy has %d approval_ttl: 15m lines, want 2 (defaults and rule)", n)
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(src, "approval_ttl: 15m", "approval_ttl: 3s")), 0o600); err != nil {
		t.Fatal(err)
	}
	g, _ := startGatewayConfig(t, local.Config{PolicyFile: file})
	alice := token(t, g, "alice@example.com", "analysts")
	id := submitForApproval(t, g, alice, "everything about five customers")
	m := waitMail(t, g, "approver1@example.com", id)
	approve, _ := approvalLinks(t, g, m)

	r := waitSession(t, g, alice, id)
	if r.body["status"] != "expired" {
		t.Fatalf("agent's wait ended with %v, want expired: %s", r.body["status"], r.raw)
	}
	if reasons := stringsOf(r.body["reasons"]); !slices.Contains(reasons, "no approver decided before the approval expired") {
		t.Errorf("reasons = %v", reasons)
	}
	if _, ok := r.body["rows"]; ok || r.body["execution"] != nil {
		t.Errorf("an expired session ran: %s", r.raw)
	}
	ap, _ := r.body["approval"].(map[string]any)
	if ap["decision"] != "expired" || ap["decided_by"] != nil && ap["decided_by"] != "" {
		t.Errorf("approval = %v", ap)
	}
	want := []string{"session.received", "policy.decided", "approval.requested", "approval.expired", "session.completed"}
	if diff := cmp.Diff(want, timelineTypes(r.body)); diff != "" {
		t.Errorf("timeline (-want, +got):\n%s", diff)
	}

	// The link is refused now, with a clear page, and changes nothing.
	b := newHTTPBrowser(t)
	if p := b.get(approve); p.status != http.StatusGone || p.code() != "link_expired" {
		t.Errorf("expired link: %d code %q, want 410 link_expired", p.status, p.code())
	}
	after := do(t, "GET", g.URL+"/v1/sessions/"+id, alice, nil)
	if after.body["status"] != "expired" || after.body["updated_at"] != r.body["updated_at"] {
		t.Errorf("opening the expired link changed the session: %v -> %v", r.body["updated_at"], after.body["updated_at"])
	}
}
