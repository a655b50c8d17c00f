package approval

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"regexp"
)

// csrfCookie prefixes the cookie that holds a random per-browser nonce for
// one link. The form's hidden field is HMAC(key, token id, nonce): a
// cross-site POST can neither read the cookie nor (with SameSite=Strict)
// make the browser send it, and a field copied from another browser does
// not match this browser's nonce. One cookie per link keeps two approval
// pages open side by side from overwriting each other's nonce, which
// would happen with one shared cookie because a Strict cookie is not sent
// on the cross-site navigation from a webmail.
const csrfCookie = "qg_approval_csrf"

// cookieName returns the CSRF cookie name for a token id.
func cookieName(tokenID string) string {
	if len(tokenID) > 16 {
		tokenID = tokenID[:16]
	}
	return csrfCookie + "_" + tokenID
}

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22,64}$`)

func newNonce() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b64.EncodeToString(b)
}

func csrfValue(key []byte, tokenID, nonce string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("querygate-approval-csrf-v1."))
	h.Write([]byte(tokenID))
	h.Write([]byte{0})
	h.Write([]byte(nonce))
	return b64.EncodeToString(h.Sum(nil))
}

// browserNonce returns the nonce of the request's cookie for the token id,
// or "" when it has none or a malformed one.
func browserNonce(r *http.Request, tokenID string) string {
	c, err := r.Cookie(cookieName(tokenID))
	if err != nil || !nonceRE.MatchString(c.Value) {
		return ""
	}
	return c.Value
}

func checkCSRF(key []byte, tokenID, nonce, field string) bool {
	if nonce == "" || field == "" {
		return false
	}
	return hmac.Equal([]byte(field), []byte(csrfValue(key, tokenID, nonce)))
}
