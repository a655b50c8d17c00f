package intake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
)

// tokenVerifier maps fixed bearer strings to principals.
type tokenVerifier map[string]*session.Principal

func (v tokenVerifier) Verify(_ context.Context, tok string) (*session.Principal, error) {
	p, ok := v[tok]
	if !ok {
		return nil, auth.ErrUnauthenticated
	}
	c := *p
	return &c, nil
}

type fakeAudit struct {
	err    error
	writes int
}

func (f *fakeAudit) WriteSession(context.Context, *session.Session) error {
	f.writes++
	return f.err
}

const surrogateConfig = `
inspectConfig:
  infoTypes: [{name: EMAIL_ADDRESS}]
  customInfoTypes:
  - infoType: {name: EMAIL_TOKEN}
    surrogateType: {}
deidentifyConfig:
  infoTypeTransformations:
    transformations:
    - infoTypes: [{name: EMAIL_ADDRESS}]
      primitiveTransformation:
        cryptoDeterministicConfig:
          cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}
          surrogateInfoType: {name: EMAIL_TOKEN}
`

func TestReidentify(t *testing.T) {
	ctx := context.Background()
	cfg, err := deid.LoadConfig([]byte(surrogateConfig))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := deid.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const raw = "write to jane.doe@example.com today"
	masked, _, err := eng.Deidentify(ctx, &deid.Request{Table: &deid.Table{Headers: []string{"note"}, Rows: [][]deid.Value{{raw}}}})
	if err != nil {
		t.Fatal(err)
	}
	tokenText := masked.Rows[0][0].(string)
	if strings.Contains(tokenText, "jane.doe") || !strings.Contains(tokenText, "EMAIL_TOKEN(") {
		t.Fatalf("masked = %q", tokenText)
	}
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice := &session.Principal{Issuer: "i", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts"}}
	sess := &session.Session{ID: "s1", Principal: *alice, SQL: "SELECT note FROM t", Status: session.StatusSucceeded, Readers: []string{"alice@example.com"},
		Result: &session.Result{Schema: []session.Field{{Name: "note", Type: "STRING"}}, Pages: 1, StoredRows: 1, TotalRows: 1}}
	if err := st.Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	rows, _ := json.Marshal([]map[string]any{{"note": tokenText}})
	if err := st.PutPage(ctx, "s1", &session.Page{Index: 0, Rows: rows, Count: 1}); err != nil {
		t.Fatal(err)
	}
	ver := tokenVerifier{
		"alice":   alice,
		"privacy": {Issuer: "i", Subject: "p", Email: "privacy@example.com", Groups: []string{"reidentifiers", "auditors"}},
	}
	aud := &fakeAudit{}
	srv := &Server{Verifier: ver, Store: st, AuditorsGroup: "auditors", Now: func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }}
	mux := http.NewServeMux()
	srv.RegisterReidentify(mux, ReidentifyConfig{Reidentifier: eng, Audit: aud, Group: "reidentifiers"})
	call := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/sessions/s1/reidentify", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	if w := call("alice"); w.Code != http.StatusForbidden {
		t.Errorf("requester outside the group: %d %s", w.Code, w.Body)
	}
	w := call("privacy")
	if w.Code != http.StatusOK {
		t.Fatalf("reidentify = %d %s", w.Code, w.Body)
	}
	var got struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 1 || got.Rows[0]["note"] != raw {
		t.Errorf("rows = %v, want the original note", got.Rows)
	}
	after, _ := st.Get(ctx, "s1")
	last := after.Timeline[len(after.Timeline)-1]
	if last.Type != session.EventReidentified || last.Actor != "privacy@example.com" || aud.writes != 1 {
		t.Errorf("last event %+v, audit writes %d", last, aud.writes)
	}
	// Without an audit sink nothing is released either.
	bare := http.NewServeMux()
	srv.RegisterReidentify(bare, ReidentifyConfig{Reidentifier: eng, Group: "reidentifiers"})
	r := httptest.NewRequest("POST", "/v1/sessions/s1/reidentify", nil)
	r.Header.Set("Authorization", "Bearer privacy")
	bw := httptest.NewRecorder()
	bare.ServeHTTP(bw, r)
	if bw.Code != http.StatusServiceUnavailable || strings.Contains(bw.Body.String(), "jane.doe") {
		t.Errorf("without audit: %d %s", bw.Code, bw.Body)
	}
	// An audit failure releases nothing.
	aud.err = errors.New("audit down")
	w = call("privacy")
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "jane.doe") {
		t.Errorf("with audit down: %d %s", w.Code, w.Body)
	}
}
