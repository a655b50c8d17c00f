package approval

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

const demoSQL = "SELECT country, COUNT(*) AS n FROM demo.customers GROUP BY country"

func TestDecideApproveAndDeny(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, link, decision, comment string
		wantDecision                  string
		wantTitle                     string
	}{
		{name: "approve", link: "approve", decision: "approve", comment: "ok for the quarterly report", wantDecision: "approved", wantTitle: "<h1>Approved</h1>"},
		{name: "deny", link: "deny", decision: "deny", comment: "", wantDecision: "rejected", wantTitle: "<h1>Denied</h1>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.heldSession("s1", demoSQL)
			e.notify("s1")
			approve, deny := e.links("bob@example.com", "s1")
			link := approve
			if tc.link == "deny" {
				link = deny
			}
			b := newBrowser(t)
			p := b.Get(link)
			if p.Status != 200 {
				t.Fatalf("GET page: status %d body %s", p.Status, p.Body)
			}
			e.clock.Advance(5 * time.Minute)
			res := b.submit(e, p, tc.decision, tc.comment)
			if res.Status != 200 || !strings.Contains(res.Body, tc.wantTitle) {
				t.Fatalf("POST decide: status %d, body %s", res.Status, res.Body)
			}
			bodies, auths := e.callback.Calls()
			wantBodies := []CallbackBody{{Decision: tc.wantDecision, Approver: "bob@example.com", Comment: tc.comment}}
			if diff := cmp.Diff(wantBodies, bodies); diff != "" {
				t.Errorf("callback bodies (-want, +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"Bearer tok-for-" + e.callback.URL}, auths); diff != "" {
				t.Errorf("callback auth (-want, +got):\n%s", diff)
			}
			s := e.get("s1")
			ap := s.Approval
			if ap.Decision != tc.wantDecision || ap.DecidedBy != "bob@example.com" || ap.Comment != tc.comment || !ap.DecidedAt.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("approval = %+v", ap)
			}
			if len(ap.UsedTokens) != 1 {
				t.Errorf("used tokens = %v, want one", ap.UsedTokens)
			}
			last := s.Timeline[len(s.Timeline)-1]
			if d, ok := payloadOf(last).(session.ApprovalDecidedData); !ok || last.Actor != "bob@example.com" || d.Decision != tc.wantDecision {
				t.Errorf("last event = %+v", last)
			}
			if n := s.VerifyChain(); n != 0 {
				t.Errorf("timeline chain broken at %d", n)
			}
			req, err := e.state.Get(context.Background(), "s1")
			if err != nil || !req.DeliveredAt.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("state = %+v, %v; want delivered", req, err)
			}
			if again := b.Get(link); again.Status != 409 || again.Code() != "link_used" {
				t.Errorf("GET spent link: status %d code %q, want 409 link_used", again.Status, again.Code())
			}
		})
	}
}

func TestCallbackFailureThenRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.notify("s1")
	approve, _ := e.links("carol@example.com", "s1")
	b := newBrowser(t)
	p := b.Get(approve)
	e.callback.FailNext(1)
	res := b.submit(e, p, "approve", "go")
	if res.Status != 502 || res.Code() != "delivery_failed" || !strings.Contains(res.Body, `id="retry"`) {
		t.Fatalf("first POST: status %d code %q body %s", res.Status, res.Code(), res.Body)
	}
	if bodies, _ := e.callback.Calls(); len(bodies) != 0 {
		t.Fatalf("callback recorded %v despite failing", bodies)
	}
	req, _ := e.state.Get(context.Background(), "s1")
	if !req.DeliveredAt.IsZero() {
		t.Fatal("delivery marked although the callback failed")
	}
	// The decision is recorded; another approver can no longer decide.
	other, _ := e.links("bob@example.com", "s1")
	if op := newBrowser(t).Get(other); op.Status != 409 || op.Code() != "not_pending" {
		t.Errorf("other approver's page: status %d code %q", op.Status, op.Code())
	}
	// The retry form posts the same link again and only redelivers.
	before := e.get("s1")
	retry := b.Post(e.srv.URL+"/approval/decide", res.Fields)
	if retry.Status != 200 || !strings.Contains(retry.Body, "<h1>Approved</h1>") {
		t.Fatalf("retry POST: status %d body %s", retry.Status, retry.Body)
	}
	bodies, _ := e.callback.Calls()
	if diff := cmp.Diff([]CallbackBody{{Decision: "approved", Approver: "carol@example.com", Comment: "go"}}, bodies); diff != "" {
		t.Errorf("callback bodies (-want, +got):\n%s", diff)
	}
	if after := e.get("s1"); after.Version != before.Version {
		t.Errorf("redelivery changed the session: version %d -> %d", before.Version, after.Version)
	}
	// Once delivered, the link is spent.
	again := b.Post(e.srv.URL+"/approval/decide", res.Fields)
	if again.Status != 409 || again.Code() != "link_used" {
		t.Errorf("third POST: status %d code %q", again.Status, again.Code())
	}
}

// snapshot is the state a refused request must leave untouched.
type snapshot struct {
	version   int64
	events    int
	decision  string
	used      int
	callbacks int
}

func (e *env) snap(id string) snapshot {
	s := e.get(id)
	bodies, _ := e.callback.Calls()
	sn := snapshot{version: s.Version, events: len(s.Timeline), callbacks: len(bodies)}
	if s.Approval != nil {
		sn.decision, sn.used = s.Approval.Decision, len(s.Approval.UsedTokens)
	}
	return sn
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		act        func(t *testing.T, e *env, b *browser, p page) page
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{
			name: "forged_signature",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				f := cloneValues(p.Fields)
				tok := f.Get("token")
				// Flip one character of the signature.
				last := tok[len(tok)-2]
				repl := byte('A')
				if last == 'A' {
					repl = 'B'
				}
				f.Set("token", tok[:len(tok)-2]+string(repl)+tok[len(tok)-1:])
				f.Set("decision", "approve")
				return b.Post(e.srv.URL+"/approval/decide", f)
			},
			wantStatus: 400, wantCode: "link_invalid", wantText: "This approval link is not valid",
		},
		{
			name: "forged_claims_other_key",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				c := claimsOf(t, e, p.Fields.Get("token"))
				c.ID = ""
				forged, err := SignToken(context.Background(), StaticKeys{ID: "k1", Key: []byte("attacker-key-attacker-key-000000")}, c)
				if err != nil {
					t.Fatal(err)
				}
				f := cloneValues(p.Fields)
				f.Set("token", forged)
				f.Set("decision", "approve")
				return b.Post(e.srv.URL+"/approval/decide", f)
			},
			wantStatus: 400, wantCode: "link_invalid",
		},
		{
			name: "expired_link",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				e.clock.Advance(31 * time.Minute)
				return b.submit(e, p, "approve", "")
			},
			wantStatus: 410, wantCode: "link_expired", wantText: "This approval link has expired",
		},
		{
			name: "reused_link",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				if r := b.submit(e, p, "approve", ""); r.Status != 200 {
					t.Fatalf("first use: status %d", r.Status)
				}
				return page{}
			},
		},
		{
			name: "link_for_another_session",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				e.heldSession("s2", demoSQL+" LIMIT 5")
				e.notify("s2")
				other, _ := e.links("bob@example.com", "s2")
				op := b.Get(other)
				f := cloneValues(op.Fields)
				f.Set("session_id", "s1")
				f.Set("decision", "approve")
				res := b.Post(e.srv.URL+"/approval/decide", f)
				if s2 := e.get("s2"); s2.Approval.Decision != "" {
					t.Errorf("session s2 decided: %+v", s2.Approval)
				}
				return res
			},
			wantStatus: 400, wantCode: "wrong_session", wantText: "This link belongs to another query",
		},
		{
			name: "self_approval",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				// The requester is in the group but was not mailed; a link
				// minted for them anyway must not work.
				c := claimsOf(t, e, p.Fields.Get("token"))
				c.ID, c.Approver = "", "alice@example.com"
				tok, err := SignToken(context.Background(), e.keys, c)
				if err != nil {
					t.Fatal(err)
				}
				if gp := b.Get(e.svc.link(tok)); gp.Status != 403 || gp.Code() != "self_approval" {
					t.Errorf("GET self link: status %d code %q", gp.Status, gp.Code())
				}
				// The page refused to set a CSRF cookie for this link, so
				// plant a valid one: the refusal must come from the
				// self-approval check, not from CSRF.
				c2, _ := ParseToken(context.Background(), e.keys, tok)
				nonce := newNonce()
				u, _ := url.Parse(e.srv.URL + "/approval")
				b.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName(c2.ID), Value: nonce, Path: "/approval"}})
				f := url.Values{"token": {tok}, "session_id": {"s1"}, "decision": {"approve"},
					"csrf": {csrfValue(e.keys.Key, c2.ID, nonce)}}
				return b.Post(e.srv.URL+"/approval/decide", f)
			},
			wantStatus: 403, wantCode: "self_approval", wantText: "You cannot approve your own query",
		},
		{
			// Handled in the loop: the snapshot must follow the test's own
			// SQL change.
			name:       "sql_changed_after_send",
			wantStatus: 409, wantCode: "sql_changed", wantText: "The SQL changed after this link was sent",
		},
		{
			name: "get_alone",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				// A mail scanner fetching both links, twice.
				approve, deny := e.links("bob@example.com", "s1")
				for range 2 {
					for _, l := range []string{approve, deny} {
						if g := newBrowser(t).Get(l); g.Status != 200 {
							t.Fatalf("GET %s: %d", l, g.Status)
						}
					}
				}
				return newBrowser(t).Get(approve + "&decision=approve")
			},
		},
		{
			name: "post_without_csrf",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				f := cloneValues(p.Fields)
				f.Del("csrf")
				f.Set("decision", "approve")
				return b.Post(e.srv.URL+"/approval/decide", f)
			},
			wantStatus: 403, wantCode: "csrf", wantText: "The form could not be verified",
		},
		{
			name: "post_from_other_browser",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				// The hidden field is right but the cookie is not this one's.
				other := newBrowser(t)
				other.Get(e.links2(t, "bob@example.com", "s1"))
				f := cloneValues(p.Fields)
				f.Set("decision", "approve")
				return other.Post(e.srv.URL+"/approval/decide", f)
			},
			wantStatus: 403, wantCode: "csrf",
		},
		{
			name: "bad_decision_value",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				return b.submit(e, p, "approved", "")
			},
			wantStatus: 400, wantCode: "bad_form",
		},
		{
			// A link's decision binds: the Approve link's form cannot deny.
			name: "deny_with_approve_link",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				return b.submit(e, p, "deny", "changed my mind")
			},
			wantStatus: 400, wantCode: "wrong_decision", wantText: "This link cannot make that decision",
		},
		{
			// The attack of issue 10: the Deny link's form posted with
			// decision=approve approved the query.
			name: "approve_with_deny_link",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				_, deny := e.links("bob@example.com", "s1")
				dp := b.Get(deny)
				if dp.Status != 200 {
					t.Fatalf("GET deny page: status %d", dp.Status)
				}
				return b.submit(e, dp, "approve", "")
			},
			wantStatus: 400, wantCode: "wrong_decision", wantText: "This link cannot make that decision",
		},
		{
			name: "get_on_decide",
			act: func(t *testing.T, e *env, b *browser, p page) page {
				return b.Get(e.srv.URL + "/approval/decide?" + p.Fields.Encode() + "&decision=approve")
			},
			wantStatus: 405, wantCode: "method",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.heldSession("s1", demoSQL)
			e.notify("s1")
			approve, _ := e.links("bob@example.com", "s1")
			b := newBrowser(t)
			p := b.Get(approve)
			if p.Status != 200 || p.Fields.Get("csrf") == "" {
				t.Fatalf("GET page: status %d, fields %v", p.Status, p.Fields)
			}
			switch tc.name {
			case "reused_link":
				tc.act(t, e, b, p)
				before := e.snap("s1")
				res := b.submit(e, p, "approve", "second try")
				assertRefused(t, e, before, res, 409, "link_used", "This approval link was already used")
				return
			case "get_alone":
				before := e.snap("s1")
				res := tc.act(t, e, b, p)
				if res.Status != 200 {
					t.Errorf("GET status %d", res.Status)
				}
				if after := e.snap("s1"); after != before {
					t.Errorf("GET changed state: before %+v after %+v", before, after)
				}
				if s := e.get("s1"); s.Status != session.StatusPendingApproval || s.Approval.Decision != "" {
					t.Errorf("after GETs: status %s, decision %q", s.Status, s.Approval.Decision)
				}
				return
			case "sql_changed_after_send":
				// The snapshot must include the test's own SQL change.
				_, err := e.store.Update(context.Background(), "s1", func(s *session.Session) error {
					s.SQL = "SELECT * FROM demo.customers"
					s.SQLSHA256 = session.SQLHash(s.SQL)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				before := e.snap("s1")
				if gp := b.Get(approve); gp.Status != 409 || gp.Code() != "sql_changed" {
					t.Errorf("GET after SQL change: status %d code %q", gp.Status, gp.Code())
				}
				res := b.submit(e, p, "approve", "")
				assertRefused(t, e, before, res, tc.wantStatus, tc.wantCode, tc.wantText)
				return
			}
			before := e.snap("s1")
			res := tc.act(t, e, b, p)
			assertRefused(t, e, before, res, tc.wantStatus, tc.wantCode, tc.wantText)
		})
	}
}

func assertRefused(t *testing.T, e *env, before snapshot, res page, status int, code, text string) {
	t.Helper()
	if res.Status != status || res.Code() != code {
		t.Errorf("status %d code %q, want %d %q; body:\n%s", res.Status, res.Code(), status, code, res.Body)
	}
	if text != "" && !strings.Contains(res.Body, text) {
		t.Errorf("page lacks %q", text)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("refusal page CSP = %q", csp)
	}
	if after := e.snap("s1"); after != before {
		t.Errorf("refusal changed state: before %+v after %+v", before, after)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func claimsOf(t *testing.T, e *env, tok string) Claims {
	t.Helper()
	c, err := ParseToken(context.Background(), e.keys, tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) links2(t *testing.T, rcpt, id string) string {
	a, _ := e.links(rcpt, id)
	return a
}

func TestPageContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL+" -- </pre><script>alert(1)</script>")
	e.notify("s1")
	approve, deny := e.links("carol@example.com", "s1")
	b := newBrowser(t)
	p := b.Get(approve)
	if p.Status != 200 {
		t.Fatalf("status %d", p.Status)
	}
	wantHeaders := map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range wantHeaders {
		if got := p.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	setCookie := p.Header.Get("Set-Cookie")
	for _, want := range []string{csrfCookie + "_", "HttpOnly", "SameSite=Strict", "Path=/approval"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	for _, want := range []string{
		"Approve this query?",
		"This link was sent to <b>carol@example.com</b>",
		"alice@example.com",
		"claude-code (m1)",
		"How many customers per country? &lt;b&gt;bold&lt;/b&gt;",
		"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
		"reads PII column demo.customers.email",
		"1.5 GiB (1610612736 bytes)",
		"2026-11-28 09:30 UTC",
		`<form method="post" action="/approval/decide">`,
		`<textarea id="comment" name="comment" maxlength="2000">`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(p.Body, "<script") {
		t.Error("page contains a script tag")
	}
	// Each link's page offers only the decision the link can post.
	if !strings.Contains(p.Body, `id="approve"`) || strings.Contains(p.Body, `id="deny"`) {
		t.Error("approve link: page does not offer exactly the Approve button")
	}
	d := b.Get(deny)
	if !strings.Contains(d.Body, "Deny this query?") || !strings.Contains(d.Body, `id="deny"`) || strings.Contains(d.Body, `id="approve"`) {
		t.Error("deny link: page does not offer exactly the Deny button")
	}
}

// TestTwoPagesSideBySide opens two links in one browser before deciding on
// either: each page's form must still verify.
func TestTwoPagesSideBySide(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.heldSession("s2", demoSQL+" LIMIT 1")
	e.notify("s1")
	e.notify("s2")
	l1, _ := e.links("bob@example.com", "s1")
	_, l2 := e.links("bob@example.com", "s2")
	b := newBrowser(t)
	p1, p2 := b.Get(l1), b.Get(l2)
	if r := b.submit(e, p1, "approve", ""); r.Status != 200 {
		t.Errorf("first page: status %d code %q", r.Status, r.Code())
	}
	if r := b.submit(e, p2, "deny", ""); r.Status != 200 {
		t.Errorf("second page: status %d code %q", r.Status, r.Code())
	}
	if got := []string{e.get("s1").Approval.Decision, e.get("s2").Approval.Decision}; !cmp.Equal(got, []string{"approved", "rejected"}) {
		t.Errorf("decisions = %v", got)
	}
}

// payloadOf returns e's typed payload, or nil when it does not decode.
func payloadOf(e session.Event) session.Payload {
	p, err := e.Payload()
	if err != nil {
		return nil
	}
	return p
}
