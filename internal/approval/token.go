package approval

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The decisions a link carries and a form posts. A link can post only its
// own decision.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// Claims is what an approval link token binds. The token is
// "<kid>.<base64url(JSON claims)>.<base64url(HMAC-SHA-256)>", the MAC taken
// over "querygate-approval-v1.<kid>.<payload>" with the key named kid.
type Claims struct {
	SessionID string `json:"sid"`
	SQLSHA256 string `json:"sql"` // lowercase hex SHA-256 of the exact SQL
	// RunSHA256 binds the rest of what runs: RunHash of the session, over
	// the SQL hash, the default dataset and the parameters.
	RunSHA256 string `json:"run"`
	Approver  string `json:"em"`  // lowercased email the link was sent to
	Decision  string `json:"d"`   // approve or deny: the only decision this link can post
	ExpiresAt int64  `json:"exp"` // Unix seconds
	ID        string `json:"jti"` // random, single use
}

// Expiry returns ExpiresAt as a time.
func (c Claims) Expiry() time.Time { return time.Unix(c.ExpiresAt, 0).UTC() }

// maxTokenLen bounds the token before any decoding work.
const maxTokenLen = 2048

var (
	kidRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hexRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	jtiRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	b64    = base64.RawURLEncoding
	domain = []byte("querygate-approval-v1.")
)

func (c Claims) validate() error {
	switch {
	case c.SessionID == "" || len(c.SessionID) > 256:
		return fmt.Errorf("%w: session id", ErrBadToken)
	case !hexRE.MatchString(c.SQLSHA256):
		return fmt.Errorf("%w: sql hash", ErrBadToken)
	case !hexRE.MatchString(c.RunSHA256):
		return fmt.Errorf("%w: run hash", ErrBadToken)
	case c.Approver == "" || len(c.Approver) > 320 || c.Approver != normEmail(c.Approver):
		return fmt.Errorf("%w: approver", ErrBadToken)
	case c.Decision != DecisionApprove && c.Decision != DecisionDeny:
		return fmt.Errorf("%w: decision", ErrBadToken)
	case c.ExpiresAt <= 0:
		return fmt.Errorf("%w: expiry", ErrBadToken)
	case !jtiRE.MatchString(c.ID):
		return fmt.Errorf("%w: token id", ErrBadToken)
	}
	return nil
}

func newTokenID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b64.EncodeToString(b)
}

func mac(key []byte, kid, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(domain)
	h.Write([]byte(kid))
	h.Write([]byte{'.'})
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// SignToken signs c with the current key of keys. A zero c.ID gets a fresh
// random id.
func SignToken(ctx context.Context, keys Keys, c Claims) (string, error) {
	if c.ID == "" {
		c.ID = newTokenID()
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	kid, key, err := keys.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	if !kidRE.MatchString(kid) {
		return "", fmt.Errorf("signing key id %q is not URL-safe", kid)
	}
	js, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := b64.EncodeToString(js)
	return kid + "." + payload + "." + b64.EncodeToString(mac(key, kid, payload)), nil
}

// splitToken checks the token's shape without any key.
func splitToken(tok string) (kid, payload string, sig []byte, err error) {
	if len(tok) > maxTokenLen {
		return "", "", nil, fmt.Errorf("%w: too long", ErrBadToken)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || !kidRE.MatchString(parts[0]) || parts[1] == "" {
		return "", "", nil, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	sig, err = b64.Strict().DecodeString(parts[2])
	if err != nil || len(sig) != sha256.Size {
		return "", "", nil, fmt.Errorf("%w: malformed signature", ErrBadToken)
	}
	return parts[0], parts[1], sig, nil
}

// ParseToken verifies tok's signature and returns its claims. It does not
// check expiry; the caller does, with its clock. The claims are decoded
// only after the MAC verifies.
func ParseToken(ctx context.Context, keys Keys, tok string) (Claims, error) {
	kid, payload, sig, err := splitToken(tok)
	if err != nil {
		return Claims{}, err
	}
	key, err := keys.VerificationKey(ctx, kid)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: key %q: %w", ErrBadToken, kid, err)
	}
	if !hmac.Equal(sig, mac(key, kid, payload)) {
		return Claims{}, fmt.Errorf("%w: signature does not verify", ErrBadToken)
	}
	return decodeClaims(payload)
}

func decodeClaims(payload string) (Claims, error) {
	js, err := b64.Strict().DecodeString(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload encoding", ErrBadToken)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrBadToken, err)
	}
	if dec.More() {
		return Claims{}, fmt.Errorf("%w: trailing data", ErrBadToken)
	}
	if err := c.validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// kidOf returns the key id of a well-formed token.
func kidOf(tok string) string {
	kid, _, _, err := splitToken(tok)
	if err != nil {
		return ""
	}
	return kid
}
