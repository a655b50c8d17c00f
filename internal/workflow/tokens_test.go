package workflow

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// TestTokenCacheReusesUntilNearExpiry: a JWT is reused per audience until
// two minutes before its exp; a token without a readable exp is minted
// every time.
func TestTokenCacheReusesUntilNearExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	exp := now.Add(10 * time.Minute)
	mints := 0
	jwt := func(_ context.Context, aud string) (string, error) {
		mints++
		payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"aud":%q,"exp":%d}`, aud, exp.Unix())))
		return fmt.Sprintf("h.%s.sig%d", payload, mints), nil
	}
	c := &tokenCache{mint: jwt, now: func() time.Time { return now }}
	ctx := context.Background()
	first, _ := c.get(ctx, "https://a")
	again, _ := c.get(ctx, "https://a")
	other, _ := c.get(ctx, "https://b")
	if first != again || other == first || mints != 2 {
		t.Errorf("first %q, again %q, other %q after %d mints; want the first reused and one per audience", first, again, other, mints)
	}
	now = exp.Add(-tokenReuseMargin) // two minutes before exp: a new one
	if renewed, _ := c.get(ctx, "https://a"); renewed == first || mints != 3 {
		t.Errorf("near expiry: %q after %d mints, want a new token", renewed, mints)
	}
	plain := 0
	p := &tokenCache{mint: func(context.Context, string) (string, error) { plain++; return "not-a-jwt", nil }, now: time.Now}
	p.get(ctx, "x")
	p.get(ctx, "x")
	if plain != 2 {
		t.Errorf("a token without exp was minted %d times for two calls, want 2", plain)
	}
}
