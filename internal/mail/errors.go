package mail

import "errors"

// Sentinel errors of package mail.
var (
	// ErrNoSecret means the Secrets port holds no secret of that name.
	ErrNoSecret = errors.New("no such secret")
	// ErrEmptyMessage means a message had no recipient or no body.
	ErrEmptyMessage = errors.New("message needs a recipient and a text or HTML body")
)
