package approval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// RecordedDecision is the decision on record for a session, as the
// workflow reads it after its callback wakes it or its wait times out.
type RecordedDecision struct {
	// Decision is approved, rejected, expired or pending.
	Decision string `json:"decision"`
	Approver string `json:"approver"`
	Comment  string `json:"comment"`
	// WaitSeconds, while pending, is what is left of the approval window,
	// at least 1; otherwise 0.
	WaitSeconds int64 `json:"wait_seconds"`
}

// DecisionPending is RecordedDecision.Decision while nobody has decided
// and the window is open.
const DecisionPending = "pending"

// ReadDecision returns the decision recorded on the session. The callback
// body only wakes the workflow; this record, which only the approval
// page's fully checked POST writes, is the decision. So a forged callback
// changes no outcome: the workflow finds the record pending and waits for
// the rest of the window.
//
// Once the window has closed with no decision, ReadDecision closes it on
// record, atomically (approval decision "expired", event
// approval.expired): a decision can no longer land after the workflow
// concluded. The session's status is left for the record step to end.
// Caller mistakes are returned as *Refusal.
func (s *Service) ReadDecision(ctx context.Context, sessionID string) (RecordedDecision, error) {
	for range 2 {
		ss, err := s.deps.Store.Get(ctx, sessionID)
		if errors.Is(err, session.ErrNotFound) {
			return RecordedDecision{}, &Refusal{http.StatusNotFound, "not_found", "session not found", "No session has id " + sessionID + "."}
		}
		if err != nil {
			return RecordedDecision{}, fmt.Errorf("get session: %w", err)
		}
		ap := ss.Approval
		if ap == nil || ap.RequestedAt.IsZero() {
			return RecordedDecision{}, &Refusal{http.StatusConflict, "not_requested", "approval was never requested", "Only a session held for approval has a decision."}
		}
		now := s.now().UTC()
		switch ap.Decision {
		case "approved", "rejected":
			return RecordedDecision{Decision: ap.Decision, Approver: ap.DecidedBy, Comment: ap.Comment}, nil
		case "expired":
			return RecordedDecision{Decision: "expired"}, nil
		case "":
		default:
			return RecordedDecision{}, fmt.Errorf("session %s: unknown approval decision %q", sessionID, ap.Decision)
		}
		if ss.Status.Terminal() {
			return RecordedDecision{}, &Refusal{http.StatusConflict, "session_ended", "session already ended", "The session is " + string(ss.Status) + "."}
		}
		if left := ap.ExpiresAt.Sub(now); left > 0 {
			return RecordedDecision{Decision: DecisionPending, WaitSeconds: int64((left + time.Second - 1) / time.Second)}, nil
		}
		closed, err := s.closeWindow(ctx, sessionID, now)
		if err != nil {
			return RecordedDecision{}, err
		}
		if closed {
			return RecordedDecision{Decision: "expired"}, nil
		}
		// Someone decided in between: read again.
	}
	return RecordedDecision{}, fmt.Errorf("session %s: approval record keeps changing", sessionID)
}

// closeWindow marks a pending approval whose window has closed as
// expired. It reports false, changing nothing, when a decision is on
// record or the window is still open.
func (s *Service) closeWindow(ctx context.Context, sessionID string, now time.Time) (bool, error) {
	_, err := s.deps.Store.Update(ctx, sessionID, func(x *session.Session) error {
		ap := x.Approval
		if ap == nil || ap.Decision != "" || now.Before(ap.ExpiresAt) {
			return errNoChange
		}
		ap.Decision = "expired"
		ap.DecidedAt = now
		x.AddEvent(now, s.cfg.Actor, session.ApprovalExpiredData{ExpiresAt: ap.ExpiresAt.UTC().Format(time.RFC3339)})
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("close approval window: %w", err)
	}
	return true, nil
}
