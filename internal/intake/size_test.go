package intake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// TestQueryOverDocumentLimitIs413 sends a request within every field limit
// whose session document, JSON-escaped ('<' becomes \u003c, six bytes), is
// over the store's document limit: the caller gets 413 with what to change,
// not a 500, and nothing is stored.
func TestQueryOverDocumentLimitIs413(t *testing.T) {
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice := &session.Principal{Issuer: "i", Subject: "alice", Email: "alice@example.com"}
	srv := &Server{Verifier: tokenVerifier{"alice": alice}, Store: st}
	mux := http.NewServeMux()
	srv.Register(mux)
	// The agent sends '<' as one byte; the stored JSON escapes it.
	var body strings.Builder
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{
		"sql":    "SELECT 1 /*" + strings.Repeat("<", MaxSQLBytes-20) + "*/",
		"prompt": strings.Repeat("<", MaxPromptBytes),
	}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/v1/queries", strings.NewReader(body.String()))
	r.Header.Set("Authorization", "Bearer alice")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "shorten them") {
		t.Errorf("POST /v1/queries = %d %s, want 413 asking to shorten", w.Code, w.Body)
	}
	if res, err := st.List(t.Context(), session.ListQuery{}); err != nil || len(res.Sessions) != 0 {
		t.Errorf("sessions stored: %v, %v; want none", res, err)
	}
}
