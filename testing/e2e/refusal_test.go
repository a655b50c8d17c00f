package e2e

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
)

// snapshot is what a refused attempt must leave as it was.
type snapshot struct {
	version  int64
	status   session.Status
	decision string
	used     int
}

func snap(t *testing.T, g *local.Gateway, id string) snapshot {
	t.Helper()
	s, err := g.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := snapshot{version: s.Version, status: s.Status}
	if s.Approval != nil {
		out.decision, out.used = s.Approval.Decision, len(s.Approval.UsedTokens)
	}
	return out
}

// post submits an approval form with b's cookies.
func (b *httpBrowser) post(g *local.Gateway, f url.Values) formPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL+"/approval/decide", strings.NewReader(f.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func formOf(p formPage, decision string) url.Values {
	f := url.Values{}
	for k, v := range p.fields {
		f[k] = v
	}
	f.Set("decision", decision)
	f.Set("comment", "refusal test")
	return f
}

// TestApprovalRefusals checks issue 5's refusals through the local gateway:
// each attempt is refused with a page naming the reason, and leaves the
// held session exactly as it was (same version, still pending, no link
// spent). The expired link is in TestApprovalExpires.
func TestApprovalRefusals(t *testing.T) {
	dir := t.TempDir()
	g, _ := startGatewayConfig(t, local.Config{DataDir: dir})
	alice := token(t, g, "alice@example.com", "analysts")
	// pending holds a new session of alice's and returns approver1's links.
	pending := func(t *testing.T) (id, approve, deny string) {
		t.Helper()
		id = submitForApproval(t, g, alice, "refusal test")
		approve, deny = approvalLinks(t, g, waitMail(t, g, "approver1@example.com", id))
		return id, approve, deny
	}
	// refused checks the page's code and status and that id is unchanged.
	refused := func(t *testing.T, p formPage, wantStatus int, wantCode, id string, before snapshot) {
		t.Helper()
		if p.status != wantStatus || p.code() != wantCode {
			t.Errorf("got %d code %q, want %d %q", p.status, p.code(), wantStatus, wantCode)
		}
		if !strings.Contains(p.body, "<h1>") || !strings.Contains(p.body, `class="refusal"`) {
			t.Errorf("refusal page has no title: %s", p.body)
		}
		if after := snap(t, g, id); after != before {
			t.Errorf("refused attempt changed session %s: %+v -> %+v", id, before, after)
		}
		if before.status != session.StatusPendingApproval {
			t.Errorf("session %s was %s before the attempt, want pending_approval", id, before.status)
		}
	}

	t.Run("GET alone decides nothing", func(t *testing.T) {
		id, approve, deny := pending(t)
		before := snap(t, g, id)
		b := newHTTPBrowser(t)
		for _, l := range []string{approve, approve, deny} { // a mail scanner prefetching
			if p := b.get(l); p.status != http.StatusOK || p.fields.Get("csrf") == "" {
				t.Errorf("GET %s = %d code %q, want the page", l, p.status, p.code())
			}
		}
		if after := snap(t, g, id); after != before {
			t.Errorf("GETs changed the session: %+v -> %+v", before, after)
		}
	})

	t.Run("POST without its CSRF token", func(t *testing.T) {
		id, approve, _ := pending(t)
		b := newHTTPBrowser(t)
		f := formOf(b.get(approve), "approve")
		f.Del("csrf")
		before := snap(t, g, id)
		refused(t, b.post(g, f), http.StatusForbidden, "csrf", id, before)
	})

	t.Run("POST from another browser", func(t *testing.T) {
		id, approve, _ := pending(t)
		f := formOf(newHTTPBrowser(t).get(approve), "approve")
		before := snap(t, g, id)
		// The CSRF field is bound to the first browser's cookie.
		refused(t, newHTTPBrowser(t).post(g, f), http.StatusForbidden, "csrf", id, before)
	})

	t.Run("forged signature", func(t *testing.T) {
		id, approve, _ := pending(t)
		u, _ := url.Parse(approve)
		tok := u.Query().Get("token")
		last := tok[len(tok)-2]
		repl := byte('A')
		if last == 'A' {
			repl = 'B'
		}
		forged := tok[:len(tok)-2] + string(repl) + tok[len(tok)-1:]
		b := newHTTPBrowser(t)
		before := snap(t, g, id)
		refused(t, b.get(g.URL+"/approval?token="+url.QueryEscape(forged)), http.StatusBadRequest, "link_invalid", id, before)
		f := formOf(b.get(approve), "approve")
		f.Set("token", forged)
		refused(t, b.post(g, f), http.StatusBadRequest, "link_invalid", id, before)
	})

	t.Run("link for another session", func(t *testing.T) {
		idA, approveA, _ := pending(t)
		idB, _, _ := pending(t)
		b := newHTTPBrowser(t)
		f := formOf(b.get(approveA), "approve")
		f.Set("session_id", idB)
		beforeA, beforeB := snap(t, g, idA), snap(t, g, idB)
		refused(t, b.post(g, f), http.StatusBadRequest, "wrong_session", idB, beforeB)
		if after := snap(t, g, idA); after != beforeA {
			t.Errorf("session A changed: %+v -> %+v", beforeA, after)
		}
	})

	t.Run("deny link cannot approve", func(t *testing.T) {
		// Issue 10, finding 6: the Deny link's form posted with
		// decision=approve approved the query.
		id, _, deny := pending(t)
		b := newHTTPBrowser(t)
		page := b.get(deny)
		if page.status != http.StatusOK {
			t.Fatalf("GET deny page: %d", page.status)
		}
		before := snap(t, g, id)
		refused(t, b.post(g, formOf(page, "approve")), http.StatusBadRequest, "wrong_decision", id, before)
	})

	t.Run("link used a second time", func(t *testing.T) {
		id, _, deny := pending(t)
		b := newHTTPBrowser(t)
		page, res := b.decide(g, deny, "deny", "first use")
		if res.code() != "rejected" {
			t.Fatalf("first use: %d %q", res.status, res.code())
		}
		r := waitSession(t, g, alice, id)
		if r.body["status"] != "rejected" {
			t.Fatalf("status %v", r.body["status"])
		}
		before := snap(t, g, id)
		p := b.post(g, formOf(page, "deny"))
		if p.status != http.StatusConflict || p.code() != "link_used" {
			t.Errorf("second use: %d code %q, want 409 link_used", p.status, p.code())
		}
		if after := snap(t, g, id); after != before {
			t.Errorf("second use changed the session: %+v -> %+v", before, after)
		}
	})

	t.Run("self-approval", func(t *testing.T) {
		// approver1 asks; only approver2 is asked to decide.
		self := token(t, g, "approver1@example.com", "analysts")
		id := submitForApprovers(t, g, self, "my own query", []string{"approver2@example.com"})
		waitMail(t, g, "approver2@example.com", id)
		for _, m := range g.Sink.Messages() {
			if m.To == "approver1@example.com" && strings.Contains(m.Subject, id) {
				t.Errorf("the requester was mailed a link for their own session")
			}
		}
		// A validly signed link for the requester (a leaked key, a
		// misconfigured group) is still refused.
		keys, err := approval.OpenFileKeys(filepath.Join(dir, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := g.Store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := approval.SignToken(context.Background(), keys, approval.Claims{SessionID: id, SQLSHA256: s.SQLSHA256, RunSHA256: approval.RunHash(s),
			Approver: "approver1@example.com", Decision: approval.DecisionApprove, ExpiresAt: s.Approval.ExpiresAt.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		before := snap(t, g, id)
		b := newHTTPBrowser(t)
		p := b.get(g.URL + "/approval?token=" + url.QueryEscape(tok))
		if p.status == http.StatusOK {
			// Shown, so the POST must refuse.
			p = b.post(g, formOf(p, "approve"))
		}
		refused(t, p, http.StatusForbidden, "self_approval", id, before)
	})

	t.Run("SQL changed after the link was sent", func(t *testing.T) {
		id, approve, _ := pending(t)
		b := newHTTPBrowser(t)
		page := b.get(approve)
		if _, err := g.Store.Update(context.Background(), id, func(x *session.Session) error {
			x.SQL = "SELECT * FROM demo.customers"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		before := snap(t, g, id)
		refused(t, b.post(g, formOf(page, "approve")), http.StatusConflict, "sql_changed", id, before)
	})
}
