package steps

import (
	"context"

	"github.com/querygate/querygate/internal/session"
)

// Settler is told by the record step that a session has ended (package
// limits: charge the job's billed bytes to the principal's day, free its
// concurrent_sessions slot). Settle must be idempotent on the session id:
// a retried record step calls it again.
type Settler interface {
	Settle(ctx context.Context, s *session.Session) error
}

// settle runs the Settler, if any. A failure is transient: the record step
// answers 5xx and the workflow retries it, so no charge is lost.
func (s *Steps) settle(ctx context.Context, sess *session.Session) error {
	if s.Settler == nil {
		return nil
	}
	// Bounded like every other dependency call (bounded.go).
	ctx, cancel := context.WithTimeout(ctx, s.limits().CallTimeout)
	defer cancel()
	if err := s.Settler.Settle(ctx, sess); err != nil {
		return transient("settle limits", err)
	}
	return nil
}
