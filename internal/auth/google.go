package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/session"
)

// GoogleIssuers are the issuer values Google puts in ID tokens.
var GoogleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// Google verifies Google-issued ID tokens (service accounts, Workload
// Identity, users) with google.golang.org/api/idtoken. idtoken checks the
// signature, expiry and audience; it does not check iss or email_verified,
// so Verify does.
type Google struct {
	audience  string
	validator *idtoken.Validator
}

var _ Verifier = (*Google)(nil)

// NewGoogle returns a verifier for audience. httpClient may be nil; tests
// pass one that serves a local JWKS in place of Google's certificates.
func NewGoogle(ctx context.Context, audience string, httpClient *http.Client) (*Google, error) {
	if audience == "" {
		return nil, errors.New("google verifier: audience is required")
	}
	var opts []option.ClientOption
	if httpClient != nil {
		opts = append(opts, option.WithHTTPClient(httpClient))
	}
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("google verifier: %w", err)
	}
	return &Google{audience: audience, validator: v}, nil
}

// Verify implements Verifier.
func (g *Google) Verify(ctx context.Context, raw string) (*session.Principal, error) {
	if err := checkTokenShape(raw); err != nil {
		return nil, err
	}
	p, err := g.validator.Validate(ctx, raw, g.audience)
	if err != nil {
		return nil, err
	}
	if err := checkLifetime(unixOrZero(p.IssuedAt), unixOrZero(p.Expires)); err != nil {
		return nil, err
	}
	okIss := false
	for _, iss := range GoogleIssuers {
		okIss = okIss || p.Issuer == iss
	}
	if !okIss {
		return nil, fmt.Errorf("issuer %q is not Google", p.Issuer)
	}
	if p.Audience != g.audience {
		return nil, errors.New("audience mismatch")
	}
	email, _ := p.Claims["email"].(string)
	if email == "" {
		return nil, errors.New("token has no email claim")
	}
	if !isTrue(p.Claims["email_verified"]) {
		return nil, errors.New("email not verified")
	}
	return &session.Principal{Issuer: p.Issuer, Subject: p.Subject, Email: email}, nil
}

// unixOrZero maps an absent (0) claim to the zero time, so checkLifetime
// reports it as missing rather than as a 56-year lifetime.
func unixOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
