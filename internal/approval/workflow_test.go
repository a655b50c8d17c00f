package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/workflow"
	"github.com/querygate/querygate/workflows"
)

// flow runs the real workflows/query_session.yaml in the local runtime
// against the real approval service (notify, the page, the decision on
// record); policy, execute, deidentify and record are fakes that log
// their calls.
type flow struct {
	e       *env
	rt      *workflow.Runtime
	mu      sync.Mutex
	calls   []string
	record  map[string]any
	reads   atomic.Int32
	cbToken string
}

const approvalIdentity = "approval@querygate.test"

func newFlow(t *testing.T) *flow {
	t.Helper()
	f := &flow{}
	fns := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/fn/")
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.calls = append(f.calls, name)
		if name == "record" {
			f.record = body
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch name {
		case "policy":
			json.NewEncoder(w).Encode(map[string]any{"action": "require_approval", "approver_group": "approvers", "timeout_seconds": 1800, "reasons": []any{"pii"}})
		case "execute":
			json.NewEncoder(w).Encode(map[string]any{"job_id": "j1", "total_rows": 1, "bytes_processed": 10})
		case "deidentify":
			json.NewEncoder(w).Encode(map[string]any{"rows": 1, "pages": 1, "masked_columns": []any{}})
		case "record":
			json.NewEncoder(w).Encode(map[string]any{"status": "recorded"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(fns.Close)
	cbMux := http.NewServeMux()
	cbSrv := httptest.NewServer(cbMux)
	t.Cleanup(cbSrv.Close)
	f.cbToken = "tok-for-" + cbSrv.URL // what the approval service mints for the callback
	f.e = newEnv(t)
	notify := NewNotifyHandler(f.e.svc)
	// The workflow reaches notify through this wrapper, which counts the
	// decision reads.
	notifySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte(`"read_decision":true`)) {
			defer f.reads.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		notify.ServeHTTP(w, r)
	}))
	t.Cleanup(notifySrv.Close)
	wf, err := workflow.Load(workflows.QuerySession, workflows.QuerySessionFile)
	if err != nil {
		t.Fatal(err)
	}
	f.rt, err = workflow.NewRuntime(workflow.Options{
		Workflow: wf, Store: workflow.NewMemoryStateStore(), HTTPClient: &http.Client{Timeout: 10 * time.Second},
		IDToken: func(_ context.Context, aud string) (string, error) { return "wf-token", nil },
		Env: map[string]string{
			"QUERYGATE_POLICY_URL":     fns.URL + "/fn/policy",
			"QUERYGATE_NOTIFY_URL":     notifySrv.URL + "/fn/notify",
			"QUERYGATE_EXECUTE_URL":    fns.URL + "/fn/execute",
			"QUERYGATE_DEIDENTIFY_URL": fns.URL + "/fn/deidentify",
			"QUERYGATE_RECORD_URL":     fns.URL + "/fn/record",
		},
		CallbackBase: cbSrv.URL, Project: "p", Location: "local", Name: "query-session",
		VerifyCaller: func(_ context.Context, bearer string) (string, error) {
			if bearer == f.cbToken {
				return approvalIdentity, nil
			}
			return "", errors.New("invalid token")
		},
		AllowedCallers: []string{approvalIdentity},
		Now:            f.e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.rt.Close() })
	cbMux.Handle("/v1/projects/", f.rt.CallbackHandler())
	return f
}

func (f *flow) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// awaiting waits until the execution waits for a callback after reads
// decision reads.
func (f *flow) awaiting(t *testing.T, name string, reads int32) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := f.rt.Execution(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.AwaitingCallback && f.reads.Load() == reads {
			return
		}
		if st.State != workflow.StateActive || time.Now().After(deadline) {
			t.Fatalf("execution %s: state %s, awaiting %v, %d decision reads; want awaiting after %d", name, st.State, st.AwaitingCallback, f.reads.Load(), reads)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forge posts a callback with the approval identity's own token, as an
// attacker holding it (or a replay of a real one) would.
func (f *flow) forge(t *testing.T, id string, body map[string]any) {
	t.Helper()
	req, err := f.e.state.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	r, _ := http.NewRequest(http.MethodPost, req.CallbackURL, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+f.cbToken)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forged callback: status %d", resp.StatusCode)
	}
}

// TestWorkflowReadsDecisionFromRecord is issue 10 finding 6: a callback
// sent with the approval identity made the workflow try to execute, and
// could kill a pending session. Now forged "approved" and "rejected"
// bodies change nothing: the session stays pending, execute is not called,
// and the approver's real decision, read from the record, decides.
func TestWorkflowReadsDecisionFromRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, decision, want string
	}{
		{"approver_approves", DecisionApprove, "approved"},
		{"approver_denies", DecisionDeny, "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFlow(t)
			f.e.heldSession("s1", demoSQL)
			name, err := f.rt.Start(context.Background(), map[string]any{"session_id": "s1"})
			if err != nil {
				t.Fatal(err)
			}
			f.awaiting(t, name, 0)
			f.forge(t, "s1", map[string]any{"decision": "approved", "approver": "bob@example.com", "comment": "forged"})
			f.awaiting(t, name, 1)
			f.forge(t, "s1", map[string]any{"decision": "rejected", "approver": "bob@example.com", "comment": "forged"})
			f.awaiting(t, name, 2)
			if s := f.e.get("s1"); s.Status != session.StatusPendingApproval || s.Approval.Decision != "" {
				t.Fatalf("after forged callbacks: status %s, decision %q", s.Status, s.Approval.Decision)
			}
			if diff := cmp.Diff([]string{"policy"}, f.Calls()); diff != "" {
				t.Fatalf("calls after forged callbacks (-want, +got):\n%s", diff)
			}
			approve, deny := f.e.links("carol@example.com", "s1")
			link := approve
			if tc.decision == DecisionDeny {
				link = deny
			}
			b := newBrowser(t)
			if res := b.submit(f.e, b.Get(link), tc.decision, "real"); res.Status != 200 {
				t.Fatalf("decide: status %d code %q", res.Status, res.Code())
			}
			st, err := f.rt.Wait(context.Background(), name)
			if err != nil || st.State != workflow.StateSucceeded {
				t.Fatalf("execution: %+v, %v", st, err)
			}
			wantCalls := []string{"policy", "record"}
			if tc.want == "approved" {
				wantCalls = []string{"policy", "execute", "deidentify", "record"}
			}
			if diff := cmp.Diff(wantCalls, f.Calls()); diff != "" {
				t.Errorf("calls (-want, +got):\n%s", diff)
			}
			outcome := map[string]string{"approved": "succeeded", "rejected": "rejected"}[tc.want]
			// The record body carries the outcome only; the record step
			// reads the approval from the record, which holds the
			// approver's real decision, not the forged ones.
			wantRecord := map[string]any{"session_id": "s1", "outcome": outcome, "error": ""}
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(wantRecord, f.record); diff != "" {
				t.Errorf("record body (-want, +got):\n%s", diff)
			}
			if s := f.e.get("s1"); s.Approval == nil || s.Approval.Decision != tc.want || s.Approval.DecidedBy != "carol@example.com" || s.Approval.Comment != "real" {
				t.Errorf("approval on record = %+v, want %s by carol@example.com with comment \"real\"", s.Approval, tc.want)
			}
		})
	}
}

func TestReadDecision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	ctx := context.Background()
	if _, err := e.svc.ReadDecision(ctx, "s1"); !isRefusal(err, "not_requested") {
		t.Errorf("before notify: %v", err)
	}
	if _, err := e.svc.ReadDecision(ctx, "nope"); !isRefusal(err, "not_found") {
		t.Errorf("unknown session: %v", err)
	}
	e.notify("s1") // window: 30 minutes
	e.clock.Advance(10*time.Minute + 500*time.Millisecond)
	got, err := e.svc.ReadDecision(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(RecordedDecision{Decision: "pending", WaitSeconds: 1200}, got); diff != "" {
		t.Errorf("pending (-want, +got):\n%s", diff)
	}
	// The window closes with no decision: it is closed on record, so a
	// late POST cannot land after the workflow concluded.
	e.clock.Advance(20 * time.Minute)
	got, err = e.svc.ReadDecision(ctx, "s1")
	if err != nil || got.Decision != "expired" {
		t.Fatalf("after the window: %+v, %v", got, err)
	}
	s := e.get("s1")
	if s.Approval.Decision != "expired" || s.Timeline[len(s.Timeline)-1].Type != session.EventApprovalExpired {
		t.Errorf("approval %+v, last event %s", s.Approval, s.Timeline[len(s.Timeline)-1].Type)
	}
	events := len(s.Timeline)
	if again, _ := e.svc.ReadDecision(ctx, "s1"); again.Decision != "expired" || len(e.get("s1").Timeline) != events {
		t.Errorf("second read after expiry: %+v, %d events (was %d)", again, len(e.get("s1").Timeline), events)
	}
}

func TestNotifyHandlerReadDecision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.notify("s1")
	post := func(body string) (int, string) {
		resp, err := http.Post(e.srv.URL+"/fn/notify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := post(`{"session_id":"s1","read_decision":true}`); code != 200 || body != `{"decision":"pending","approver":"","comment":"","wait_seconds":1800}` {
		t.Errorf("read_decision: %d %s", code, body)
	}
	if code, _ := post(`{"session_id":"s1","read_decision":true,"callback_url":"http://x.example/cb"}`); code != 400 {
		t.Errorf("read_decision with a callback_url: %d, want 400", code)
	}
}

func isRefusal(err error, code string) bool {
	var ref *Refusal
	return errors.As(err, &ref) && ref.Code == code
}
