package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type iapSigner struct {
	kid string
	key *ecdsa.PrivateKey
}

func newIAPSigner(t *testing.T, kid string) iapSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return iapSigner{kid: kid, key: k}
}

func (s iapSigner) sign(t *testing.T, alg string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": s.kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	d := sha256.Sum256([]byte(in))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return in + "." + b64.EncodeToString(sig)
}

const testAud = "/projects/123/global/backendServices/456"

func iapClaimsFor(email string, now time.Time) map[string]any {
	return map[string]any{"iss": IAPIssuer, "aud": testAud, "email": email, "sub": "accounts.google.com:1", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

func TestIAPVerifier(t *testing.T) {
	t.Parallel()
	signer := newIAPSigner(t, "kid1")
	stranger := newIAPSigner(t, "kid1")
	v := &IAPVerifier{Audience: testAud, Keys: StaticIAPKeys{"kid1": &signer.key.PublicKey}, Now: func() time.Time { return t0 }}
	ctx := context.Background()
	got, err := v.Verify(ctx, signer.sign(t, "ES256", iapClaimsFor("Bob@Example.com", t0)))
	if err != nil || got != "bob@example.com" {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	with := func(k string, val any) map[string]any {
		c := iapClaimsFor("bob@example.com", t0)
		c[k] = val
		return c
	}
	cases := map[string]string{
		"missing":        "",
		"wrong_alg":      signer.sign(t, "ES384", iapClaimsFor("bob@example.com", t0)),
		"other_key":      stranger.sign(t, "ES256", iapClaimsFor("bob@example.com", t0)),
		"wrong_audience": signer.sign(t, "ES256", with("aud", "/projects/1/apps/other")),
		"wrong_issuer":   signer.sign(t, "ES256", with("iss", "https://evil.example")),
		"expired":        signer.sign(t, "ES256", with("exp", t0.Add(-time.Minute).Unix())),
		"future_iat":     signer.sign(t, "ES256", with("iat", t0.Add(time.Hour).Unix())),
		"no_email":       signer.sign(t, "ES256", with("email", "")),
		"garbage":        "a.b.c",
	}
	for name, a := range cases {
		if _, err := v.Verify(ctx, a); !errors.Is(err, ErrBadIAPAssertion) {
			t.Errorf("%s: Verify = %v, want ErrBadIAPAssertion", name, err)
		}
	}
	// A list audience containing ours is accepted.
	if _, err := v.Verify(ctx, signer.sign(t, "ES256", with("aud", []string{"x", testAud}))); err != nil {
		t.Errorf("list audience: %v", err)
	}
}

func jwkJSON(kid string, pub *ecdsa.PublicKey) string {
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	return fmt.Sprintf(`{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":%q,"x":%q,"y":%q}`, kid, b64.EncodeToString(x), b64.EncodeToString(y))
}

func TestJWKSKeySet(t *testing.T) {
	t.Parallel()
	a, b := newIAPSigner(t, "a"), newIAPSigner(t, "b")
	var fetches atomic.Int32
	var rotated atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		keys := []string{jwkJSON("a", &a.key.PublicKey), `{"kty":"RSA","kid":"r","n":"x","e":"AQAB"}`}
		if rotated.Load() {
			keys = append(keys, jwkJSON("b", &b.key.PublicKey))
		}
		fmt.Fprintf(w, `{"keys":[%s]}`, strings.Join(keys, ","))
	}))
	t.Cleanup(srv.Close)
	c := &clock{now: t0}
	ks := NewJWKSKeySet(srv.URL, srv.Client(), c.Now)
	ctx := context.Background()
	k, err := ks.PublicKey(ctx, "a")
	if err != nil || !k.Equal(&a.key.PublicKey) {
		t.Fatalf("PublicKey(a) = %v, %v", k, err)
	}
	if _, err := ks.PublicKey(ctx, "a"); err != nil || fetches.Load() != 1 {
		t.Errorf("cached lookup: err %v, fetches %d, want 1", err, fetches.Load())
	}
	// Unknown kids do not refetch more than once a minute.
	rotated.Store(true)
	if _, err := ks.PublicKey(ctx, "b"); !errors.Is(err, ErrUnknownKey) || fetches.Load() != 1 {
		t.Errorf("PublicKey(b) within a minute: err %v, fetches %d", err, fetches.Load())
	}
	c.Advance(2 * time.Minute)
	if k, err := ks.PublicKey(ctx, "b"); err != nil || !k.Equal(&b.key.PublicKey) || fetches.Load() != 2 {
		t.Errorf("PublicKey(b) after rotation: err %v, fetches %d", err, fetches.Load())
	}
	if _, err := ParseJWKS([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"z","x":"AAAA","y":"AAAA"}]}`)); err == nil {
		t.Error("ParseJWKS accepted a set without a usable key")
	}
}

func TestDecideRequiresIAP(t *testing.T) {
	t.Parallel()
	signer := newIAPSigner(t, "kid1")
	e := newEnv(t, func(c *Config, d *Deps) {
		c.RequireIAP = true
		c.IAPAudience = testAud
		d.IAPKeys = StaticIAPKeys{"kid1": &signer.key.PublicKey}
	})
	e.heldSession("s1", demoSQL)
	e.notify("s1")
	approve, _ := e.links("bob@example.com", "s1")
	b := newBrowser(t)
	if p := b.Get(approve); p.Status != 403 || p.Code() != "iap" {
		t.Errorf("GET without IAP: status %d code %q", p.Status, p.Code())
	}
	withIAP := func(email string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, approve, nil)
		req.Header.Set(IAPHeader, signer.sign(t, "ES256", iapClaimsFor(email, t0)))
		return req
	}
	if p := b.do(withIAP("carol@example.com")); p.Status != 403 || p.Code() != "iap" {
		t.Errorf("GET as another user: status %d code %q", p.Status, p.Code())
	}
	p := b.do(withIAP("bob@example.com"))
	if p.Status != 200 {
		t.Fatalf("GET as bob: status %d", p.Status)
	}
	post := func(email string) page {
		f := cloneValues(p.Fields)
		f.Set("decision", "approve")
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/approval/decide", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if email != "" {
			req.Header.Set(IAPHeader, signer.sign(t, "ES256", iapClaimsFor(email, t0)))
		}
		return b.do(req)
	}
	before := e.snap("s1")
	assertRefused(t, e, before, post(""), 403, "iap", "Sign-in required as the approver")
	assertRefused(t, e, before, post("carol@example.com"), 403, "iap", "")
	if r := post("bob@example.com"); r.Status != 200 {
		t.Errorf("POST as bob: status %d body %s", r.Status, r.Body)
	}
	if s := e.get("s1"); s.Approval.Decision != "approved" || s.Approval.DecidedBy != "bob@example.com" {
		t.Errorf("approval = %+v", s.Approval)
	}
}

func FuzzIAPVerify(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	v := &IAPVerifier{Audience: testAud, Keys: StaticIAPKeys{"kid1": &key.PublicKey}, Now: func() time.Time { return t0 }}
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZDEifQ.e30.AAAA")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		// Without the private key nothing the fuzzer makes may verify.
		if email, err := v.Verify(context.Background(), assertion); err == nil {
			t.Fatalf("forged assertion verified as %q", email)
		} else if !errors.Is(err, ErrBadIAPAssertion) {
			t.Fatalf("error %v does not wrap ErrBadIAPAssertion", err)
		}
	})
}
