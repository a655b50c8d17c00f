package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// testKey is generated per test run; no key material is committed.
type testKey struct {
	priv *rsa.PrivateKey
	kid  string
}

func newTestKey(t *testing.T, kid string) *testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{priv: k, kid: kid}
}

func (k *testKey) jwks() []byte {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}}})
	return b
}

func (k *testKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwksTransport answers every request with the JWKS, standing in for
// Google's certificate endpoint.
type jwksTransport struct{ body []byte }

func (j jwksTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"max-age=60"}},
		Body: io.NopCloser(strings.NewReader(string(j.body))), Request: r}, nil
}

func claims(iss, aud, email string, exp time.Time, extra map[string]any) map[string]any {
	c := map[string]any{"iss": iss, "aud": aud, "sub": "sub-" + email, "email": email, "email_verified": true,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func TestGoogleVerifier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := newTestKey(t, "g1")
	other := newTestKey(t, "g1") // same kid, different key: a forgery
	g, err := NewGoogle(ctx, "https://querygate.example/intake", &http.Client{Transport: jwksTransport{key.jwks()}})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMulti(map[string]Verifier{"https://accounts.google.com": g, "accounts.google.com": g})
	future := time.Now().Add(time.Hour)
	aud := "https://querygate.example/intake"
	for _, tc := range []struct {
		name    string
		tok     string
		want    *session.Principal
		wantErr bool
	}{
		{"valid", key.sign(t, claims("https://accounts.google.com", aud, "agent@p.iam.gserviceaccount.com", future, nil)),
			&session.Principal{Issuer: "https://accounts.google.com", Subject: "sub-agent@p.iam.gserviceaccount.com", Email: "agent@p.iam.gserviceaccount.com"}, false},
		{"wrong audience", key.sign(t, claims("https://accounts.google.com", "other", "a@x", future, nil)), nil, true},
		{"expired", key.sign(t, claims("https://accounts.google.com", aud, "a@x", time.Now().Add(-time.Hour), nil)), nil, true},
		{"email not verified", key.sign(t, claims("https://accounts.google.com", aud, "a@x", future, map[string]any{"email_verified": false})), nil, true},
		{"forged signature", other.sign(t, claims("https://accounts.google.com", aud, "a@x", future, nil)), nil, true},
		{"untrusted issuer", key.sign(t, claims("https://evil.example", aud, "a@x", future, nil)), nil, true},
		{"garbage", "not-a-token", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Verify(ctx, tc.tok)
			if tc.wantErr {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("err = %v, want ErrUnauthenticated", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("principal (-want, +got):\n%s", diff)
			}
		})
	}
	// idtoken alone does not check iss: a token signed by a Google key but
	// claiming another issuer must fail in Google.Verify itself.
	if _, err := g.Verify(ctx, key.sign(t, claims("https://evil.example", aud, "a@x", future, nil))); err == nil {
		t.Error("Google.Verify accepted a non-Google issuer")
	}
}

func TestOIDCVerifierWithDiscovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := newTestKey(t, "k1")
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
		case "/keys":
			w.Write(key.jwks())
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	v, err := NewOIDC(ctx, OIDCConfig{Issuer: srv.URL, Audience: "querygate", GroupsClaim: "groups", RequireVerifiedEmail: true})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMulti(map[string]Verifier{srv.URL: v})
	future := time.Now().Add(time.Hour)
	got, err := m.Verify(ctx, key.sign(t, claims(srv.URL, "querygate", "ci@example.com", future, map[string]any{"groups": []any{"analysts", "ci"}})))
	if err != nil {
		t.Fatal(err)
	}
	want := &session.Principal{Issuer: srv.URL, Subject: "sub-ci@example.com", Email: "ci@example.com", Groups: []string{"analysts", "ci"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principal (-want, +got):\n%s", diff)
	}
	for name, tok := range map[string]string{
		"wrong audience":  key.sign(t, claims(srv.URL, "other", "a@x", future, nil)),
		"expired":         key.sign(t, claims(srv.URL, "querygate", "a@x", time.Now().Add(-time.Hour), nil)),
		"unverified mail": key.sign(t, claims(srv.URL, "querygate", "a@x", future, map[string]any{"email_verified": false})),
		"tampered":        tamper(key.sign(t, claims(srv.URL, "querygate", "a@x", future, nil))),
	} {
		if _, err := m.Verify(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

// tamper flips one character of the payload, keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[len(p)-2] == 'A' {
		p[len(p)-2] = 'B'
	} else {
		p[len(p)-2] = 'A'
	}
	return parts[0] + "." + string(p) + "." + parts[2]
}

func TestDevIssuerRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	d, err := LoadOrCreateDevIssuer(dir, srv.URL+"/dev/oidc")
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = d.Handler()
	// A second load (as `querygate token` does) reuses the key and issuer.
	d2, err := LoadOrCreateDevIssuer(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if d2.Issuer != d.Issuer || d2.kid != d.kid {
		t.Fatalf("reloaded issuer %q kid %q, want %q %q", d2.Issuer, d2.kid, d.Issuer, d.kid)
	}
	v, err := NewOIDC(ctx, OIDCConfig{Issuer: d.Issuer, Audience: DevAudience, JWKSURL: srv.URL + JWKSPath, GroupsClaim: "groups", RequireVerifiedEmail: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d2.Mint(MintOptions{Subject: "alice@example.com", Groups: []string{"analysts"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "alice@example.com" || !cmp.Equal(p.Groups, []string{"analysts"}) {
		t.Errorf("principal = %+v", p)
	}
	expired, _ := d2.Mint(MintOptions{Subject: "alice@example.com", TTL: -time.Minute})
	if _, err := v.Verify(ctx, expired); err == nil {
		t.Error("expired dev token accepted")
	}
	wrongAud, _ := d2.Mint(MintOptions{Subject: "alice@example.com", Audience: "someone-else"})
	if _, err := v.Verify(ctx, wrongAud); err == nil {
		t.Error("wrong-audience dev token accepted")
	}
	// Issue 10: the local verifier accepted a 10-year lifetime and a 20 KB
	// token. Both are refused by every verifier now.
	tenYears, _ := d2.Mint(MintOptions{Subject: "alice@example.com", TTL: 10 * 365 * 24 * time.Hour})
	if _, err := v.Verify(ctx, tenYears); err == nil || !strings.Contains(err.Error(), "lifetime") {
		t.Errorf("10-year token: err = %v, want a lifetime refusal", err)
	}
	atCap, _ := d2.Mint(MintOptions{Subject: "alice@example.com", TTL: MaxTokenLifetime})
	if _, err := v.Verify(ctx, atCap); err != nil {
		t.Errorf("token at the lifetime cap refused: %v", err)
	}
	big, _ := d2.Mint(MintOptions{Subject: "alice@example.com", Groups: []string{strings.Repeat("g", 20<<10)}})
	if _, err := v.Verify(ctx, big); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("20 KB token: err = %v, want a size refusal", err)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ h, want string }{{"Bearer abc", "abc"}, {"bearer  abc ", "abc"}, {"Basic abc", ""}, {"", ""}, {"Bearer", ""}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tc.h)
		got, _ := BearerToken(r)
		if got != tc.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tc.h, got, tc.want)
		}
	}
}

func FuzzMultiVerify(f *testing.F) {
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.sig")
	f.Add("")
	m2 := NewMulti(nil)
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := m2.Verify(context.Background(), tok); err == nil {
			t.Fatal("verified with no issuers configured")
		}
	})
}
