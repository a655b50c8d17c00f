// Package auth verifies the OIDC ID tokens that agents, approvers and the
// workflow present, and resolves the caller's groups. The identity of a
// caller comes only from a verified token, never from headers or bodies.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// Verifier verifies a raw ID token and returns the principal it names.
type Verifier interface {
	Verify(ctx context.Context, rawToken string) (*session.Principal, error)
}

// Multi routes a token to the verifier registered for its issuer. The
// unverified "iss" claim only picks the verifier; that verifier then checks
// the signature and the issuer itself, so a forged iss gains nothing.
type Multi struct {
	byIssuer map[string]Verifier
}

// NewMulti returns a Multi with the given issuer → verifier routes.
func NewMulti(routes map[string]Verifier) *Multi {
	m := &Multi{byIssuer: map[string]Verifier{}}
	for iss, v := range routes {
		m.byIssuer[iss] = v
	}
	return m
}

var _ Verifier = (*Multi)(nil)

// Verify implements Verifier.
func (m *Multi) Verify(ctx context.Context, raw string) (*session.Principal, error) {
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	v, ok := m.byIssuer[iss]
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrUnknownIssuer)
	}
	p, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	return p, nil
}

// maxTokenLen bounds the work done on untrusted input before any signature
// check. Every verifier applies it, not only Multi.
const maxTokenLen = 16 << 10

// MaxTokenLifetime bounds exp - iat of an accepted token. Google's ID tokens
// live one hour and CI providers' less; a token minted for years is a stolen
// key's favourite, so it is refused whatever its signature.
const MaxTokenLifetime = 24 * time.Hour

// checkTokenShape refuses oversized tokens before any parsing.
func checkTokenShape(raw string) error {
	if len(raw) > maxTokenLen {
		return fmt.Errorf("token is %d bytes, more than the %d accepted", len(raw), maxTokenLen)
	}
	return nil
}

// checkLifetime refuses a token without an issue time or one whose
// lifetime exceeds MaxTokenLifetime.
func checkLifetime(iat, exp time.Time) error {
	if iat.IsZero() || exp.IsZero() {
		return errors.New("token lacks iat or exp")
	}
	if life := exp.Sub(iat); life > MaxTokenLifetime {
		return fmt.Errorf("token lifetime %s exceeds the %s accepted", life.Round(time.Second), MaxTokenLifetime)
	}
	return nil
}

func unverifiedIssuer(raw string) (string, error) {
	if err := checkTokenShape(raw); err != nil {
		return "", err
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("malformed token")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("malformed token payload")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("malformed token claims")
	}
	return c.Iss, nil
}

// BearerToken extracts the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", ErrNoToken
	}
	return strings.TrimSpace(h[len(prefix):]), nil
}
