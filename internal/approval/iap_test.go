package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/auth"
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

// iapClaimsFor mints claims around the machine's clock: idtoken checks
// expiry against it.
func iapClaimsFor(email string, now time.Time) map[string]any {
	return map[string]any{"iss": auth.IAPIssuer, "aud": testAud, "email": email, "sub": "accounts.google.com:1", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// keyServer answers every request with body, standing in for IAP's key URL.
type keyServer string

func (k keyServer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(k))), Request: r}, nil
}

// localIAP is the production verifier (idtoken plus the issuer check)
// reading signer's public key from a local JWK set.
func localIAP(t *testing.T, signer iapSigner) *auth.IAP {
	t.Helper()
	v, err := auth.NewIAP(context.Background(), testAud, nil,
		option.WithHTTPClient(&http.Client{Transport: keyServer(`{"keys":[` + jwkJSON(signer.kid, &signer.key.PublicKey) + `]}`)}))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jwkJSON(kid string, pub *ecdsa.PublicKey) string {
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	return fmt.Sprintf(`{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":%q,"x":%q,"y":%q}`, kid, b64.EncodeToString(x), b64.EncodeToString(y))
}

func TestDecideRequiresIAP(t *testing.T) {
	t.Parallel()
	signer := newIAPSigner(t, "kid1")
	e := newEnv(t, func(c *Config, d *Deps) {
		c.RequireIAP = true
		c.IAPAudience = testAud
		d.IAP = localIAP(t, signer)
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
		req.Header.Set(IAPHeader, signer.sign(t, "ES256", iapClaimsFor(email, time.Now())))
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
			req.Header.Set(IAPHeader, signer.sign(t, "ES256", iapClaimsFor(email, time.Now())))
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
