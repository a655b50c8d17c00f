package bqapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// TestJustificationHeaders: the front door reads the justification
// (percent-decoded, then cleaned by intake) and break-glass from their
// headers, and refuses malformed ones with 400 invalid.
func TestJustificationHeaders(t *testing.T) {
	t.Parallel()
	var q queryRequest
	if err := json.Unmarshal([]byte(`{"query":"SELECT 1","useLegacySql":false}`), &q); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		headers map[string][]string
		just    string
		bg      bool
		err     string
	}{
		{"none", nil, "", false, ""},
		{"justification", map[string][]string{JustificationHeader: {"incident%204711%0Apager"}}, "incident 4711 pager", false, ""},
		{"break-glass", map[string][]string{JustificationHeader: {"on%20call"}, BreakGlassHeader: {"true"}}, "on call", true, ""},
		{"break-glass false", map[string][]string{BreakGlassHeader: {"false"}}, "", false, ""},
		{"break-glass without justification", map[string][]string{BreakGlassHeader: {"TRUE"}}, "", false, "break_glass needs a justification"},
		{"break-glass not a bool", map[string][]string{JustificationHeader: {"x"}, BreakGlassHeader: {"yes"}}, "", false, BreakGlassHeader + " must be true or false"},
		{"twice", map[string][]string{JustificationHeader: {"a", "b"}}, "", false, "send " + JustificationHeader + " once"},
		{"bad percent", map[string][]string{JustificationHeader: {"100%"}}, "", false, "must be percent-encoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, e := q.toIntake(r, nil, false)
			if tc.err != "" {
				if e == nil || e.Code != http.StatusBadRequest || e.Reason != reasonInvalid || !strings.Contains(e.Message, tc.err) {
					t.Fatalf("toIntake = %+v, want 400 invalid containing %q", e, tc.err)
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			if got.Justification != tc.just || got.BreakGlass != tc.bg {
				t.Errorf("justification %q break_glass %v, want %q %v", got.Justification, got.BreakGlass, tc.just, tc.bg)
			}
		})
	}
}

// TestMissingJustificationIs400: a session policy denied for want of a
// justification answers 400 invalid naming the header, not 403.
func TestMissingJustificationIs400(t *testing.T) {
	t.Parallel()
	sess := &session.Session{ID: "qs_1", Status: session.StatusDenied, Decision: &session.Decision{Action: "deny",
		RuleIDs: []string{"r", "builtin.justification_required"}, Reasons: []string{"held", "Rule r requires a justification."},
		Justify: session.Justify{MissingJustification: true}}}
	e := jobError(sess)
	if e.Code != http.StatusBadRequest || e.Reason != reasonInvalid || !strings.Contains(e.Message, "send the header "+JustificationHeader) {
		t.Errorf("jobError = %+v, want 400 invalid naming %s", e, JustificationHeader)
	}
	sess.Decision.MissingJustification = false
	if e := jobError(sess); e.Code != http.StatusForbidden || e.Reason != reasonAccessDenied {
		t.Errorf("ordinary denial = %+v, want 403 accessDenied", e)
	}
}
