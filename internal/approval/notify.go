package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// NotifyResult is the notify function's answer to the workflow.
type NotifyResult struct {
	Notified  int       `json:"notified"`
	ExpiresAt time.Time `json:"expires_at"`
}

// errNoChange makes a Store.Update write nothing when the state is already
// as wanted.
var errNoChange = errors.New("no change")

// Notify requests approval for the session: it records the approval request
// on the session (status pending_approval, event approval.requested), keeps
// callbackURL server-side, and mails every approver an Approve and a Deny
// link. It is idempotent: a retry finds the request already recorded,
// mails only approvers whose mail was not yet accepted, and returns the
// same answer. Caller mistakes are returned as *Refusal.
func (s *Service) Notify(ctx context.Context, sessionID, callbackURL string) (NotifyResult, error) {
	if err := s.checkCallbackURL(callbackURL); err != nil {
		return NotifyResult{}, err
	}
	ss, err := s.deps.Store.Get(ctx, sessionID)
	if errors.Is(err, session.ErrNotFound) {
		return NotifyResult{}, &Refusal{http.StatusNotFound, "not_found", "session not found", "No session has id " + sessionID + "."}
	}
	if err != nil {
		return NotifyResult{}, fmt.Errorf("get session: %w", err)
	}
	if ss.Decision == nil || ss.Decision.Action != "require_approval" || ss.Decision.ApproverGroup == "" {
		return NotifyResult{}, &Refusal{http.StatusConflict, "no_approval_required", "policy did not require approval",
			"The session's policy decision is not require_approval with an approver group."}
	}

	var approvers []string
	var members []session.GroupMembers
	if ss.Approval == nil || ss.Approval.RequestedAt.IsZero() {
		approvers, members, err = s.approvers(ctx, ss)
		if err != nil {
			return NotifyResult{}, err
		}
		if ref := unreachable(newApproval(ss.Decision, approvers, members)); ref != nil {
			return NotifyResult{}, ref
		}
	}
	now := s.now().UTC()
	ttl := time.Duration(ss.Decision.ApprovalTTL)
	if ttl <= 0 {
		ttl = s.cfg.DefaultTTL
	}
	ttl = min(ttl, s.cfg.MaxTTL)
	// Link expiries are whole seconds; so is the recorded expiry.
	expires := now.Add(ttl).Truncate(time.Second)

	req, err := s.deps.State.Begin(ctx, Request{SessionID: ss.ID, CallbackURL: callbackURL, ExpiresAt: expires, CreatedAt: now})
	if err != nil {
		return NotifyResult{}, fmt.Errorf("store approval request: %w", err)
	}
	ss, err = s.deps.Store.Update(ctx, ss.ID, func(x *session.Session) error {
		if x.Approval != nil && !x.Approval.RequestedAt.IsZero() {
			return errNoChange
		}
		if x.Status.Terminal() {
			return &Refusal{http.StatusConflict, "session_ended", "session already ended", "The session is " + string(x.Status) + "."}
		}
		if x.SQLSHA256 != session.SQLHash(x.SQL) {
			return &Refusal{http.StatusConflict, "sql_changed", "SQL hash mismatch", "The session's SQL does not match its recorded SHA-256."}
		}
		x.Approval = newApproval(x.Decision, approvers, members)
		x.Approval.RequestedAt = now
		x.Approval.ExpiresAt = req.ExpiresAt
		x.Status = session.StatusPendingApproval
		x.AddEvent(now, s.cfg.Actor, session.ApprovalRequestedData{
			Group:     x.Approval.Group,
			Approvers: approvers,
			ExpiresAt: req.ExpiresAt.UTC().Format(time.RFC3339),

			MinApprovals:         int64(x.Approval.MinApprovals),
			Groups:               x.Approval.Groups,
			AllGroupsMustApprove: x.Approval.AllGroupsMustApprove,
		})
		return nil
	})
	if errors.Is(err, errNoChange) {
		ss, err = s.deps.Store.Get(ctx, sessionID)
	}
	if err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			return NotifyResult{}, ref
		}
		return NotifyResult{}, fmt.Errorf("record approval request: %w", err)
	}
	ap := ss.Approval
	res := NotifyResult{Notified: len(ap.Approvers), ExpiresAt: ap.ExpiresAt.UTC()}
	if ap.Decision != "" || !now.Before(ap.ExpiresAt) {
		// Decided or expired meanwhile: a retry must not mail live links.
		return res, nil
	}
	var errs []error
	for _, a := range ap.Approvers {
		if slices.Contains(req.Notified, a) {
			continue
		}
		if err := s.mailApprover(ctx, ss, a, false); err != nil {
			errs = append(errs, fmt.Errorf("mail approver: %w", err))
			continue
		}
		if err := s.deps.State.MarkNotified(ctx, ss.ID, a); err != nil {
			errs = append(errs, fmt.Errorf("record notified approver: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return NotifyResult{}, err
	}
	slog.InfoContext(ctx, "approval requested", "session_id", ss.ID, "group", ap.Group, "approvers", len(ap.Approvers))
	return res, nil
}

// quorumGroups returns the approver groups of a decision: its
// approver_groups, or its one approver_group.
func quorumGroups(d *session.Decision) []string {
	if len(d.ApproverGroups) > 0 {
		return d.ApproverGroups
	}
	return []string{d.ApproverGroup}
}

// newApproval is the approval request policy's decision asks for, before
// it is recorded.
func newApproval(d *session.Decision, approvers []string, members []session.GroupMembers) *session.Approval {
	ap := &session.Approval{Group: d.ApproverGroup, Approvers: approvers}
	if d.MinApprovals > 1 || len(d.ApproverGroups) > 1 {
		ap.MinApprovals = max(d.MinApprovals, 1)
		ap.Groups = slices.Clone(d.ApproverGroups)
		ap.AllGroupsMustApprove = d.AllGroupsMustApprove && len(d.ApproverGroups) > 1
		if ap.AllGroupsMustApprove {
			ap.Members = members
		}
	}
	return ap
}

// approvers resolves the approver groups to normalized, deduplicated
// member emails, leaving out the requester, who may not decide on their
// own query. members lists the eligible approvers per group.
func (s *Service) approvers(ctx context.Context, ss *session.Session) ([]string, []session.GroupMembers, error) {
	req := requester(ss)
	var out []string
	var members []session.GroupMembers
	for _, g := range quorumGroups(ss.Decision) {
		list, err := s.deps.Groups.Members(ctx, g)
		if errors.Is(err, ErrUnknownGroup) {
			return nil, nil, &Refusal{http.StatusUnprocessableEntity, "unknown_group", "unknown approver group",
				"The approver group " + g + " is not configured."}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("resolve approver group: %w", err)
		}
		gm := session.GroupMembers{Group: g, Approvers: []string{}}
		for _, m := range list {
			m = normEmail(m)
			if m == "" || m == req || !strings.Contains(m, "@") || slices.Contains(gm.Approvers, m) {
				continue
			}
			gm.Approvers = append(gm.Approvers, m)
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
		slices.Sort(gm.Approvers)
		members = append(members, gm)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, nil, &Refusal{http.StatusUnprocessableEntity, "no_approvers", "no eligible approvers",
			"The approver group " + ss.Decision.ApproverGroup + " has no member other than the requester."}
	}
	return out, members, nil
}

// mailApprover mails approver fresh Approve and Deny links for ss; with
// reminder set, as the reminder at half the approval window.
func (s *Service) mailApprover(ctx context.Context, ss *session.Session, approver string, reminder bool) error {
	base := Claims{
		SessionID: ss.ID,
		SQLSHA256: ss.SQLSHA256,
		RunSHA256: RunHash(ss),
		Approver:  approver,
		ExpiresAt: ss.Approval.ExpiresAt.Unix(),
	}
	approve, deny := base, base
	approve.Decision, deny.Decision = DecisionApprove, DecisionDeny
	at, err := SignToken(ctx, s.deps.Keys, approve)
	if err != nil {
		return err
	}
	dt, err := SignToken(ctx, s.deps.Keys, deny)
	if err != nil {
		return err
	}
	msg, err := renderEmail(emailView{
		details:    newDetails(ss, ss.Approval.ExpiresAt),
		To:         approver,
		ApproveURL: s.link(at),
		DenyURL:    s.link(dt),
		Reminder:   reminder,
	})
	if err != nil {
		return fmt.Errorf("render mail: %w", err)
	}
	return s.deps.Mailer.Send(ctx, msg)
}

func (s *Service) checkCallbackURL(raw string) error {
	bad := func(why string) error {
		return &Refusal{http.StatusBadRequest, "bad_callback_url", "invalid callback_url", why}
	}
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return bad("callback_url must be an absolute http(s) URL without credentials or fragment.")
	}
	if len(s.cfg.CallbackURLPrefixes) == 0 {
		return nil
	}
	for _, p := range s.cfg.CallbackURLPrefixes {
		if strings.HasPrefix(raw, p) {
			return nil
		}
	}
	return bad("callback_url is not under an allowed prefix.")
}
