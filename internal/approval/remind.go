package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// Marks that Claim sets on a request.
const (
	// MarkReminder: the reminder at half the approval window was sent.
	MarkReminder = "reminder"
	// MarkBreakGlassReview: the approvers were mailed to review a
	// break-glass run (breakglass.go).
	MarkBreakGlassReview = "break_glass_review"
)

// SweepResult says what one Sweep sent.
type SweepResult struct {
	// Reminded counts the sessions whose reminder this sweep sent, and
	// Reviews the break-glass runs whose review mail it sent.
	Reminded int `json:"reminded"`
	Reviews  int `json:"reviews"`
}

// Sweep sends what is due: the one reminder of every approval still
// pending once half its window has passed (Remind), and the review mail
// of every break-glass run that ended (ReviewBreakGlass). Call it
// periodically, from any number of instances: each mail is claimed in the
// approval store (Claim) before it is sent, so no instance sends one
// twice. The local gateway runs it on a ticker; in the cloud a scheduler
// posts {"sweep": true} to the notify function (NewNotifyHandler).
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var errs []error
	n, err := s.Remind(ctx)
	res.Reminded = n
	errs = append(errs, err)
	n, err = s.ReviewBreakGlass(ctx)
	res.Reviews = n
	errs = append(errs, err)
	return res, errors.Join(errs...)
}

// Remind mails, once per approval request, the approvers who have not yet
// decided, when the request is still pending and half its window (from
// its creation to its expiry) has passed. It claims MarkReminder before
// mailing, so a reminder is sent at most once across instances; a failed
// mail is logged, not retried (the first mail's links still work). It
// returns how many sessions it reminded.
func (s *Service) Remind(ctx context.Context) (int, error) {
	now := s.now().UTC()
	reqs, err := s.deps.State.Open(ctx, now, openLimit)
	if err != nil {
		return 0, fmt.Errorf("list open requests: %w", err)
	}
	sent := 0
	var errs []error
	for _, req := range reqs {
		if now.Before(halfway(req)) {
			continue
		}
		ss, err := s.deps.Store.Get(ctx, req.SessionID)
		if errors.Is(err, session.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("get session: %w", err))
			continue
		}
		waiting := undecided(ss, now)
		if len(waiting) == 0 {
			continue
		}
		won, err := s.deps.State.Claim(ctx, ss.ID, MarkReminder, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("claim reminder: %w", err))
			continue
		}
		if !won {
			continue
		}
		sent++
		for _, a := range waiting {
			if err := s.mailApprover(ctx, ss, a, true); err != nil {
				slog.ErrorContext(ctx, "reminder mail failed", "session_id", ss.ID, "error", err.Error())
			}
		}
		slog.InfoContext(ctx, "approval reminder sent", "session_id", ss.ID, "approvers", len(waiting))
	}
	return sent, errors.Join(errs...)
}

// halfway is when half of a request's approval window has passed.
func halfway(r Request) time.Time {
	return r.CreatedAt.Add(r.ExpiresAt.Sub(r.CreatedAt) / 2)
}

// undecided lists the approvers of ss who may still decide at now: the
// session waits, the window is open, and they have not approved.
func undecided(ss *session.Session, now time.Time) []string {
	ap := ss.Approval
	if ap == nil || ss.Status != session.StatusPendingApproval || ap.Decision != "" || !now.Before(ap.ExpiresAt) {
		return nil
	}
	req := requester(ss)
	var out []string
	for _, a := range ap.Approvers {
		if a == req || slices.ContainsFunc(ap.Approvals, func(v session.Vote) bool { return v.Approver == a }) {
			continue
		}
		out = append(out, a)
	}
	return out
}
