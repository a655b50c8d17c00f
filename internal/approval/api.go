package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/session"
)

// APIDecision is the body of POST /v1/approvals/{id}/decision. The two
// hashes are required: they are the ones the approver saw (GET
// /v1/approvals/{id} or the mail), so the decision covers exactly what
// runs, as a link's signature does.
type APIDecision struct {
	Decision  string `json:"decision"` // approve or deny
	Comment   string `json:"comment,omitempty"`
	SQLSHA256 string `json:"sql_sha256"`
	RunSHA256 string `json:"run_sha256"`
}

// APIOutcome is the answer to a decision through the API.
type APIOutcome struct {
	SessionID string `json:"session_id"`
	// Decision is approved or rejected, or pending when the approval
	// counted and the quorum still needs others.
	Decision  string    `json:"decision"`
	Approver  string    `json:"approver"`
	Progress  string    `json:"progress,omitempty"`
	DecidedAt time.Time `json:"decided_at"`
}

// PendingApproval is one held query as the decisions API shows it to an
// approver: what will run first, then the quorum, then the agent's text.
type PendingApproval struct {
	SessionID      string              `json:"session_id"`
	Status         string              `json:"status"`
	SQL            string              `json:"sql"`
	SQLSHA256      string              `json:"sql_sha256"`
	RunSHA256      string              `json:"run_sha256"`
	DefaultDataset string              `json:"default_dataset,omitempty"`
	Parameters     []session.Parameter `json:"parameters,omitempty"`
	Requester      string              `json:"requester"`
	Reasons        []string            `json:"reasons"`
	Groups         []string            `json:"groups"`
	MinApprovals   int                 `json:"min_approvals"`
	AllGroups      bool                `json:"all_groups_must_approve"`
	Approvals      []string            `json:"approvals"`
	Progress       string              `json:"progress"`
	ExpiresAt      time.Time           `json:"expires_at"`
	Agent          session.Agent       `json:"agent"`
	Prompt         string              `json:"prompt,omitempty"`
}

// openLimit bounds how many waiting requests one list reads.
const openLimit = 500

// maxAPIBody bounds the decision body: two hashes and a 2000-character
// comment fit easily.
const maxAPIBody = 32 << 10

// RegisterAPI mounts the approvers' decisions API on mux:
//
//	GET  /v1/approvals?status=pending   what waits for the caller
//	GET  /v1/approvals/{id}             one held query, for its approvers
//	POST /v1/approvals/{id}/decision    approve or deny (APIDecision)
//
// The caller is the approver named by the verified bearer token's email;
// the rules are the link's: only an approver asked for the query, never
// its requester, only while it waits, only for the SQL and run hash named
// in the request, each approver counted once. A caller who is not an
// approver of a session gets 404, so ids cannot be probed.
func (s *Service) RegisterAPI(mux *http.ServeMux, v auth.Verifier) {
	mux.Handle("GET /v1/approvals", s.authed(v, s.listAPI))
	mux.Handle("GET /v1/approvals/{id}", s.authed(v, s.getAPI))
	mux.Handle("POST /v1/approvals/{id}/decision", s.authed(v, s.decideAPI))
}

func (s *Service) authed(v auth.Verifier, h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.BearerToken(r)
		if err != nil {
			apiError(w, http.StatusUnauthorized, "unauthenticated", `send an OIDC ID token as "Authorization: Bearer <token>"`)
			return
		}
		p, err := v.Verify(r.Context(), tok)
		if err != nil {
			apiError(w, http.StatusUnauthorized, "unauthenticated", "the bearer token could not be verified")
			return
		}
		h(w, r, normEmail(p.Email))
	})
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func apiRefusal(w http.ResponseWriter, ref *Refusal) {
	if ref == refuseNotApprover {
		ref = refuseNotFound
	}
	apiError(w, ref.Status, ref.Code, ref.Title+". "+ref.Detail)
}

func (s *Service) listAPI(w http.ResponseWriter, r *http.Request, me string) {
	if st := r.URL.Query().Get("status"); st != "" && st != "pending" {
		apiError(w, http.StatusBadRequest, "bad_request", "status must be pending (the only list the approvals API has)")
		return
	}
	list, err := s.Waiting(r.Context(), me)
	if err != nil {
		slog.ErrorContext(r.Context(), "list approvals", "error", err)
		apiError(w, http.StatusInternalServerError, "internal", "could not list approvals; retry")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": list})
}

func (s *Service) getAPI(w http.ResponseWriter, r *http.Request, me string) {
	ss, err := s.deps.Store.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, session.ErrNotFound):
		apiRefusal(w, refuseNotFound)
		return
	case err != nil:
		slog.ErrorContext(r.Context(), "get approval", "error", err)
		apiError(w, http.StatusInternalServerError, "internal", "could not read the session; retry")
		return
	}
	if me != "" && me == requester(ss) {
		apiRefusal(w, refuseSelf)
		return
	}
	if ss.Approval == nil || !slices.Contains(ss.Approval.Approvers, me) {
		apiRefusal(w, refuseNotFound)
		return
	}
	writeJSON(w, http.StatusOK, pendingView(ss))
}

func (s *Service) decideAPI(w http.ResponseWriter, r *http.Request, me string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "the body must be JSON of at most 32 KiB")
		return
	}
	var in APIDecision
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		apiError(w, http.StatusBadRequest, "bad_request", `want JSON {"decision": "approve"|"deny", "sql_sha256", "run_sha256", "comment"}`)
		return
	}
	out, err := s.DecideAs(r.Context(), me, r.PathValue("id"), in)
	if err != nil {
		var ref *Refusal
		var de *DeliveryError
		switch {
		case errors.As(err, &ref):
			apiRefusal(w, ref)
		case errors.As(err, &de):
			slog.ErrorContext(r.Context(), "approval callback failed", "session_id", de.Outcome.SessionID, "error", de.Err)
			apiError(w, http.StatusBadGateway, "delivery_failed",
				"your decision was recorded but the workflow could not be reached; send the same request again to retry the delivery")
		default:
			slog.ErrorContext(r.Context(), "decide through the API", "error", err)
			apiError(w, http.StatusInternalServerError, "internal", "nothing was decided; retry")
		}
		return
	}
	writeJSON(w, http.StatusOK, APIOutcome{SessionID: out.SessionID, Decision: out.Decision, Approver: out.Approver,
		Progress: out.Progress, DecidedAt: out.DecidedAt.UTC()})
}

// refuseHashes is the API's refusal of a decision that names no hashes.
var refuseHashes = &Refusal{http.StatusBadRequest, "hash_required", "The decision must name what you approve",
	"Send sql_sha256 and run_sha256 as shown by GET /v1/approvals/{id}, so that your decision covers exactly the query you saw."}

// DecideAs records approver's decision on the session through the API,
// under the link's rules (see castVote). approver is the verified email
// of the caller; an empty one is no approver.
func (s *Service) DecideAs(ctx context.Context, approver, sessionID string, in APIDecision) (Outcome, error) {
	var decision string
	switch in.Decision {
	case DecisionApprove:
		decision = "approved"
	case DecisionDeny:
		decision = "rejected"
	default:
		return Outcome{}, refuseBadForm
	}
	if in.SQLSHA256 == "" || in.RunSHA256 == "" {
		return Outcome{}, refuseHashes
	}
	if !utf8.ValidString(in.Comment) || utf8.RuneCountInString(in.Comment) > maxComment {
		return Outcome{}, refuseBadForm
	}
	if approver == "" {
		return Outcome{}, refuseNotApprover
	}
	c := Claims{SessionID: sessionID, SQLSHA256: in.SQLSHA256, RunSHA256: in.RunSHA256, Approver: approver}
	return s.castVote(ctx, ballot{
		SessionID: sessionID,
		Approver:  approver,
		Decision:  decision,
		Comment:   in.Comment,
		Via:       "api",
		RunSHA256: in.RunSHA256,
		Binding:   func(x *session.Session) *Refusal { return queryChanged(c, x) },
	}, s.now().UTC())
}

// Waiting lists the held queries that wait for approver's decision: open,
// undecided, with approver among their approvers and not yet approved by
// them, the soonest expiry first.
func (s *Service) Waiting(ctx context.Context, approver string) ([]PendingApproval, error) {
	out := []PendingApproval{}
	if approver == "" {
		return out, nil
	}
	now := s.now().UTC()
	reqs, err := s.deps.State.Open(ctx, now, openLimit)
	if err != nil {
		return nil, fmt.Errorf("list open requests: %w", err)
	}
	for _, req := range reqs {
		ss, err := s.deps.Store.Get(ctx, req.SessionID)
		if errors.Is(err, session.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		ap := ss.Approval
		if ap == nil || ss.Status != session.StatusPendingApproval || ap.Decision != "" || !now.Before(ap.ExpiresAt) ||
			!slices.Contains(ap.Approvers, approver) || approver == requester(ss) ||
			slices.ContainsFunc(ap.Approvals, func(v session.Vote) bool { return v.Approver == approver }) {
			continue
		}
		out = append(out, pendingView(ss))
	}
	return out, nil
}

func pendingView(ss *session.Session) PendingApproval {
	ap := ss.Approval
	p := quorumOf(ap)
	v := PendingApproval{
		SessionID: ss.ID, Status: string(ss.Status), SQL: ss.SQL, SQLSHA256: ss.SQLSHA256, RunSHA256: RunHash(ss),
		DefaultDataset: ss.DefaultDataset, Parameters: ss.Parameters, Requester: requester(ss),
		Reasons: []string{}, Groups: ap.Groups, MinApprovals: p.Required, AllGroups: ap.AllGroupsMustApprove,
		Approvals: p.Names, Progress: p.String(), ExpiresAt: ap.ExpiresAt.UTC(), Agent: ss.Agent, Prompt: ss.Prompt,
	}
	if len(v.Groups) == 0 {
		v.Groups = []string{ap.Group}
	}
	if v.Approvals == nil {
		v.Approvals = []string{}
	}
	if ss.Decision != nil && ss.Decision.Reasons != nil {
		v.Reasons = ss.Decision.Reasons
	}
	return v
}
