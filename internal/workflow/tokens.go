package workflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// tokenReuseMargin is how long before its expiry a cached ID token is
// replaced, so that a token never expires in flight.
const tokenReuseMargin = 2 * time.Minute

// tokenCache reuses an ID token per audience until shortly before its
// "exp" claim, as Google's token sources do: minting signs with RSA, about
// a millisecond each, and a session's flow makes four calls. A token whose
// expiry cannot be read (not a JWT) is not cached.
type tokenCache struct {
	mint func(ctx context.Context, audience string) (string, error)
	now  func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token string
	exp   time.Time
}

func (c *tokenCache) get(ctx context.Context, audience string) (string, error) {
	now := c.now()
	c.mu.Lock()
	t, ok := c.tokens[audience]
	c.mu.Unlock()
	if ok && now.Before(t.exp.Add(-tokenReuseMargin)) {
		return t.token, nil
	}
	tok, err := c.mint(ctx, audience)
	if err != nil {
		return "", err
	}
	if exp, ok := jwtExpiry(tok); ok {
		c.mu.Lock()
		if c.tokens == nil {
			c.tokens = map[string]cachedToken{}
		}
		c.tokens[audience] = cachedToken{token: tok, exp: exp}
		c.mu.Unlock()
	}
	return tok, nil
}

// jwtExpiry reads the "exp" claim of a JWT without verifying it: the token
// comes from the runtime's own minting function, and the claim only
// decides when to mint again.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}
