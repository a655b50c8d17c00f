package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/session"
)

// DecideForm is the decoded POST of the approval page.
type DecideForm struct {
	Token     string
	SessionID string
	Decision  string // approve or deny
	Comment   string
	CSRF      string
}

// maxComment bounds the comment, in characters.
const maxComment = 2000

// Outcome is a decision that was recorded and delivered.
type Outcome struct {
	SessionID string
	// Decision is approved or rejected, or pending when this approval
	// counted towards a quorum that is not met yet.
	Decision  string
	Approver  string
	Comment   string
	DecidedAt time.Time
	// Redelivered is true when this POST only retried the delivery of a
	// decision recorded by an earlier POST with the same link.
	Redelivered bool
	// Progress is the quorum's progress, "1 of 2 approvals: a@x.com",
	// when more than one approval is needed.
	Progress string
}

// DeliveryError means the decision was recorded on the session but the
// workflow's callback did not accept it. The same link and form may be
// posted again to retry the delivery.
type DeliveryError struct {
	Outcome Outcome
	Err     error
}

func (e *DeliveryError) Error() string { return "deliver decision: " + e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// errRedeliver marks an Update that found the decision already recorded by
// this very link.
var errRedeliver = errors.New("redeliver")

// request is everything Decide needs from the HTTP request.
type request struct {
	Form         DecideForm
	HTTP         *http.Request // for the CSRF cookie
	IAPAssertion string
}

// decide checks every condition and, when all hold, records the decision on
// the session atomically and posts it to the callback. Caller mistakes are
// returned as *Refusal and change nothing; a failed callback is a
// *DeliveryError.
func (s *Service) decide(ctx context.Context, in request) (Outcome, error) {
	c, key, err := s.verifyLink(ctx, in.Form.Token)
	if err != nil {
		return Outcome{}, err
	}
	if !checkCSRF(key, c.ID, browserNonce(in.HTTP, c.ID), in.Form.CSRF) {
		return Outcome{}, refuseCSRF
	}
	if in.Form.SessionID != c.SessionID {
		return Outcome{}, refuseWrongSession
	}
	now := s.now().UTC()
	if !now.Before(c.Expiry()) {
		return Outcome{}, refuseExpired
	}
	if s.iap != nil {
		email, err := s.iap.VerifyIAP(ctx, in.IAPAssertion)
		if err != nil || email != c.Approver {
			slog.WarnContext(ctx, "approval IAP check failed", "session_id", c.SessionID, "error", err)
			return Outcome{}, refuseIAP
		}
	}
	var decision string
	switch in.Form.Decision {
	case DecisionApprove:
		decision = "approved"
	case DecisionDeny:
		decision = "rejected"
	default:
		return Outcome{}, refuseBadForm
	}
	if in.Form.Decision != c.Decision {
		return Outcome{}, refuseWrongDecision
	}
	if !utf8.ValidString(in.Form.Comment) || utf8.RuneCountInString(in.Form.Comment) > maxComment {
		return Outcome{}, refuseBadForm
	}

	return s.castVote(ctx, ballot{
		SessionID: c.SessionID,
		Approver:  c.Approver,
		Decision:  decision,
		Comment:   in.Form.Comment,
		TokenID:   c.ID,
		Binding:   func(x *session.Session) *Refusal { return queryChanged(c, x) },
	}, now)
}

// ballot is one approver's decision, from a link or the decisions API.
type ballot struct {
	SessionID string
	Approver  string // normalized email
	Decision  string // approved or rejected
	Comment   string
	// TokenID is the link's id; empty for the API.
	TokenID string
	// Via is "api" for the decisions API, empty for a link.
	Via string
	// RunSHA256 is the run hash the API caller named.
	RunSHA256 string
	// Binding refuses when the session is no longer what the approver
	// saw.
	Binding func(*session.Session) *Refusal
}

// castVote records b on the session in one atomic update and, when it
// decides the session (a deny, or the approval that meets the quorum),
// posts the decision to the workflow's callback. The store's Update is
// the only place the quorum is counted, so of two approvals arriving
// together exactly one sees the quorum met and delivers. Caller mistakes
// are *Refusal and change nothing; a failed callback is a
// *DeliveryError.
func (s *Service) castVote(ctx context.Context, b ballot, now time.Time) (Outcome, error) {
	var prog progress
	ss, err := s.deps.Store.Update(ctx, b.SessionID, func(x *session.Session) error {
		ap := x.Approval
		if b.Via == "api" && (ap == nil || !slices.Contains(ap.Approvers, b.Approver)) {
			// Through the API a caller who is not an approver learns
			// nothing about the session, not even whether it waits.
			if b.Approver == requester(x) {
				return refuseSelf
			}
			return refuseNotApprover
		}
		if ap == nil || ap.RequestedAt.IsZero() {
			return refuseNotPending
		}
		decidedByMe := ap.Decision != "" && ap.Decision != "expired" && ap.DecidedBy == b.Approver
		if b.TokenID != "" && slices.Contains(ap.UsedTokens, b.TokenID) {
			if decidedByMe {
				return errRedeliver
			}
			return refuseUsed
		}
		if b.TokenID == "" && decidedByMe {
			return errRedeliver
		}
		if x.Status != session.StatusPendingApproval || ap.Decision != "" {
			return refuseNotPending
		}
		if !now.Before(ap.ExpiresAt) {
			return refuseExpired
		}
		if b.Approver == requester(x) {
			return refuseSelf
		}
		if !slices.Contains(ap.Approvers, b.Approver) {
			return refuseNotApprover
		}
		if ref := b.Binding(x); ref != nil {
			return ref
		}
		if b.Decision == "approved" && slices.ContainsFunc(ap.Approvals, func(v session.Vote) bool { return v.Approver == b.Approver }) {
			return refuseAlreadyApproved
		}
		if b.TokenID != "" {
			ap.UsedTokens = append(ap.UsedTokens, b.TokenID)
		}
		via := b.Via
		if via == "" {
			via = "link"
		}
		data := session.ApprovalDecidedData{Decision: b.Decision, Comment: b.Comment, TokenID: b.TokenID, Via: b.Via, RunSHA256: b.RunSHA256}
		final := true
		if b.Decision == "approved" {
			ap.Approvals = append(ap.Approvals, session.Vote{Approver: b.Approver, At: now, Comment: b.Comment, Via: via})
			prog = quorumOf(ap)
			final = prog.Met()
			if prog.Required > 1 || ap.AllGroupsMustApprove {
				data.Pending, data.Approvals, data.Required = !final, int64(prog.Count), int64(prog.Required)
			}
		}
		if final {
			ap.Decision = b.Decision
			ap.DecidedBy = b.Approver
			ap.DecidedAt = now
			ap.Comment = b.Comment
		}
		x.AddEvent(now, b.Approver, data)
		return nil
	})
	redeliver := errors.Is(err, errRedeliver)
	switch {
	case redeliver:
		ss, err = s.deps.Store.Get(ctx, b.SessionID)
		if err != nil {
			return Outcome{}, fmt.Errorf("get session: %w", err)
		}
	case errors.Is(err, session.ErrNotFound):
		return Outcome{}, refuseNotFound
	case err != nil:
		var ref *Refusal
		if errors.As(err, &ref) {
			return Outcome{}, ref
		}
		return Outcome{}, fmt.Errorf("record decision: %w", err)
	}
	ap := ss.Approval
	if ap.Decision == "" {
		// Counted; the quorum is not met yet, so nothing is delivered.
		slog.InfoContext(ctx, "approval counted", "session_id", ss.ID, "approvals", prog.Count, "required", prog.Required)
		return Outcome{SessionID: ss.ID, Decision: DecisionPending, Approver: b.Approver, Comment: b.Comment,
			DecidedAt: now, Progress: quorumOf(ap).String()}, nil
	}
	out := Outcome{
		SessionID:   ss.ID,
		Decision:    ap.Decision,
		Approver:    ap.DecidedBy,
		Comment:     ap.Comment,
		DecidedAt:   ap.DecidedAt,
		Redelivered: redeliver,
	}
	if ap.MinApprovals > 1 || ap.AllGroupsMustApprove {
		out.Progress = quorumOf(ap).String()
	}
	req, err := s.deps.State.Get(ctx, ss.ID)
	if err != nil {
		return Outcome{}, &DeliveryError{Outcome: out, Err: fmt.Errorf("load callback: %w", err)}
	}
	if redeliver && !req.DeliveredAt.IsZero() {
		if b.TokenID == "" {
			return Outcome{}, refuseNotPending
		}
		return Outcome{}, refuseUsed
	}
	if err := s.deliver(ctx, req.CallbackURL, CallbackBody{Decision: out.Decision, Approver: out.Approver, Comment: out.Comment}); err != nil {
		return Outcome{}, &DeliveryError{Outcome: out, Err: err}
	}
	if err := s.deps.State.MarkDelivered(ctx, ss.ID, s.now()); err != nil {
		// The workflow has the decision; only a later redelivery attempt
		// would be affected, and the workflow ignores a second callback.
		slog.ErrorContext(ctx, "record callback delivery", "session_id", ss.ID, "error", err)
	}
	slog.InfoContext(ctx, "approval decided", "session_id", ss.ID, "decision", out.Decision, "redelivered", redeliver)
	return out, nil
}

// verifyLink checks the token's signature and returns its claims and the
// key that signed it.
func (s *Service) verifyLink(ctx context.Context, tok string) (Claims, []byte, error) {
	if tok == "" {
		return Claims{}, nil, refuseBadToken
	}
	c, err := ParseToken(ctx, s.deps.Keys, tok)
	if err != nil {
		slog.InfoContext(ctx, "approval link refused", "reason", err.Error())
		return Claims{}, nil, refuseBadToken
	}
	key, err := s.deps.Keys.VerificationKey(ctx, kidOf(tok))
	if err != nil {
		return Claims{}, nil, refuseBadToken
	}
	return c, key, nil
}

// statusOf maps an error of decide or show to an HTTP status.
func statusOf(err error) int {
	var ref *Refusal
	var de *DeliveryError
	switch {
	case errors.As(err, &ref):
		return ref.Status
	case errors.As(err, &de):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}
