package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

func TestClaimGroupsApply(t *testing.T) {
	t.Parallel()
	raw := []string{"analysts", "auditors", "approvers", "reidentifiers", "ci", "analysts", ""}
	for _, tc := range []struct {
		name  string
		rules ClaimGroups
		want  []string
	}{
		{"default_drops_privileged", ClaimGroups{}, []string{"analysts", "ci"}},
		{"explicit_privileged", ClaimGroups{AllowPrivileged: []string{"auditors"}}, []string{"analysts", "auditors", "ci"}},
		{"own_privileged_set", ClaimGroups{Privileged: []string{"ci"}}, []string{"analysts", "approvers", "auditors", "reidentifiers"}},
		{"map_only_listed", ClaimGroups{Map: map[string]string{"ci": "analysts", "auditors": "auditors"}}, []string{"analysts"}},
		{"map_to_allowed_privileged", ClaimGroups{Map: map[string]string{"ci": "auditors"}, AllowPrivileged: []string{"auditors"}}, []string{"auditors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, tc.rules.Apply(raw)); diff != "" {
				t.Errorf("Apply (-want, +got):\n%s", diff)
			}
		})
	}
}

// issuerServer is an OIDC issuer with discovery and a JWKS, over TLS
// because issuer rules accept only https issuers.
func issuerServer(t *testing.T, key *testKey) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
		case "/keys":
			w.Write(key.jwks())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGroupsPerIssuer is the attack of issue 10 finding 6: issuer B's
// token names the approver, auditor and re-identifier groups in its
// groups claim. Only issuer A's rules allow a privileged group from
// claims, so B's token gets none, and an issuer without rules gets no
// group at all.
func TestGroupsPerIssuer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ka, kb, kc := newTestKey(t, "a1"), newTestKey(t, "b1"), newTestKey(t, "c1")
	a, b, c := issuerServer(t, ka), issuerServer(t, kb), issuerServer(t, kc)
	rules, err := ParseIssuerRules([]string{
		a.URL + "|claim=roles|map=data-team:analysts;sec-team:auditors|privileged=auditors|principals=ci@a.example;Lead@A.example",
		b.URL + "|claim=groups",
	})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]Verifier{}
	for _, srv := range []*httptest.Server{a, b, c} {
		r, configured := rules[srv.URL]
		cfg := OIDCConfig{Issuer: srv.URL, Audience: "querygate", RequireVerifiedEmail: true, Groups: r.Groups, HTTPClient: srv.Client()}
		if configured {
			cfg.GroupsClaim = r.GroupsClaim
		}
		v, err := NewOIDC(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		routes[srv.URL] = AllowOnly(v, srv.URL, r.Principals)
	}
	m := NewMulti(routes)
	future := time.Now().Add(time.Hour)
	power := []any{"approvers", "auditors", "reidentifiers", "analysts", "sec-team", "data-team"}
	for _, tc := range []struct {
		name string
		tok  string
		want []string
	}{
		{"issuer_b_claims_power", kb.sign(t, claims(b.URL, "querygate", "mallory@b.example", future, map[string]any{"groups": power})), []string{"analysts", "data-team", "sec-team"}},
		{"issuer_b_other_claim_name", kb.sign(t, claims(b.URL, "querygate", "mallory@b.example", future, map[string]any{"roles": power})), nil},
		{"issuer_c_without_rules", kc.sign(t, claims(c.URL, "querygate", "eve@c.example", future, map[string]any{"groups": power})), nil},
		{"issuer_a_mapped", ka.sign(t, claims(a.URL, "querygate", "ci@a.example", future, map[string]any{"roles": power, "groups": power})), []string{"analysts", "auditors"}},
		{"issuer_a_allow_list_case", ka.sign(t, claims(a.URL, "querygate", "lead@a.example", future, map[string]any{"roles": []any{"data-team"}})), []string{"analysts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := m.Verify(ctx, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Groups); diff != "" {
				t.Errorf("groups (-want, +got):\n%s", diff)
			}
		})
	}
	// Issuer A's allow-list: a valid token of another principal of A is
	// refused outright.
	_, err = m.Verify(ctx, ka.sign(t, claims(a.URL, "querygate", "intruder@a.example", future, map[string]any{"roles": []any{"data-team"}})))
	if !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("principal off the allow-list: err = %v, want ErrUnauthenticated", err)
	}
	// B's key cannot speak for A, whatever the token says.
	_, err = m.Verify(ctx, kb.sign(t, claims(a.URL, "querygate", "ci@a.example", future, map[string]any{"roles": []any{"sec-team"}})))
	if !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("B-signed token with A's issuer: err = %v, want ErrUnauthenticated", err)
	}
}

func TestAllowOnlyChecksIssuer(t *testing.T) {
	t.Parallel()
	inner := fixedVerifier{Issuer: "https://other.example", Subject: "s", Email: "ci@a.example"}
	v := AllowOnly(inner, "https://a.example", []string{"ci@a.example"})
	if _, err := v.Verify(context.Background(), "x"); err == nil {
		t.Error("a principal of another issuer passed the allow-list")
	}
	bySubject := AllowOnly(fixedVerifier{Issuer: "https://a.example", Subject: "repo:org/x:ref:refs/heads/main"}, "https://a.example", []string{"repo:org/x:ref:refs/heads/main"})
	if p, err := bySubject.Verify(context.Background(), "x"); err != nil || p.Subject != "repo:org/x:ref:refs/heads/main" {
		t.Errorf("subject on the allow-list: %+v, %v", p, err)
	}
}

func TestParseIssuerRules(t *testing.T) {
	t.Parallel()
	got, err := ParseIssuerRules([]string{"https://gh.example|claim=teams|map=a:analysts|privileged=auditors;reidentifiers|principals=x@y;z"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]IssuerRules{"https://gh.example": {Issuer: "https://gh.example", GroupsClaim: "teams",
		Groups:     ClaimGroups{Map: map[string]string{"a": "analysts"}, AllowPrivileged: []string{"auditors", "reidentifiers"}},
		Principals: []string{"x@y", "z"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want, +got):\n%s", diff)
	}
	for _, bad := range [][]string{
		{"http://plain.example|claim=g"},
		{"https://a.example|claim"},
		{"https://a.example|colour=blue"},
		{"https://a.example|map=novalue"},
		{"https://a.example", "https://a.example|claim=g"},
	} {
		if _, err := ParseIssuerRules(bad); err == nil {
			t.Errorf("ParseIssuerRules(%q) accepted", bad)
		}
	}
}

// fixedVerifier returns its principal for any token.
type fixedVerifier session.Principal

func (f fixedVerifier) Verify(context.Context, string) (*session.Principal, error) {
	p := session.Principal(f)
	return &p, nil
}

func TestAllowOnlySubjectIsExact(t *testing.T) {
	t.Parallel()
	v := AllowOnly(fixedVerifier{Issuer: "https://a.example", Subject: "Repo:Org/X"}, "https://a.example", []string{"repo:org/x"})
	if _, err := v.Verify(context.Background(), "x"); !errors.Is(err, ErrPrincipalNotAllowed) {
		t.Errorf("subject differing in case: err = %v, want ErrPrincipalNotAllowed", err)
	}
}
