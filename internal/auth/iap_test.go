package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"
)

// iapKey is a P-256 key generated per run; no key material is committed.
type iapKey struct {
	kid string
	key *ecdsa.PrivateKey
}

func newIAPKey(t testing.TB, kid string) iapKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return iapKey{kid: kid, key: k}
}

func (k iapKey) jwk() string {
	x, y := make([]byte, 32), make([]byte, 32)
	k.key.PublicKey.X.FillBytes(x)
	k.key.PublicKey.Y.FillBytes(y)
	b := base64.RawURLEncoding
	return fmt.Sprintf(`{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":%q,"x":%q,"y":%q}`, k.kid, b.EncodeToString(x), b.EncodeToString(y))
}

// sign makes a compact JWS with header alg (the signature is always
// ES256, so another alg is a lie the verifier must catch).
func (k iapKey) sign(t testing.TB, alg string, claims map[string]any) string {
	t.Helper()
	b := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": k.kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	in := b.EncodeToString(h) + "." + b.EncodeToString(p)
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b.EncodeToString(sig)
}

// countingKeys serves a JWK set in place of IAP's key URL and counts the
// fetches.
type countingKeys struct {
	body    string
	fetches atomic.Int32
}

func (c *countingKeys) RoundTrip(r *http.Request) (*http.Response, error) {
	c.fetches.Add(1)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public, max-age=3600"}},
		Body: ioNopCloser(c.body), Request: r}, nil
}

const iapAud = "/projects/123/global/backendServices/456"

func iapClaims(email string, now time.Time) map[string]any {
	return map[string]any{"iss": IAPIssuer, "aud": iapAud, "email": email, "sub": "accounts.google.com:1",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// newTestIAP returns an IAP verifier whose idtoken validator reads keys
// from a local JWK set instead of IAP's key URL.
func newTestIAP(t testing.TB, keys ...iapKey) (*IAP, *countingKeys) {
	t.Helper()
	var jwks []string
	for _, k := range keys {
		jwks = append(jwks, k.jwk())
	}
	ck := &countingKeys{body: `{"keys":[` + strings.Join(jwks, ",") + `]}`}
	v, err := NewIAP(context.Background(), iapAud, nil, option.WithHTTPClient(&http.Client{Transport: ck}))
	if err != nil {
		t.Fatal(err)
	}
	return v, ck
}

func TestIAPVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer := newIAPKey(t, "kid1")
	stranger := newIAPKey(t, "kid1") // same kid, another key: a forgery
	v, keys := newTestIAP(t, signer)
	// idtoken checks exp against the machine's clock, so the assertions
	// are minted around it; nothing here waits for time to pass.
	now := time.Now()
	got, err := v.VerifyIAP(ctx, signer.sign(t, "ES256", iapClaims("accounts.google.com:Bob@Example.com", now)))
	if err != nil || got != "bob@example.com" {
		t.Fatalf("VerifyIAP = %q, %v", got, err)
	}
	with := func(k string, val any) map[string]any {
		c := iapClaims("bob@example.com", now)
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	for name, a := range map[string]string{
		"missing":          "",
		"too_long":         strings.Repeat("a", 9000),
		"garbage":          "a.b.c",
		"header_says_rs":   signer.sign(t, "RS256", iapClaims("bob@example.com", now)),
		"header_says_none": signer.sign(t, "none", iapClaims("bob@example.com", now)),
		"other_key":        stranger.sign(t, "ES256", iapClaims("bob@example.com", now)),
		"wrong_audience":   signer.sign(t, "ES256", with("aud", "/projects/1/apps/other")),
		"google_issuer":    signer.sign(t, "ES256", with("iss", "https://accounts.google.com")),
		"expired":          signer.sign(t, "ES256", with("exp", now.Add(-time.Minute).Unix())),
		"future_iat":       signer.sign(t, "ES256", with("iat", now.Add(time.Hour).Unix())),
		"no_iat":           signer.sign(t, "ES256", with("iat", nil)),
		"lifetime_2_days":  signer.sign(t, "ES256", with("exp", now.Add(48*time.Hour).Unix())),
		"no_email":         signer.sign(t, "ES256", with("email", "")),
		"email_not_mail":   signer.sign(t, "ES256", with("email", "accounts.google.com:12345")),
	} {
		if _, err := v.VerifyIAP(ctx, a); !errors.Is(err, ErrBadIAPAssertion) {
			t.Errorf("%s: VerifyIAP = %v, want ErrBadIAPAssertion", name, err)
		}
	}
	// Keys are cached per the key set's Cache-Control: one fetch for all
	// of the above.
	if n := keys.fetches.Load(); n != 1 {
		t.Errorf("key set fetched %d times, want 1", n)
	}
}

func TestIAPInjectedClock(t *testing.T) {
	t.Parallel()
	signer := newIAPKey(t, "kid1")
	v, _ := newTestIAP(t, signer)
	now := time.Now()
	tok := signer.sign(t, "ES256", iapClaims("bob@example.com", now))
	// The verifier's own clock decides too: 20 minutes on, the
	// assertion has expired for querygate even if idtoken's clock lags.
	v.now = func() time.Time { return now.Add(20 * time.Minute) }
	if _, err := v.VerifyIAP(context.Background(), tok); !errors.Is(err, ErrBadIAPAssertion) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("VerifyIAP at +20m = %v, want expired", err)
	}
}

func FuzzVerifyIAP(f *testing.F) {
	signer := newIAPKey(f, "kid1")
	v, _ := newTestIAP(f, newIAPKey(f, "kid1"))
	f.Add(signer.sign(f, "ES256", iapClaims("bob@example.com", time.Now())))
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZDEifQ.e30.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		// Nothing the fuzzer makes is signed by the served key.
		if email, err := v.VerifyIAP(context.Background(), assertion); err == nil {
			t.Fatalf("forged assertion verified as %q", email)
		} else if !errors.Is(err, ErrBadIAPAssertion) {
			t.Fatalf("error %v does not wrap ErrBadIAPAssertion", err)
		}
	})
}

func ioNopCloser(s string) *nopBody { return &nopBody{strings.NewReader(s)} }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }
