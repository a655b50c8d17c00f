package approval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// Expire records that the approval window closed without a decision: the
// approval's decision becomes "expired", the session status expired, and
// an approval.expired event is appended, in one atomic update. It ends the
// wait at once, whatever the clock says, for a caller outside the
// workflow; the workflow itself learns of expiry from ReadDecision, which
// closes the window only once it has passed and leaves the status to the
// record step. It returns
// false, changing nothing, when the session was already decided, expired
// or ended, so a retried call is harmless.
func (s *Service) Expire(ctx context.Context, sessionID string) (bool, error) {
	now := s.now().UTC()
	_, err := s.deps.Store.Update(ctx, sessionID, func(x *session.Session) error {
		ap := x.Approval
		if ap == nil || ap.RequestedAt.IsZero() {
			return &Refusal{http.StatusConflict, "not_requested", "approval was never requested", "Only a session held for approval can expire."}
		}
		if ap.Decision != "" || x.Status != session.StatusPendingApproval {
			return errNoChange
		}
		ap.Decision = "expired"
		ap.DecidedAt = now
		x.Status = session.StatusExpired
		x.AddEvent(now, s.cfg.Actor, session.ApprovalExpiredData{
			ExpiresAt: ap.ExpiresAt.UTC().Format(time.RFC3339),
		})
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return false, nil
	case errors.Is(err, session.ErrNotFound):
		return false, fmt.Errorf("expire %s: %w", sessionID, err)
	case err != nil:
		var ref *Refusal
		if errors.As(err, &ref) {
			return false, ref
		}
		return false, fmt.Errorf("expire %s: %w", sessionID, err)
	}
	return true, nil
}
