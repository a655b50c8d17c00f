package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"
)

// IAPHeader is the header Identity-Aware Proxy adds to every request it
// lets through.
const IAPHeader = "x-goog-iap-jwt-assertion"

// IAPIssuer is the issuer of IAP assertions.
const IAPIssuer = "https://cloud.google.com/iap"

// ErrBadIAPAssertion means an IAP assertion is missing or does not verify.
var ErrBadIAPAssertion = errors.New("invalid IAP assertion")

// maxIAPAssertionLen bounds the work done before any signature check; IAP's
// assertions are well under 2 KB.
const maxIAPAssertionLen = 8 << 10

// IAP verifies Identity-Aware Proxy assertions with
// google.golang.org/api/idtoken, which checks the ES256 signature against
// IAP's published keys (cached per their Cache-Control), the audience and
// the expiry. idtoken does not check the issuer or the issue time, and it
// also accepts RS256 tokens of Google's service-account keys; IAP does
// both of the former and refuses the latter.
type IAP struct {
	audience  string
	validator *idtoken.Validator
	now       func() time.Time
}

// NewIAP returns a verifier of assertions for audience,
// /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID or
// /projects/PROJECT_NUMBER/apps/PROJECT_ID. opts reach idtoken; tests pass
// option.WithHTTPClient with a client that serves local keys in place of
// IAP's key URL.
func NewIAP(ctx context.Context, audience string, now func() time.Time, opts ...option.ClientOption) (*IAP, error) {
	if audience == "" {
		return nil, errors.New("iap verifier: audience is required")
	}
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("iap verifier: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &IAP{audience: audience, validator: v, now: now}, nil
}

// iapLeeway tolerates clock skew on iat.
const iapLeeway = 30 * time.Second

// VerifyIAP checks the assertion and returns the signed-in user's email,
// lowercased. Every error wraps ErrBadIAPAssertion.
func (v *IAP) VerifyIAP(ctx context.Context, assertion string) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBadIAPAssertion, fmt.Sprintf(format, args...))
	}
	switch {
	case assertion == "":
		return fail("missing")
	case len(assertion) > maxIAPAssertionLen:
		return fail("%d bytes, more than %d", len(assertion), maxIAPAssertionLen)
	}
	if alg, err := jwsAlg(assertion); err != nil || alg != "ES256" {
		return fail("not an ES256 JWS")
	}
	p, err := v.validator.Validate(ctx, assertion, v.audience)
	if err != nil {
		return fail("%v", err)
	}
	if p.Issuer != IAPIssuer {
		return fail("issuer %q", p.Issuer)
	}
	if p.Audience != v.audience {
		return fail("audience does not match")
	}
	now := v.now()
	if p.Expires == 0 || !now.Before(time.Unix(p.Expires, 0).Add(iapLeeway)) {
		return fail("expired")
	}
	if p.IssuedAt == 0 || time.Unix(p.IssuedAt, 0).After(now.Add(iapLeeway)) {
		return fail("no issue time, or one in the future")
	}
	if err := checkLifetime(time.Unix(p.IssuedAt, 0), time.Unix(p.Expires, 0)); err != nil {
		return fail("%v", err)
	}
	email, _ := p.Claims["email"].(string)
	// IAP prefixes identities with "accounts.google.com:" in some headers;
	// the assertion's email claim is the bare address.
	email = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(email, "accounts.google.com:")))
	if email == "" || !strings.Contains(email, "@") {
		return fail("no email")
	}
	return email, nil
}

// jwsAlg reads the alg of a compact JWS header without trusting it for
// anything but routing.
func jwsAlg(tok string) (string, error) {
	head, _, ok := strings.Cut(tok, ".")
	if !ok {
		return "", errors.New("malformed")
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", err
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", err
	}
	return h.Alg, nil
}
