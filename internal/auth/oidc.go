package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/querygate/querygate/internal/session"
)

// OIDCConfig is a trusted non-Google issuer (GitHub Actions, Okta, the dev
// issuer).
type OIDCConfig struct {
	Issuer   string
	Audience string
	// JWKSURL skips discovery when set (the dev issuer; issuers whose
	// discovery document is not reachable).
	JWKSURL string
	// GroupsClaim names the claim that lists groups; empty disables it.
	GroupsClaim string
	// Groups says which of the claim's values grant which groups. The
	// zero value grants the values as named except the privileged ones
	// (DefaultPrivilegedGroups).
	Groups ClaimGroups
	// RequireVerifiedEmail rejects tokens whose email_verified is false
	// when an email claim is present.
	RequireVerifiedEmail bool
	HTTPClient           *http.Client
	// AcceptAudience, when set, replaces the exact Audience check: Cloud
	// Run and the local runtime mint tokens whose audience is the URL
	// called, so internal callers are checked against a URL prefix.
	AcceptAudience func(aud []string) bool
}

// OIDC verifies tokens of one issuer with coreos/go-oidc: signature against
// the issuer's JWKS, iss, aud, exp and nbf.
type OIDC struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
}

var _ Verifier = (*OIDC)(nil)

// NewOIDC builds a verifier. Without JWKSURL it performs OIDC discovery.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("oidc issuer: issuer and audience are required")
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	oc := &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
		SkipClientIDCheck: cfg.AcceptAudience != nil}
	if cfg.JWKSURL != "" {
		// The key set keeps ctx for its fetches: detach it from request
		// lifetimes.
		ks := oidc.NewRemoteKeySet(context.WithoutCancel(ctx), cfg.JWKSURL)
		return &OIDC{cfg: cfg, verifier: oidc.NewVerifier(cfg.Issuer, ks, oc)}, nil
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery for %s: %w", cfg.Issuer, err)
	}
	return &OIDC{cfg: cfg, verifier: p.Verifier(oc)}, nil
}

// Verify implements Verifier.
func (o *OIDC) Verify(ctx context.Context, raw string) (*session.Principal, error) {
	if err := checkTokenShape(raw); err != nil {
		return nil, err
	}
	if o.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := checkLifetime(tok.IssuedAt, tok.Expiry); err != nil {
		return nil, err
	}
	if o.cfg.AcceptAudience != nil && !o.cfg.AcceptAudience(tok.Audience) {
		return nil, errors.New("audience not accepted")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	p := &session.Principal{Issuer: tok.Issuer, Subject: tok.Subject}
	if e, ok := claims["email"].(string); ok {
		if v, present := claims["email_verified"]; o.cfg.RequireVerifiedEmail && (!present || !isTrue(v)) {
			return nil, errors.New("email not verified")
		}
		p.Email = e
	}
	if o.cfg.GroupsClaim != "" {
		p.Groups = o.cfg.Groups.Apply(stringList(claims[o.cfg.GroupsClaim]))
	}
	return p, nil
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x != "" {
			return []string{x}
		}
	}
	return nil
}
