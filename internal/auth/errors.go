package auth

import "errors"

// Sentinel errors. Every verification failure wraps ErrUnauthenticated so the
// HTTP edge answers 401 without revealing which check failed.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrNoToken         = errors.New("missing bearer token")
	ErrUnknownIssuer   = errors.New("token issuer is not trusted")
)
