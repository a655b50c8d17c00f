package secrets

import "errors"

// Sentinel errors of package secrets.
var (
	// ErrUnavailable means the secret version does not exist, or exists but
	// is disabled or destroyed: Secret Manager answered NOT_FOUND or
	// FAILED_PRECONDITION. Retrying will not help until an operator acts.
	ErrUnavailable = errors.New("secret version not found, disabled or destroyed")
	// ErrBadName means a secret or version resource name is malformed.
	ErrBadName = errors.New("malformed secret resource name")
	// ErrKeyTooShort means a link key version holds fewer than
	// MinKeyBytes bytes.
	ErrKeyTooShort = errors.New("approval link key too short")
)
