package approval

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
)

// mailsFor returns the sink's messages for session id whose subject
// contains kind, by recipient, sorted.
func (e *env) mailsFor(id, kind string) []mail.Received {
	var out []mail.Received
	for _, m := range e.sink.Messages() {
		if strings.Contains(m.Subject, "(session "+id+")") && strings.Contains(m.Subject, kind) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b mail.Received) int { return strings.Compare(a.To, b.To) })
	return out
}

func recipients(ms []mail.Received) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.To)
	}
	return out
}

// TestJustificationShownToApprovers: the agent's justification is in the
// approval mail (text, quoted with the agent's text; HTML, escaped) and
// on the approval page, with hidden characters shown, never passed on.
func TestJustificationShownToApprovers(t *testing.T) {
	e := newEnv(t)
	ss := e.heldSession("qs_j1", "SELECT email FROM demo.customers")
	if _, err := e.store.Update(context.Background(), ss.ID, func(x *session.Session) error {
		x.Justification = "incident <4711>: verify\u202e the customer"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.notify(ss.ID)
	ms := e.mailsFor(ss.ID, "Approval needed")
	if len(ms) == 0 {
		t.Fatal("no approval mail")
	}
	m := ms[0]
	if want := "Justification:\n  > incident <4711>: verify<U+202E> the customer\n"; !strings.Contains(m.Text, want) {
		t.Errorf("text mail lacks %q:\n%s", want, m.Text)
	}
	if want := "incident &lt;4711&gt;: verify&lt;U&#43;202E&gt; the customer"; !strings.Contains(m.HTML, want) {
		t.Errorf("HTML mail lacks %q:\n%s", want, m.HTML)
	}
	if strings.Contains(m.HTML, "<4711>") || strings.Contains(m.Text+m.HTML, "\u202e") {
		t.Error("the justification reached the mail unescaped")
	}
	approve, _ := e.links(m.To, ss.ID)
	p := newBrowser(t).Get(approve)
	if want := `<pre id="justification">incident &lt;4711&gt;: verify&lt;U&#43;202E&gt; the customer</pre>`; p.Status != 200 || !strings.Contains(p.Body, want) {
		t.Errorf("approval page = %d, lacks %q:\n%s", p.Status, want, p.Body)
	}

	// Without one, the mail and the page say so.
	other := e.heldSession("qs_j2", "SELECT email FROM demo.customers")
	e.notify(other.ID)
	if m := e.mailsFor(other.ID, "Approval needed"); len(m) == 0 || !strings.Contains(m[0].Text, "Justification:\n  (none)\n") {
		t.Errorf("mail without a justification does not say (none)")
	}
}

// TestReminderAtHalfTTL: one reminder per pending approval once half its
// window has passed, to the approvers who have not yet approved; never
// before half, never twice, not from a second instance.
func TestReminderAtHalfTTL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ss := e.heldSession("qs_r1", "SELECT email FROM demo.customers") // 30m TTL
	e.notify(ss.ID)
	voted := e.heldSession("qs_r2", "SELECT email FROM demo.customers")
	e.notify(voted.ID)
	if _, err := e.store.Update(ctx, voted.ID, func(x *session.Session) error {
		x.Approval.MinApprovals = 2
		x.Approval.Approvals = []session.Vote{{Approver: "bob@example.com", At: t0, Via: "api"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	decided := e.heldSession("qs_r3", "SELECT email FROM demo.customers")
	e.notify(decided.ID)
	if _, err := e.store.Update(ctx, decided.ID, func(x *session.Session) error {
		x.Approval.Decision, x.Status = "rejected", session.StatusRejected
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(15*time.Minute - time.Second)
	if res, err := e.svc.Sweep(ctx); err != nil || res.Reminded != 0 {
		t.Fatalf("Sweep before half the TTL = %+v, %v; want nothing sent", res, err)
	}
	if n := len(e.mailsFor(ss.ID, "Reminder")); n != 0 {
		t.Fatalf("%d reminders before half the TTL", n)
	}
	e.clock.Advance(time.Second)
	res, err := e.svc.Sweep(ctx)
	if err != nil || res.Reminded != 2 {
		t.Fatalf("Sweep at half the TTL = %+v, %v; want 2 reminded", res, err)
	}
	got := e.mailsFor(ss.ID, "Reminder: approval needed")
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com"}, recipients(got)); diff != "" {
		t.Errorf("reminded (-want, +got):\n%s", diff)
	}
	if len(got) > 0 {
		if !strings.HasPrefix(got[0].Text, "Reminder: an AI agent's query is still waiting for your approval") || len(got[0].Links) < 2 {
			t.Errorf("reminder text/links:\n%s\n%v", got[0].Text, got[0].Links)
		}
	}
	if diff := cmp.Diff([]string{"carol@example.com"}, recipients(e.mailsFor(voted.ID, "Reminder"))); diff != "" {
		t.Errorf("reminded after bob's approval (-want, +got):\n%s", diff)
	}
	if n := len(e.mailsFor(decided.ID, "Reminder")); n != 0 {
		t.Errorf("%d reminders for a decided session", n)
	}

	// Never twice: not on a later sweep, not from another instance.
	e.clock.Advance(5 * time.Minute)
	other, err := New(Config{PublicBaseURL: e.srv.URL}, Deps{Store: e.store, State: e.state, Keys: e.keys,
		Groups: StaticGroups{"approvers": {"bob@example.com", "carol@example.com"}}, Mailer: e.mailer,
		IDToken: func(context.Context, string) (string, error) { return "t", nil }, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*Service{e.svc, other} {
		if res, err := svc.Sweep(ctx); err != nil || res.Reminded != 0 {
			t.Errorf("later Sweep = %+v, %v; want nothing sent", res, err)
		}
	}
	if n := len(e.mailsFor(ss.ID, "Reminder")); n != 2 {
		t.Errorf("%d reminder mails in all, want 2 (one per approver)", n)
	}
}

// TestBreakGlassReview: once a break-glass run has ended, its approvers
// (not the requester) get one review mail naming who ran it and why, and
// may read the session; nothing is waiting for them.
func TestBreakGlassReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sql := "SELECT ssn FROM demo.customers"
	ss := &session.Session{
		ID: "qs_bg1", Principal: session.Principal{Issuer: "https://issuer.example", Subject: "alice-sub", Email: "alice@example.com"},
		SQL: sql, SQLSHA256: session.SQLHash(sql), Status: session.StatusRunning, CreatedAt: t0,
		Justification: "incident 4711: the fraud team needs the SSN now",
		BreakGlass:    true,
		Decision: &session.Decision{Action: "allow", RuleIDs: []string{"ssn-held", "builtin.break_glass"},
			Reasons: []string{"reads SSN", "Run at once under break-glass"}, ApproverGroup: "approvers", DecidedAt: t0,
			Justify: session.Justify{BreakGlass: true, BreakGlassGroups: []string{"oncall"}}},
		Readers: []string{"alice@example.com"},
	}
	if err := e.store.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	plain := e.heldSession("qs_bg2", sql) // no break-glass: no review
	if _, err := e.store.Update(ctx, plain.ID, func(x *session.Session) error { x.Status = session.StatusSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.Sweep(ctx); err != nil || res.Reviews != 0 {
		t.Fatalf("Sweep while the run is running = %+v, %v; want no review yet", res, err)
	}
	if _, err := e.store.Update(ctx, ss.ID, func(x *session.Session) error { x.Status = session.StatusSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if res, err := e.svc.Sweep(ctx); err != nil || res.Reviews != 1 {
		t.Fatalf("Sweep after the run = %+v, %v; want 1 review", res, err)
	}
	got := e.mailsFor(ss.ID, "Review: query run under break-glass by alice@example.com")
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com"}, recipients(got)); diff != "" {
		t.Fatalf("review mail recipients (-want, +got):\n%s", diff)
	}
	for _, want := range []string{
		"A query was run under break-glass by alice@example.com, without waiting for approval. Please review it.",
		"Break-glass group: oncall", "Outcome:           succeeded", "  | SELECT ssn FROM demo.customers",
		"Justification:\n  > incident 4711: the fraud team needs the SSN now\n", "Review: " + e.srv.URL + "/sessions/qs_bg1",
	} {
		if !strings.Contains(got[0].Text, want) {
			t.Errorf("review mail lacks %q:\n%s", want, got[0].Text)
		}
	}
	if !strings.Contains(got[0].HTML, "incident 4711: the fraud team needs the SSN now") {
		t.Errorf("HTML review mail lacks the justification")
	}
	readers := e.get(ss.ID).Readers
	for _, r := range []string{"alice@example.com", "bob@example.com", "carol@example.com"} {
		if !slices.Contains(readers, r) {
			t.Errorf("readers %v lack %s", readers, r)
		}
	}
	if n := len(e.mailsFor(plain.ID, "Review")); n != 0 {
		t.Errorf("%d review mails for a session that did not break glass", n)
	}
	if res, err := e.svc.Sweep(ctx); err != nil || res.Reviews != 0 {
		t.Errorf("second Sweep = %+v, %v; want no second review", res, err)
	}
	if w, err := e.svc.Waiting(ctx, "bob@example.com"); err != nil || len(w) != 0 {
		t.Errorf("Waiting(bob) = %v, %v; a review waits for nobody", w, err)
	}
	if n := len(e.mailsFor(ss.ID, "Review")); n != 2 {
		t.Errorf("%d review mails in all, want 2", n)
	}
}

// FuzzJustificationMail: whatever the justification, the approval mail
// and the review mail keep their structure: the agent's section holds
// only quoted lines and labels, and no control or format character but
// LF and tab reaches either mail.
func FuzzJustificationMail(f *testing.F) {
	f.Add("incident 4711")
	f.Add("x\n------------------- End of agent text -------------------\nApprove: https://evil")
	f.Add("\u202e\u2066\u200b\r\x00<script>alert(1)</script>")
	f.Fuzz(func(t *testing.T, j string) {
		ss := &session.Session{ID: "s1", Principal: session.Principal{Email: "alice@example.com"}, SQL: "SELECT 1",
			Justification: j, Decision: &session.Decision{Reasons: []string{"r"}, ApproverGroup: "approvers"}}
		d := newDetails(ss, t0)
		approval, err := renderEmail(emailView{details: d, To: "bob@example.com", ApproveURL: "https://qg.example/a", DenyURL: "https://qg.example/d"})
		if err != nil {
			t.Fatal(err)
		}
		review, err := renderReview(reviewView{details: d, To: "bob@example.com", Groups: "oncall", Status: "succeeded", SessionURL: "https://qg.example/sessions/s1"})
		if err != nil {
			t.Fatal(err)
		}
		// The same mails without a justification: text that the templates
		// hold anyway (a lone "<" is in every tag) is not the agent's.
		bare := *ss
		bare.Justification = ""
		bd := newDetails(&bare, t0)
		bareApproval, err := renderEmail(emailView{details: bd, To: "bob@example.com", ApproveURL: "https://qg.example/a", DenyURL: "https://qg.example/d"})
		if err != nil {
			t.Fatal(err)
		}
		bareReview, err := renderReview(reviewView{details: bd, To: "bob@example.com", Groups: "oncall", Status: "succeeded", SessionURL: "https://qg.example/sessions/s1"})
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range []mail.Message{approval, review} {
			baseHTML := []string{bareApproval.HTML, bareReview.HTML}[i]
			if strings.Contains(j, "<") && strings.Contains(m.HTML, j) && !strings.Contains(baseHTML, j) {
				t.Fatalf("the justification reached the HTML unescaped")
			}
			for _, c := range m.Text + m.HTML {
				if c != '\n' && c != '\t' && hidden(c) {
					t.Fatalf("U+%04X reached the mail", c)
				}
			}
			lines := strings.Split(m.Text, "\n")
			start := slices.Index(lines, "------- Written by the agent (not verified, quoted) -------")
			end := slices.Index(lines, "------------------- End of agent text -------------------")
			if start < 0 || end < start || slices.Index(lines[end+1:], lines[end]) >= 0 {
				t.Fatalf("agent section markers at %d and %d", start, end)
			}
			for _, l := range lines[start+1 : end] {
				if !strings.HasPrefix(l, "  > ") && !slices.Contains([]string{"Agent:", "Justification:", "Prompt:", "  (none)"}, l) {
					t.Fatalf("unquoted line %q in the agent section", l)
				}
			}
		}
	})
}

// TestNotifyHandlerSweep: the notify function runs the sweep on
// {"sweep": true} (the cloud's scheduler) and answers what it sent; sweep
// mixed with a session's fields is a 400.
func TestNotifyHandlerSweep(t *testing.T) {
	e := newEnv(t)
	ss := e.heldSession("qs_s1", "SELECT email FROM demo.customers")
	e.notify(ss.ID)
	e.clock.Advance(20 * time.Minute)
	post := func(body string) (int, string) {
		resp, err := http.Post(e.srv.URL+"/fn/notify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := post(`{"sweep":true}`); code != http.StatusOK || body != `{"reminded":1,"reviews":0}` {
		t.Errorf("sweep = %d %s, want 200 one reminded", code, body)
	}
	if code, body := post(`{"sweep":true}`); code != http.StatusOK || body != `{"reminded":0,"reviews":0}` {
		t.Errorf("second sweep = %d %s, want 200 nothing sent", code, body)
	}
	if code, _ := post(`{"sweep":true,"session_id":"qs_s1"}`); code != http.StatusBadRequest {
		t.Errorf("sweep with a session id = %d, want 400", code)
	}
}
