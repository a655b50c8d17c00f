package intake

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// fakeLimiter admits while admit is true and records releases.
type fakeLimiter struct {
	mu       sync.Mutex
	admit    bool
	released []string
}

func (f *fakeLimiter) Admit(context.Context, *session.Principal, string) error {
	if f.admit {
		return nil
	}
	return &limits.Refusal{Limit: limits.ConcurrentSessions, Max: 2, Used: 2, RetryAfter: limits.ConcurrentRetryAfter}
}

func (f *fakeLimiter) Release(_ context.Context, s *session.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, s.ID)
	return nil
}

func (f *fakeLimiter) Usage(context.Context, *session.Principal) (*limits.Usage, error) {
	return &limits.Usage{}, nil
}

// downOrchestrator cannot start workflows.
type downOrchestrator struct{}

func (downOrchestrator) Start(context.Context, map[string]any) (string, error) {
	return "", errors.New("workflows unavailable")
}

// TestSubmitLimits: a refusal is a 429 with Retry-After and no session; a
// session whose workflow cannot start gives its slot back.
func TestSubmitLimits(t *testing.T) {
	t.Parallel()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	alice := &session.Principal{Issuer: "i", Subject: "alice", Email: "alice@example.com"}
	lim := &fakeLimiter{}
	srv := &Server{Verifier: tokenVerifier{"alice": alice}, Store: st, Orchestrator: downOrchestrator{}, Limits: lim,
		Now: func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }}
	mux := http.NewServeMux()
	srv.Register(mux)
	post := func() *http.Response {
		t.Helper()
		req := httptest.NewRequest("POST", "/v1/queries", strings.NewReader(`{"sql":"SELECT secret_value FROM t"}`))
		req.Header.Set("Authorization", "Bearer alice")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	resp := post()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" ||
		!strings.Contains(string(body), `"limit":"concurrent_sessions"`) || strings.Contains(string(body), "secret_value") {
		t.Errorf("refused request = %d, Retry-After %q, %s; want 429, 10, the limit and no SQL", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if res, err := st.List(context.Background(), session.ListQuery{PageSize: 10}); err != nil || len(res.Sessions) != 0 {
		t.Errorf("the refused request created sessions: %v %v", res, err)
	}
	lim.admit = true
	if resp := post(); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("workflow down = %d, want 503", resp.StatusCode)
	}
	res, err := st.List(context.Background(), session.ListQuery{PageSize: 10})
	if err != nil || len(res.Sessions) != 1 {
		t.Fatalf("sessions after the failed start: %v %v", res, err)
	}
	if len(lim.released) != 1 || lim.released[0] != res.Sessions[0].ID {
		t.Errorf("released %v, want the failed session %s", lim.released, res.Sessions[0].ID)
	}
}
