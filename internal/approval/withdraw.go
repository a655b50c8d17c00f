package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// ViaRequester is the Via of the approval.decided event with which a
// requester withdrew a held query (Withdraw): the decision is rejected and
// the approver named is the requester.
const ViaRequester = "requester"

// errWithdrawn marks an Update that found the requester's withdrawal
// already recorded: only its delivery is retried.
var errWithdrawn = errors.New("already withdrawn")

// Withdraw ends a held query at its requester's request (the BigQuery
// front door's jobs.cancel): while the session waits for approval and no
// one has decided, it records the decision "rejected" with by as the
// decider, reason as the comment and an approval.decided event with Via
// ViaRequester (RecordWithdrawal), then wakes the workflow as a decision
// does. The workflow reads the record and ends the session rejected,
// recorded and audited like any rejection. Withdrawing cannot run
// anything: it only ever rejects.
//
// It reports false, changing nothing, when the session does not wait for
// approval (not yet decided by policy, already decided, or ended); a call
// that repeats a withdrawal whose delivery failed retries the delivery.
// by must be the session's requester (issuer and subject), else the
// session is not found. A failed wake-up is a *DeliveryError.
func (s *Service) Withdraw(ctx context.Context, sessionID string, by *session.Principal, reason string) (bool, error) {
	ss, err := recordWithdrawal(ctx, s.deps.Store, sessionID, by, reason, s.now().UTC())
	if err != nil || ss == nil {
		return false, err
	}
	ap := ss.Approval
	out := Outcome{SessionID: ss.ID, Decision: ap.Decision, Approver: ap.DecidedBy, Comment: ap.Comment, DecidedAt: ap.DecidedAt}
	req, err := s.deps.State.Get(ctx, ss.ID)
	if err != nil {
		return true, &DeliveryError{Outcome: out, Err: fmt.Errorf("load callback: %w", err)}
	}
	if err := s.deliver(ctx, req.CallbackURL, CallbackBody{Decision: out.Decision, Approver: out.Approver, Comment: out.Comment}); err != nil {
		return true, &DeliveryError{Outcome: out, Err: err}
	}
	if err := s.deps.State.MarkDelivered(ctx, ss.ID, s.now()); err != nil {
		slog.ErrorContext(ctx, "record callback delivery", "session_id", ss.ID, "error", err)
	}
	slog.InfoContext(ctx, "held query withdrawn by its requester", "session_id", ss.ID)
	return true, nil
}

// RecordWithdrawal is Withdraw for a process that holds the session store
// but may not send workflow callbacks (the cloud's Intake function, whose
// service account lacks workflows.callbacks.send by design): it records
// the withdrawal, so that no approver can approve the query any more, and
// leaves the workflow to read it when its approval window closes; the
// session then ends rejected. It reports whether a withdrawal is on record.
type RecordWithdrawal struct {
	Store session.Store
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Withdraw records the requester's withdrawal (see Service.Withdraw).
func (r RecordWithdrawal) Withdraw(ctx context.Context, sessionID string, by *session.Principal, reason string) (bool, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	ss, err := recordWithdrawal(ctx, r.Store, sessionID, by, reason, now().UTC())
	return ss != nil, err
}

// recordWithdrawal records the withdrawal and returns the session, or nil
// when the session does not wait for approval. A withdrawal already on
// record returns the session again, for its delivery to be retried.
func recordWithdrawal(ctx context.Context, st session.Store, sessionID string, by *session.Principal, reason string, now time.Time) (*session.Session, error) {
	ss, err := st.Update(ctx, sessionID, func(x *session.Session) error {
		if by == nil || x.Principal.Issuer != by.Issuer || x.Principal.Subject != by.Subject {
			return refuseNotFound
		}
		ap := x.Approval
		if ap != nil && ap.Decision == "rejected" && ap.DecidedBy == requester(x) && x.Status == session.StatusPendingApproval {
			return errWithdrawn
		}
		if ap == nil || ap.RequestedAt.IsZero() || ap.Decision != "" || x.Status != session.StatusPendingApproval {
			return errNoChange
		}
		ap.Decision, ap.DecidedBy, ap.DecidedAt, ap.Comment = "rejected", requester(x), now, reason
		x.AddEvent(now, requester(x), session.ApprovalDecidedData{Decision: "rejected", Comment: reason, Via: ViaRequester})
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return nil, nil
	case errors.Is(err, errWithdrawn):
		if ss, err = st.Get(ctx, sessionID); err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
	case errors.Is(err, session.ErrNotFound):
		return nil, refuseNotFound
	case err != nil:
		var ref *Refusal
		if errors.As(err, &ref) {
			return nil, ref
		}
		return nil, fmt.Errorf("record withdrawal: %w", err)
	}
	return ss, nil
}
