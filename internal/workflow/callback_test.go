package workflow

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const callbackYAML = `
main:
  steps:
    - create:
        call: events.create_callback_endpoint
        args:
          http_callback_method: PUT
        result: cb
    - publish:
        call: sys.log
        args:
          text: ${cb.url}
    - wait:
        call: events.await_callback
        args:
          callback: ${cb}
          timeout: 3600
        result: req
    - done:
        return: ${[req.http_request.method, req.http_request.body, req.http_request.query.k, req.type, "Authorization" in req.http_request.headers]}
`

func newCallbackRuntime(t *testing.T, src string, store StateStore, cs *callbackServer) *Runtime {
	t.Helper()
	wf, err := Load([]byte(src), "cb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRuntime(Options{
		Workflow: wf, Store: store, CallbackBase: cs.srv.URL,
		Project: "p", Location: "l", Name: "w",
		VerifyCaller: verifyCaller, AllowedCallers: []string{approverEmail},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs.set(rt.CallbackHandler())
	t.Cleanup(func() { rt.Close() })
	return rt
}

func callbackURL(t *testing.T, rt *Runtime, name string) string {
	t.Helper()
	rt.mu.Lock()
	x := rt.execs[rt.fullName(name)]
	rt.mu.Unlock()
	if x == nil {
		t.Fatal("execution not loaded")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.rec.Callbacks {
		return rt.opts.CallbackBase + "/v1/" + x.name + "/callbacks/" + id
	}
	t.Fatal("no callback")
	return ""
}

func send(t *testing.T, method, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallbackQueuedWhileNoRuntimeRuns delivers a callback while the
// execution is persisted but not resumed (between a restart and Resume):
// it is queued in the store and consumed after Resume.
func TestCallbackQueuedWhileNoRuntimeRuns(t *testing.T) {
	t.Parallel()
	store, err := NewSQLiteStateStore(filepath.Join(t.TempDir(), "wf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cs := newCallbackServer(t)
	rt1 := newCallbackRuntime(t, callbackYAML, store, cs)
	name, err := rt1.Start(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAwaiting(t, rt1, name)
	url := callbackURL(t, rt1, name)
	// The endpoint expects PUT.
	if got := send(t, http.MethodPost, url, "approval-token"); got != http.StatusMethodNotAllowed {
		t.Errorf("POST to a PUT callback: %d, want 405", got)
	}
	rt1.Close()

	rt2 := newCallbackRuntime(t, callbackYAML, store, cs)
	if got := send(t, http.MethodPut, url+"?k=v", "approval-token"); got != http.StatusOK {
		t.Fatalf("PUT before Resume: %d, want 200", got)
	}
	if err := rt2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt2, name)
	want := []any{"PUT", nil, []any{"v"}, "HTTP", false}
	if diff := cmp.Diff(want, st.Result); diff != "" {
		t.Errorf("result (-want, +got):\n%s (error %v)", diff, st.Error)
	}
}

func TestResumeRefusesChangedWorkflow(t *testing.T) {
	t.Parallel()
	store := NewMemoryStateStore()
	cs := newCallbackServer(t)
	rt1 := newCallbackRuntime(t, callbackYAML, store, cs)
	name, err := rt1.Start(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAwaiting(t, rt1, name)
	rt1.Close()
	rt2 := newCallbackRuntime(t, callbackYAML+"\n# edited\n", store, cs)
	if err := rt2.Resume(context.Background()); !errors.Is(err, ErrWorkflowChanged) {
		t.Fatalf("Resume = %v, want ErrWorkflowChanged", err)
	}
	st, err := rt2.Execution(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateFailed {
		t.Errorf("state = %s, want FAILED", st.State)
	}
}
