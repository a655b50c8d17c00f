package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

func TestNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	res := e.notify("s1")
	want := NotifyResult{Notified: 2, ExpiresAt: t0.Add(30 * time.Minute)}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want, +got):\n%s", diff)
	}
	s := e.get("s1")
	if s.Status != session.StatusPendingApproval {
		t.Errorf("status = %s", s.Status)
	}
	wantAp := &session.Approval{
		Group:       "approvers",
		Approvers:   []string{"bob@example.com", "carol@example.com"}, // requester alice left out, Bob deduplicated
		RequestedAt: t0,
		ExpiresAt:   t0.Add(30 * time.Minute),
	}
	if diff := cmp.Diff(wantAp, s.Approval); diff != "" {
		t.Errorf("approval (-want, +got):\n%s", diff)
	}
	ev := s.Timeline[len(s.Timeline)-1]
	if d, ok := payloadOf(ev).(session.ApprovalRequestedData); !ok || d.Group != "approvers" || d.ExpiresAt != "2026-11-28T09:30:00Z" {
		t.Errorf("event = %+v", ev)
	}
	msgs := e.sink.Messages()
	var to []string
	for _, m := range msgs {
		to = append(to, m.To)
	}
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com"}, to); diff != "" {
		t.Errorf("recipients (-want, +got):\n%s", diff)
	}
	m := msgs[0]
	if m.Subject != "[querygate] Approval needed: query by alice@example.com (session s1)" {
		t.Errorf("subject = %q", m.Subject)
	}
	for _, part := range []struct{ name, body string }{{"text", m.Text}, {"html", m.HTML}} {
		for _, want := range []string{"alice@example.com", "claude-code (m1)", "How many customers per country?", "SELECT country, COUNT(*) AS n FROM demo.customers GROUP BY country", "reads PII column demo.customers.email", "scan over 1 GiB", "1.5 GiB (1610612736 bytes)", "2026-11-28 09:30 UTC"} {
			if !strings.Contains(part.body, want) {
				t.Errorf("%s part lacks %q", part.name, want)
			}
		}
	}
	if !strings.Contains(m.HTML, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Error("HTML part does not escape the prompt")
	}
	if len(m.Links) != 2 || !strings.HasPrefix(m.Links[0], e.srv.URL+"/approval?token=") {
		t.Fatalf("links = %v", m.Links)
	}
	ca, cd := claimsOf(t, e, tokenOf(t, m.Links[0])), claimsOf(t, e, tokenOf(t, m.Links[1]))
	if ca.Decision != DecisionApprove || cd.Decision != DecisionDeny || ca.ID == cd.ID {
		t.Errorf("approve claims %+v, deny claims %+v", ca, cd)
	}
	wantClaims := Claims{SessionID: "s1", SQLSHA256: session.SQLHash(demoSQL), RunSHA256: RunHash(e.get("s1")), Approver: "bob@example.com", Decision: DecisionApprove, ExpiresAt: t0.Add(30 * time.Minute).Unix(), ID: ca.ID}
	if diff := cmp.Diff(wantClaims, ca); diff != "" {
		t.Errorf("approve claims (-want, +got):\n%s", diff)
	}
	req, err := e.state.Get(context.Background(), "s1")
	if err != nil || req.CallbackURL != e.callback.URL+"/callbacks/s1" {
		t.Errorf("state = %+v, %v", req, err)
	}
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "token=")
	if !ok {
		t.Fatalf("link %q has no token", link)
	}
	return tok
}

func TestNotifyIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.mailer.failOnce["carol@example.com"] = true
	if _, err := e.svc.Notify(context.Background(), "s1", e.callback.URL+"/cb/1"); err == nil {
		t.Fatal("Notify succeeded although one mail failed")
	}
	if n := len(e.sink.Messages()); n != 1 {
		t.Fatalf("after partial failure the sink holds %d mails, want 1", n)
	}
	// The workflow retries later, possibly with a new callback.
	e.clock.Advance(time.Minute)
	res, err := e.svc.Notify(context.Background(), "s1", e.callback.URL+"/cb/2")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Notify(context.Background(), "s1", e.callback.URL+"/cb/2")
	if err != nil {
		t.Fatal(err)
	}
	want := NotifyResult{Notified: 2, ExpiresAt: t0.Add(30 * time.Minute)}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("retry result (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("second retry result (-want, +got):\n%s", diff)
	}
	var to []string
	for _, m := range e.sink.Messages() {
		to = append(to, m.To)
	}
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com"}, to); diff != "" {
		t.Errorf("recipients over all attempts (-want, +got):\n%s", diff)
	}
	s := e.get("s1")
	var requested int
	for _, ev := range s.Timeline {
		if ev.Type == session.EventApprovalRequested {
			requested++
		}
	}
	if requested != 1 {
		t.Errorf("%d approval.requested events, want 1", requested)
	}
	req, _ := e.state.Get(context.Background(), "s1")
	if req.CallbackURL != e.callback.URL+"/cb/2" {
		t.Errorf("callback URL = %q, want the retry's", req.CallbackURL)
	}
	// A decision after the retry goes to the latest callback.
	approve, _ := e.links("bob@example.com", "s1")
	b := newBrowser(t)
	if r := b.submit(e, b.Get(approve), "approve", ""); r.Status != 200 {
		t.Fatalf("decide: %d %s", r.Status, r.Body)
	}
	// After the decision a retried notify mails nothing new.
	if _, err := e.svc.Notify(context.Background(), "s1", e.callback.URL+"/cb/2"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sink.Messages()); n != 2 {
		t.Errorf("sink holds %d mails after decided retry, want 2", n)
	}
}

func TestNotifyRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		setup    func(e *env)
		callback string
		cfg      func(*Config)
		wantCode string
		wantHTTP int
	}{
		{name: "unknown_session", setup: func(e *env) {}, wantCode: "not_found", wantHTTP: 404},
		{name: "not_held", setup: func(e *env) {
			s := e.heldSession("s1", demoSQL)
			_, _ = e.store.Update(context.Background(), s.ID, func(x *session.Session) error { x.Decision.Action = "allow"; return nil })
		}, wantCode: "no_approval_required", wantHTTP: 409},
		{name: "unknown_group", setup: func(e *env) {
			_, _ = e.store.Update(context.Background(), e.heldSession("s1", demoSQL).ID, func(x *session.Session) error { x.Decision.ApproverGroup = "nobody"; return nil })
		}, wantCode: "unknown_group", wantHTTP: 422},
		{name: "only_requester_in_group", setup: func(e *env) {
			e.svc.deps.Groups = StaticGroups{"approvers": {"ALICE@example.com"}}
			e.heldSession("s1", demoSQL)
		}, wantCode: "no_approvers", wantHTTP: 422},
		{name: "ended_session", setup: func(e *env) {
			_, _ = e.store.Update(context.Background(), e.heldSession("s1", demoSQL).ID, func(x *session.Session) error { x.Status = session.StatusFailed; return nil })
		}, wantCode: "session_ended", wantHTTP: 409},
		{name: "bad_callback_url", setup: func(e *env) { e.heldSession("s1", demoSQL) }, callback: "ftp://x/cb", wantCode: "bad_callback_url", wantHTTP: 400},
		{name: "callback_not_allowed", setup: func(e *env) {
			e.svc.cfg.CallbackURLPrefixes = []string{"https://workflowexecutions.googleapis.com/"}
			e.heldSession("s1", demoSQL)
		}, wantCode: "bad_callback_url", wantHTTP: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.setup(e)
			cb := tc.callback
			if cb == "" {
				cb = e.callback.URL + "/cb"
			}
			var before int64
			if s, err := e.store.Get(context.Background(), "s1"); err == nil {
				before = s.Version
			}
			body, _ := json.Marshal(map[string]string{"session_id": "s1", "callback_url": cb})
			resp, err := http.Post(e.srv.URL+"/fn/notify", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tc.wantHTTP || got["error"] != tc.wantCode {
				t.Errorf("status %d body %v, want %d %q", resp.StatusCode, got, tc.wantHTTP, tc.wantCode)
			}
			if s, err := e.store.Get(context.Background(), "s1"); err == nil && s.Version != before {
				t.Errorf("session changed: version %d -> %d", before, s.Version)
			}
			if n := len(e.sink.Messages()); n != 0 {
				t.Errorf("%d mails sent", n)
			}
		})
	}
}

func TestNotifyHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	post := func(body string) (int, string) {
		resp, err := http.Post(e.srv.URL+"/fn/notify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	status, body := post(`{"session_id":"s1","callback_url":"` + e.callback.URL + `/cb"}`)
	if status != 200 || body != `{"notified":2,"expires_at":"2026-11-28T09:30:00Z"}` {
		t.Errorf("notify: %d %s", status, body)
	}
	status, body = post(`{"session_id":"s1","callback_url":"` + e.callback.URL + `/cb"}`)
	if status != 200 || body != `{"notified":2,"expires_at":"2026-11-28T09:30:00Z"}` {
		t.Errorf("retried notify: %d %s", status, body)
	}
	if status, _ := post(`{"session_id":"s1","callback_url":"x","extra":1}`); status != 400 {
		t.Errorf("unknown field: status %d, want 400", status)
	}
	if status, _ := post(`not json`); status != 400 {
		t.Errorf("bad JSON: status %d, want 400", status)
	}
	resp, err := http.Get(e.srv.URL + "/fn/notify")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
	// A relay outage is a 502 the workflow retries.
	e2 := newEnv(t)
	e2.heldSession("s1", demoSQL)
	e2.mailer.failOnce["bob@example.com"] = true
	resp, err = http.Post(e2.srv.URL+"/fn/notify", "application/json", strings.NewReader(`{"session_id":"s1","callback_url":"`+e2.callback.URL+`/cb"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("relay failure: status %d, want 502", resp.StatusCode)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := New(Config{PublicBaseURL: "not a url", RequireIAP: true}, Deps{})
	if err == nil {
		t.Fatal("New accepted empty deps")
	}
	for _, want := range []string{"public base URL", "IAP audience", "session store", "state store", "signing keys", "groups", "mailer", "token source", "IAP verifier"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if errors.Is(err, ErrNotFound) {
		t.Error("unexpected sentinel")
	}
}
