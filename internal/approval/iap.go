package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IAPHeader is the header Identity-Aware Proxy adds to every request it
// lets through.
const IAPHeader = "x-goog-iap-jwt-assertion"

// IAPIssuer is the issuer of IAP assertions.
const IAPIssuer = "https://cloud.google.com/iap"

// IAPKeysURL serves IAP's public keys as a JWK set.
const IAPKeysURL = "https://www.gstatic.com/iap/verify/public_key-jwk"

// IAPKeySet is the port to the public keys that sign IAP assertions: the
// JWK set at IAPKeysURL in the cloud (NewJWKSKeySet), local keys in tests
// (StaticIAPKeys).
type IAPKeySet interface {
	// PublicKey returns the P-256 key named kid, or an error.
	PublicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error)
}

// StaticIAPKeys is an IAPKeySet from a map, for tests.
type StaticIAPKeys map[string]*ecdsa.PublicKey

// PublicKey implements IAPKeySet.
func (k StaticIAPKeys) PublicKey(_ context.Context, kid string) (*ecdsa.PublicKey, error) {
	if key, ok := k[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("IAP key %q: %w", kid, ErrUnknownKey)
}

// IAPVerifier verifies an IAP assertion (an ES256 JWT) and returns the
// signed-in user's email.
type IAPVerifier struct {
	Audience string
	Keys     IAPKeySet
	Now      func() time.Time
	// Leeway tolerates clock skew on exp and iat; zero means 30 s.
	Leeway time.Duration
}

type iapClaims struct {
	Iss   string          `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Email string          `json:"email"`
	Sub   string          `json:"sub"`
	Exp   int64           `json:"exp"`
	Iat   int64           `json:"iat"`
}

// Verify checks the assertion's signature, issuer, audience and validity
// window and returns the lowercased email. Errors wrap ErrBadIAPAssertion.
func (v *IAPVerifier) Verify(ctx context.Context, assertion string) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBadIAPAssertion, fmt.Sprintf(format, args...))
	}
	if assertion == "" {
		return fail("missing")
	}
	if len(assertion) > 8192 {
		return fail("too long")
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fail("not a JWS compact token")
	}
	hb, err := b64.Strict().DecodeString(parts[0])
	if err != nil {
		return fail("header encoding")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fail("header")
	}
	if hdr.Alg != "ES256" {
		return fail("alg %q, want ES256", hdr.Alg)
	}
	key, err := v.Keys.PublicKey(ctx, hdr.Kid)
	if err != nil {
		return fail("key %q: %v", hdr.Kid, err)
	}
	sig, err := b64.Strict().DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fail("signature encoding")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, digest[:], r, s) {
		return fail("signature does not verify")
	}
	pb, err := b64.Strict().DecodeString(parts[1])
	if err != nil {
		return fail("payload encoding")
	}
	var c iapClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return fail("payload")
	}
	if c.Iss != IAPIssuer {
		return fail("issuer %q", c.Iss)
	}
	if !audienceMatches(c.Aud, v.Audience) {
		return fail("audience does not match")
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	now := v.Now()
	if c.Exp == 0 || now.After(time.Unix(c.Exp, 0).Add(leeway)) {
		return fail("expired")
	}
	if c.Iat != 0 && time.Unix(c.Iat, 0).After(now.Add(leeway)) {
		return fail("issued in the future")
	}
	if c.Email == "" {
		return fail("no email")
	}
	// IAP prefixes identities with "accounts.google.com:" in some headers;
	// the assertion's email claim is the bare address.
	return normEmail(strings.TrimPrefix(c.Email, "accounts.google.com:")), nil
}

func audienceMatches(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// JWKSKeySet fetches a JWK set of P-256 keys over HTTP and caches it. An
// unknown kid triggers at most one refetch per minute, so key rotation is
// picked up without letting forged kids hammer the endpoint.
type JWKSKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time
}

// NewJWKSKeySet returns a key set read from url (IAPKeysURL in the cloud).
// A nil client means http.DefaultClient; a nil now means time.Now.
func NewJWKSKeySet(url string, client *http.Client, now func() time.Time) *JWKSKeySet {
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &JWKSKeySet{url: url, client: client, now: now}
}

// PublicKey implements IAPKeySet.
func (j *JWKSKeySet) PublicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok && j.now().Sub(j.fetchedAt) < time.Hour {
		return k, nil
	}
	if j.keys == nil || j.now().Sub(j.fetchedAt) >= time.Minute {
		keys, err := j.fetch(ctx)
		if err != nil {
			return nil, err
		}
		j.keys, j.fetchedAt = keys, j.now()
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("IAP key %q: %w", kid, ErrUnknownKey)
}

func (j *JWKSKeySet) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWK set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWK set: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read JWK set: %w", err)
	}
	return ParseJWKS(b)
}

// ParseJWKS decodes the EC P-256 keys of a JWK set; other keys are skipped.
func ParseJWKS(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			Kid string `json:"kid"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("decode JWK set: %w", err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Kid == "" {
			continue
		}
		x, errX := b64.DecodeString(k.X)
		y, errY := b64.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			continue
		}
		// Uncompressed point encoding lets the crypto library check the
		// point is on the curve.
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			continue
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("JWK set holds no P-256 keys")
	}
	return out, nil
}
