package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests run the real workflows/query_session.yaml through the runtime
// against an httptest server that fakes the five functions.

const sessionYAML = "../../workflows/query_session.yaml"

func loadSessionWorkflow(t *testing.T) *Workflow {
	t.Helper()
	src, err := os.ReadFile(sessionYAML)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := Load(src, "query_session.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return wf
}

type fakeResp struct {
	status int
	body   any
}

// fakeFunctions fakes policy, notify, execute, deidentify and record. Each
// function answers from its script in order; the last answer repeats.
type fakeFunctions struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []string
	bodies map[string][]map[string]any
	script map[string][]fakeResp
	// onNotify runs inside the notify handler, before it answers.
	onNotify func(callbackURL string)
	notified chan string
}

func newFakeFunctions(t *testing.T, script map[string][]fakeResp) *fakeFunctions {
	f := &fakeFunctions{t: t, bodies: map[string][]map[string]any{}, script: script, notified: make(chan string, 4)}
	defaults := map[string]fakeResp{
		"policy":     {200, map[string]any{"action": "allow", "approver_group": "", "timeout_seconds": 3600, "reasons": []any{}}},
		"notify":     {200, map[string]any{"notified": 1, "expires_at": "2026-11-28T20:00:00Z"}},
		"execute":    {200, map[string]any{"job_id": "job-1", "total_rows": 3, "bytes_processed": 1024}},
		"deidentify": {200, map[string]any{"rows": 3, "pages": 1, "masked_columns": []any{"email"}}},
		"record":     {200, map[string]any{"status": "recorded"}},
		"decision":   {200, map[string]any{"decision": "pending", "approver": "", "comment": "", "wait_seconds": 3600}},
	}
	for k, v := range defaults {
		if _, ok := f.script[k]; !ok {
			f.script[k] = []fakeResp{v}
		}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFunctions) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	// The OIDC token's audience defaults to the URL.
	if want := "Bearer token-for-" + f.srv.URL + "/" + name; r.Header.Get("Authorization") != want {
		f.t.Errorf("%s: Authorization = %q, want %q", name, r.Header.Get("Authorization"), want)
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s: decode body: %v", name, err)
	}
	// The notify function also answers the decision on record; the
	// fake scripts that answer as its own function, "decision".
	if name == "notify" && body["read_decision"] == true {
		name = "decision"
	}
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.bodies[name] = append(f.bodies[name], body)
	n := len(f.bodies[name])
	sc := f.script[name]
	resp := sc[min(n, len(sc))-1]
	hook := f.onNotify
	f.mu.Unlock()
	if name == "notify" && resp.status == 200 {
		cb, _ := body["callback_url"].(string)
		if hook != nil {
			hook(cb)
		}
		f.notified <- cb
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

func (f *fakeFunctions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeFunctions) Bodies(name string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[name]
}

func (f *fakeFunctions) env() map[string]string {
	return map[string]string{
		"QUERYGATE_POLICY_URL":     f.srv.URL + "/policy",
		"QUERYGATE_NOTIFY_URL":     f.srv.URL + "/notify",
		"QUERYGATE_EXECUTE_URL":    f.srv.URL + "/execute",
		"QUERYGATE_DEIDENTIFY_URL": f.srv.URL + "/deidentify",
		"QUERYGATE_RECORD_URL":     f.srv.URL + "/record",
	}
}

// fakeClock advances only when the runtime sleeps, so backoff delays are
// observed exactly and no test waits for them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// callbackServer serves the runtime's callback handler; the handler can be
// swapped to a new runtime after a restart while the URL stays the same.
type callbackServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	h   http.Handler
}

func newCallbackServer(t *testing.T) *callbackServer {
	cs := &callbackServer{}
	mux := http.NewServeMux()
	mux.Handle("/v1/projects/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		h := cs.h
		cs.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	cs.srv = httptest.NewServer(mux)
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *callbackServer) set(h http.Handler) {
	cs.mu.Lock()
	cs.h = h
	cs.mu.Unlock()
}

const approverEmail = "approval@querygate.iam.gserviceaccount.com"

func verifyCaller(_ context.Context, bearer string) (string, error) {
	switch bearer {
	case "approval-token":
		return approverEmail, nil
	case "agent-token":
		return "agent@example.com", nil
	}
	return "", errors.New("invalid token")
}

type harness struct {
	fn    *fakeFunctions
	clock *fakeClock
	cb    *callbackServer
	store StateStore
	wf    *Workflow
}

func newHarness(t *testing.T, script map[string][]fakeResp, store StateStore) *harness {
	t.Helper()
	if store == nil {
		store = NewMemoryStateStore()
	}
	return &harness{fn: newFakeFunctions(t, script), clock: newFakeClock(), cb: newCallbackServer(t), store: store, wf: loadSessionWorkflow(t)}
}

func (h *harness) runtime(t *testing.T) *Runtime {
	t.Helper()
	return h.runtimeWithSleep(t, h.clock.Sleep)
}

func (h *harness) runtimeWithSleep(t *testing.T, sleep func(context.Context, time.Duration) error) *Runtime {
	t.Helper()
	rt, err := NewRuntime(Options{
		Workflow:   h.wf,
		Store:      h.store,
		HTTPClient: h.fn.srv.Client(),
		IDToken: func(_ context.Context, aud string) (string, error) {
			return "token-for-" + aud, nil
		},
		Env:            h.fn.env(),
		CallbackBase:   h.cb.srv.URL,
		Project:        "demo",
		Location:       "europe-west1",
		Name:           "query_session",
		VerifyCaller:   verifyCaller,
		AllowedCallers: []string{approverEmail},
		Now:            h.clock.Now,
		Sleep:          sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cb.set(rt.CallbackHandler())
	t.Cleanup(func() { rt.Close() })
	return rt
}

func postCallback(t *testing.T, url, token string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post callback: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func waitDone(t *testing.T, rt *Runtime, name string) *ExecutionState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := rt.Wait(ctx, name)
	if err != nil {
		t.Fatalf("wait %s: %v (state %+v)", name, err, st)
	}
	return st
}

func recordBody(t *testing.T, fn *fakeFunctions) map[string]any {
	t.Helper()
	b := fn.Bodies("record")
	if len(b) != 1 {
		t.Fatalf("record called %d times, want 1", len(b))
	}
	return b[0]
}

func TestSessionAllow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-allow"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "projects/demo/locations/europe-west1/workflows/query_session/executions/") {
		t.Errorf("execution name = %q", name)
	}
	st := waitDone(t, rt, name)
	if diff := cmp.Diff([]string{"policy", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-allow", "outcome": "succeeded", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	// The flow ends at record: the session store and the audit table
	// hold the outcome, the execution returns nothing.
	if st.Result != nil {
		t.Errorf("result = %v, want none", st.Result)
	}
	// The allow path's billed steps (docs/capacity.md): the flow's try,
	// policy, route, execute, deidentify, record.
	if st.Steps != 6 {
		t.Errorf("steps = %d, want 6", st.Steps)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s", st.State)
	}
	for _, fn := range []string{"policy", "execute", "deidentify"} {
		if diff := cmp.Diff([]map[string]any{{"session_id": "s-allow"}}, h.fn.Bodies(fn)); diff != "" {
			t.Errorf("%s bodies (-want, +got):\n%s", fn, diff)
		}
	}
}

func TestSessionDeny(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{
		"policy": {{200, map[string]any{"action": "deny", "reasons": []any{"table not allowed"}}}},
	}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-deny"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.Steps != 5 {
		t.Errorf("steps = %d, want 5 (flow, policy, route, denied, record_ended)", st.Steps)
	}
	if diff := cmp.Diff([]string{"policy", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-deny", "outcome": "denied", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s, want SUCCEEDED (a denial is a recorded outcome)", st.State)
	}
}

func approvalPolicy(timeout any) map[string][]fakeResp {
	return map[string][]fakeResp{
		"policy": {{200, map[string]any{"action": "require_approval", "approver_group": "data-owners", "timeout_seconds": timeout, "reasons": []any{"pii"}}}},
	}
}

func TestSessionApprovalApproved(t *testing.T) {
	t.Parallel()
	script := approvalPolicy(3600)
	script["decision"] = []fakeResp{{200, map[string]any{"decision": "approved", "approver": "ann@example.com", "comment": "ok", "wait_seconds": 0}}}
	h := newHarness(t, script, nil)
	// The approver answers while notify is still running, before
	// await_callback starts: the request must be queued, as documented.
	var early int
	h.fn.onNotify = func(cb string) {
		early = postCallback(t, cb, "approval-token", map[string]any{"decision": "approved", "approver": "ann@example.com", "comment": "ok"})
	}
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-ok"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.Steps != 12 {
		t.Errorf("steps = %d, want 12 (flow, policy, route, create_callback, notify, first_wait, wait_for_approver, read_decision, route_decision, execute, deidentify, record)", st.Steps)
	}
	if early != http.StatusOK {
		t.Errorf("early callback status = %d, want 200", early)
	}
	if diff := cmp.Diff([]string{"policy", "notify", "decision", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-ok", "outcome": "succeeded", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s", st.State)
	}
	nb := h.fn.Bodies("notify")[0]
	cbURL, _ := nb["callback_url"].(string)
	wantPrefix := h.cb.srv.URL + "/v1/" + name + "/callbacks/"
	if !strings.HasPrefix(cbURL, wantPrefix) || len(cbURL) == len(wantPrefix) {
		t.Errorf("callback_url = %q, want prefix %q and an id", cbURL, wantPrefix)
	}
}

func TestSessionApprovalRejected(t *testing.T) {
	t.Parallel()
	script := approvalPolicy(3600)
	script["decision"] = []fakeResp{{200, map[string]any{"decision": "rejected", "approver": "bob@example.com", "comment": "too broad", "wait_seconds": 0}}}
	h := newHarness(t, script, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-no"})
	if err != nil {
		t.Fatal(err)
	}
	cb := <-h.fn.notified
	waitAwaiting(t, rt, name)
	// Callers other than the approval function are refused.
	if got := postCallback(t, cb, "", map[string]any{"decision": "approved"}); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", got)
	}
	if got := postCallback(t, cb, "forged", map[string]any{"decision": "approved"}); got != http.StatusUnauthorized {
		t.Errorf("bad token: status %d, want 401", got)
	}
	if got := postCallback(t, cb, "agent-token", map[string]any{"decision": "approved"}); got != http.StatusForbidden {
		t.Errorf("agent token: status %d, want 403", got)
	}
	if got := postCallback(t, cb+"x", "approval-token", map[string]any{"decision": "approved"}); got != http.StatusNotFound {
		t.Errorf("unknown callback: status %d, want 404", got)
	}
	if got := postCallback(t, cb, "approval-token", map[string]any{"decision": "rejected", "approver": "bob@example.com", "comment": "too broad"}); got != http.StatusOK {
		t.Fatalf("callback status %d, want 200", got)
	}
	st := waitDone(t, rt, name)
	if st.Steps != 11 {
		t.Errorf("steps = %d, want 11 (the approval path to route_decision, rejected, record_ended)", st.Steps)
	}
	if diff := cmp.Diff([]string{"policy", "notify", "decision", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-no", "outcome": "rejected", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s", st.State)
	}
	// The execution is over: its callback is gone.
	if got := postCallback(t, cb, "approval-token", map[string]any{"decision": "approved"}); got != http.StatusNotFound {
		t.Errorf("callback after end: status %d, want 404", got)
	}
}

func waitAwaiting(t *testing.T, rt *Runtime, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := rt.waitUntil(ctx, name, func(s *ExecutionState) bool { return s.AwaitingCallback }); err != nil {
		t.Fatalf("waiting for await_callback: %v", err)
	}
}

func TestSessionApprovalExpired(t *testing.T) {
	t.Parallel()
	// A 50 ms approval window; the test waits for the outcome, not a time.
	script := approvalPolicy(0.05)
	script["decision"] = []fakeResp{{200, map[string]any{"decision": "expired", "approver": "", "comment": "", "wait_seconds": 0}}}
	h := newHarness(t, script, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-late"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.Steps != 12 {
		t.Errorf("steps = %d, want 12 (the approval path with timed_out, expired, record_ended)", st.Steps)
	}
	if diff := cmp.Diff([]string{"policy", "notify", "decision", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-late", "outcome": "expired", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s", st.State)
	}
}

func TestSessionTransientErrorRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{
		"execute": {{500, map[string]any{"error": "backend"}}, {200, map[string]any{"job_id": "job-2", "total_rows": 1, "bytes_processed": 10}}},
	}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-retry"})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, rt, name)
	if diff := cmp.Diff([]string{"policy", "execute", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	if got := recordBody(t, h.fn)["outcome"]; got != "succeeded" {
		t.Errorf("record outcome = %v, want succeeded", got)
	}
	// One backoff of initial_delay (1 s) before the second attempt.
	if diff := cmp.Diff([]time.Duration{time.Second}, h.clock.Sleeps()); diff != "" {
		t.Errorf("backoff sleeps (-want, +got):\n%s", diff)
	}
}

func TestSessionPermanentFailureRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{
		"deidentify": {{400, map[string]any{"error": "bad request"}}},
	}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-fail"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.Steps != 11 {
		t.Errorf("steps = %d, want 11 (flow, policy, route, execute, deidentify, is_transient's 3 steps deciding the 400 is final, deidentify_failed, failed's describe, record_ended)", st.Steps)
	}
	// A 4xx is permanent: no retry.
	if diff := cmp.Diff([]string{"policy", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	// The function's own {"error"} text, written for the agent, is kept.
	want := map[string]any{"session_id": "s-fail", "outcome": "failed",
		"error": "deidentify: bad request"}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
	if st.State != StateSucceeded {
		t.Errorf("state = %s, want SUCCEEDED (the failure was recorded)", st.State)
	}
}

func TestSessionRetriesExhaustedRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{
		"policy": {{503, map[string]any{"error": "unavailable"}}},
	}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-down"})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, rt, name)
	// 1 attempt + max_retries 5, then record.
	if diff := cmp.Diff([]string{"policy", "policy", "policy", "policy", "policy", "policy", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	if got := recordBody(t, h.fn)["outcome"]; got != "failed" {
		t.Errorf("record outcome = %v, want failed", got)
	}
	// initial_delay 1, multiplier 2, max_delay 30.
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	if diff := cmp.Diff(want, h.clock.Sleeps()); diff != "" {
		t.Errorf("backoff sleeps (-want, +got):\n%s", diff)
	}
}

func TestSessionRecordFailureFailsExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]fakeResp{
		"record": {{403, map[string]any{"error": "forbidden"}}},
	}, nil)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-norecord"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.State != StateFailed {
		t.Fatalf("state = %s, want FAILED when record fails", st.State)
	}
	em, _ := st.Error.(map[string]any)
	if diff := cmp.Diff([]any{"HttpError"}, em["tags"]); diff != "" {
		t.Errorf("error tags (-want, +got):\n%s", diff)
	}
	if em["code"] != int64(403) {
		t.Errorf("error code = %v, want 403", em["code"])
	}
}

func TestSessionRestartDuringAwait(t *testing.T) {
	t.Parallel()
	store, err := NewSQLiteStateStore(filepath.Join(t.TempDir(), "workflows.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	script := approvalPolicy(3600)
	script["decision"] = []fakeResp{{200, map[string]any{"decision": "approved", "approver": "ann@example.com", "comment": "", "wait_seconds": 0}}}
	h := newHarness(t, script, store)
	rt1 := h.runtime(t)
	name, err := rt1.Start(context.Background(), map[string]any{"session_id": "s-restart"})
	if err != nil {
		t.Fatal(err)
	}
	cb := <-h.fn.notified
	waitAwaiting(t, rt1, name)
	if err := rt1.Close(); err != nil {
		t.Fatal(err)
	}
	// While no runtime serves the execution, the store keeps it awaiting.
	rec, err := store.LoadExecution(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != StateActive || rec.Await == nil || rec.CurrentStep != "wait_for_approver" {
		t.Fatalf("persisted state = %s, await %v, step %q; want ACTIVE awaiting in wait_for_approver", rec.State, rec.Await, rec.CurrentStep)
	}

	rt2 := h.runtime(t) // new process: same store, same callback URL
	if err := rt2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitAwaiting(t, rt2, name)
	if got := postCallback(t, cb, "approval-token", map[string]any{"decision": "approved", "approver": "ann@example.com"}); got != http.StatusOK {
		t.Fatalf("callback after restart: status %d, want 200", got)
	}
	st := waitDone(t, rt2, name)
	if st.State != StateSucceeded {
		t.Fatalf("state = %s (error %v)", st.State, st.Error)
	}
	// notify ran once: the resumed execution continued in await_callback.
	if diff := cmp.Diff([]string{"policy", "notify", "decision", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := map[string]any{"session_id": "s-restart", "outcome": "succeeded", "error": ""}
	if diff := cmp.Diff(want, recordBody(t, h.fn)); diff != "" {
		t.Errorf("record body (-want, +got):\n%s", diff)
	}
}

func TestSessionYAMLValidates(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(sessionYAML)
	if err != nil {
		t.Fatal(err)
	}
	if probs := Validate(src, "query_session.yaml"); len(probs) != 0 {
		t.Errorf("Validate(query_session.yaml) = %v, want none", probs)
	}
}

// TestSessionRestartDuringBackoff stops the runtime while a retry waits in
// its backoff: the resumed execution waits out the persisted deadline and
// retries, without calling the failed function an extra time.
func TestSessionRestartDuringBackoff(t *testing.T) {
	t.Parallel()
	store, err := NewSQLiteStateStore(filepath.Join(t.TempDir(), "workflows.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := newHarness(t, map[string][]fakeResp{
		"execute": {{503, map[string]any{"error": "busy"}}, {200, map[string]any{"job_id": "job-3", "total_rows": 0, "bytes_processed": 0}}},
	}, store)
	sleeping := make(chan time.Duration, 1)
	rt1 := h.runtimeWithSleep(t, func(ctx context.Context, d time.Duration) error {
		sleeping <- d
		<-ctx.Done() // the process stops during the backoff
		return ctx.Err()
	})
	name, err := rt1.Start(context.Background(), map[string]any{"session_id": "s-backoff"})
	if err != nil {
		t.Fatal(err)
	}
	if d := <-sleeping; d != time.Second {
		t.Errorf("first backoff = %v, want 1s", d)
	}
	rt1.Close()
	if diff := cmp.Diff([]string{"policy", "execute"}, h.fn.Calls()); diff != "" {
		t.Fatalf("calls before restart (-want, +got):\n%s", diff)
	}

	rt2 := h.runtime(t)
	if err := rt2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt2, name)
	if diff := cmp.Diff([]string{"policy", "execute", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	// The clock did not move: the remaining wait is the whole persisted 1 s.
	if diff := cmp.Diff([]time.Duration{time.Second}, h.clock.Sleeps()); diff != "" {
		t.Errorf("sleeps after resume (-want, +got):\n%s", diff)
	}
	if got := recordBody(t, h.fn)["outcome"]; got != "succeeded" || st.State != StateSucceeded {
		t.Errorf("outcome %v, state %s", got, st.State)
	}
}
