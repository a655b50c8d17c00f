// Package intake is the agent-facing API: POST /v1/queries verifies the
// caller's OIDC token, records a session and starts its workflow; the
// sessions endpoints let the requester, the session's approvers and
// auditors read it.
package intake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// Orchestrator starts the workflow of a session. Implementations: the local
// Workflows runtime and the Cloud Workflows executions API.
type Orchestrator interface {
	Start(ctx context.Context, args map[string]any) (executionName string, err error)
}

// Server serves the intake and sessions API.
type Server struct {
	Verifier     auth.Verifier
	Groups       auth.Groups
	Store        session.Store
	Orchestrator Orchestrator
	// AuditorsGroup may read every session.
	AuditorsGroup string
	// PublicURL is the gateway's external base URL, for session_url.
	PublicURL string
	// ListByteBudget bounds the JSON of one GET /v1/sessions page; zero
	// means DefaultListByteBudget.
	ListByteBudget int
	// Retention sets each session's expire_at when it is created
	// (CreatedAt + Retention, as the record step would), so that every
	// document of the session carries it from its first write and the
	// record step need not re-tag them; zero leaves it to the record step.
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Limits, when set, enforces the per-principal limits (limits.go).
	Limits Limiter
}

// Register adds the API routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/queries", http.HandlerFunc(s.postQuery))
	mux.Handle("GET /v1/sessions", http.HandlerFunc(s.listSessions))
	mux.Handle("GET /v1/sessions/{id}", http.HandlerFunc(s.getSession))
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

type caller struct {
	p      *session.Principal
	groups []string
}

// ReaderKey identifies a principal in a session's Readers: the email, or
// issuer and subject for identities without one.
func ReaderKey(p *session.Principal) string {
	if p.Email != "" {
		return p.Email
	}
	return p.Issuer + "#" + p.Subject
}

// authenticate verifies the bearer token and resolves groups. It writes the
// 401 itself.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*caller, bool) {
	tok, err := auth.BearerToken(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "send an OIDC ID token as \"Authorization: Bearer <token>\"")
		return nil, false
	}
	p, err := s.Identify(r.Context(), tok)
	switch {
	case errors.Is(err, ErrGroupsUnavailable):
		retryLater(w)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return nil, false
	case err != nil:
		writeError(w, http.StatusUnauthorized, ErrUnauthenticated.Error())
		return nil, false
	}
	return &caller{p: p, groups: p.Groups}, true
}

// MayRead reports whether the bearer of r may read sess: the same rule as
// the sessions API, for pages served outside it (the replay page). Any
// failure to verify the token or resolve groups is a no.
func (s *Server) MayRead(r *http.Request, sess *session.Session) bool {
	c, ok := s.authenticate(discard{}, r)
	return ok && s.canRead(c, sess)
}

// discard is a ResponseWriter for authenticate's callers that answer
// themselves.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func (s *Server) postQuery(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "could not read the body")
		return
	}
	req, err := DecodeQueryRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	sess, err := s.Submit(ctx, SubmitRequest{Principal: c.p, Query: req})
	switch {
	case isRefusal(err):
		r, _ := limits.AsRefusal(err)
		writeRefusal(w, r)
		return
	case errors.Is(err, ErrNotStarted), errors.Is(err, limits.ErrUnavailable):
		retryLater(w)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case errors.Is(err, ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	case err != nil:
		// The store refused the new session: nothing ran; retrying is safe.
		retryLater(w)
		writeError(w, http.StatusServiceUnavailable, ErrNotRecorded.Error())
		return
	}
	cur := s.wait(ctx, sess.ID, 0, req.Wait(), true)
	if cur == nil {
		writeJSON(w, http.StatusAccepted, map[string]any{"session_id": sess.ID, "status": session.StatusRunning, "session_url": s.sessionURL(sess.ID)})
		return
	}
	s.writeOutcome(ctx, w, cur)
}

// wait blocks until the session ends (or, with stopAtPending, awaits
// approval) or seconds pass, and returns the latest state.
func (s *Server) wait(ctx context.Context, id string, after int64, seconds int, stopAtPending bool) *session.Session {
	wctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
	defer cancel()
	var cur *session.Session
	for {
		got, err := s.Store.Wait(wctx, id, after)
		if err != nil {
			return cur
		}
		cur = got
		if cur.Status.Terminal() || (stopAtPending && cur.Status == session.StatusPendingApproval) || wctx.Err() != nil {
			return cur
		}
		after = cur.Version
	}
}

func (s *Server) writeOutcome(ctx context.Context, w http.ResponseWriter, cur *session.Session) {
	switch cur.Status {
	case session.StatusSucceeded:
		body, err := s.sessionBody(ctx, cur, 0, false)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "the result could not be read")
			return
		}
		writeJSON(w, http.StatusOK, body)
	case session.StatusDenied, session.StatusRejected, session.StatusExpired:
		if MissingJustification(cur) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": JustificationMessage(cur, `add the field "justification"`),
				"code": "justification_required", "session_id": cur.ID, "status": cur.Status, "session_url": s.sessionURL(cur.ID)})
			return
		}
		out := map[string]any{"session_id": cur.ID, "status": cur.Status, "reasons": reasons(cur), "session_url": s.sessionURL(cur.ID)}
		if cur.Decision != nil {
			out["rule_ids"] = cur.Decision.RuleIDs
		}
		writeJSON(w, http.StatusForbidden, out)
	case session.StatusFailed:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"session_id": cur.ID, "status": cur.Status, "errors": errorMessages(cur), "session_url": s.sessionURL(cur.ID)})
	default:
		out := map[string]any{"session_id": cur.ID, "status": cur.Status, "session_url": s.sessionURL(cur.ID)}
		if cur.Approval != nil {
			out["approvers"] = cur.Approval.Approvers
			out["expires_at"] = cur.Approval.ExpiresAt
		}
		writeJSON(w, http.StatusAccepted, out)
	}
}

func reasons(s *session.Session) []string {
	var out []string
	if s.Decision != nil {
		out = append(out, s.Decision.Reasons...)
	}
	switch s.Status {
	case session.StatusRejected:
		msg := "an approver rejected the query"
		if s.Approval != nil && s.Approval.Comment != "" {
			msg += ": " + s.Approval.Comment
		}
		out = append(out, msg)
	case session.StatusExpired:
		out = append(out, "no approver decided before the approval expired")
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func errorMessages(s *session.Session) []string {
	out := []string{}
	for _, e := range s.Errors {
		out = append(out, e.Message)
	}
	return out
}

func (s *Server) sessionURL(id string) string { return s.PublicURL + "/v1/sessions/" + id }

// canRead: the requester, the session's approvers and auditors.
func (s *Server) canRead(c *caller, sess *session.Session) bool {
	key := ReaderKey(c.p)
	if sess.Principal.Issuer == c.p.Issuer && sess.Principal.Subject == c.p.Subject {
		return true
	}
	if slices.Contains(sess.Readers, key) {
		return true
	}
	if sess.Approval != nil && c.p.Email != "" && slices.Contains(sess.Approval.Approvers, c.p.Email) {
		return true
	}
	return s.AuditorsGroup != "" && slices.Contains(c.groups, s.AuditorsGroup)
}

// readable authenticates the caller and loads the session named in the
// path, answering 404 when it does not exist or the caller may not read it
// (so ids cannot be probed). It writes the error response itself.
func (s *Server) readable(w http.ResponseWriter, r *http.Request) (*caller, *session.Session, bool) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return nil, nil, false
	}
	id := r.PathValue("id")
	sess, err := s.Store.Get(r.Context(), id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && !s.canRead(c, sess)) {
		writeError(w, http.StatusNotFound, "no such session")
		return nil, nil, false
	}
	if err != nil {
		s.log().ErrorContext(r.Context(), "get session failed", "session_id", id, "error", err.Error())
		writeError(w, http.StatusInternalServerError, "the session could not be read")
		return nil, nil, false
	}
	return c, sess, true
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := s.readable(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := sess.ID
	if ws := r.URL.Query().Get("wait_seconds"); ws != "" && !sess.Status.Terminal() {
		n, err := strconv.Atoi(ws)
		if err != nil || n < 0 || n > MaxWaitSeconds {
			writeError(w, http.StatusBadRequest, "wait_seconds must be an integer between 0 and "+strconv.Itoa(MaxWaitSeconds))
			return
		}
		if got := s.wait(ctx, id, sess.Version, n, false); got != nil {
			sess = got
		}
	}
	page := 0
	if pt := r.URL.Query().Get("page_token"); pt != "" {
		n, err := strconv.Atoi(pt)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "page_token is not one this API issued")
			return
		}
		page = n
	}
	body, err := s.sessionBody(ctx, sess, page, true)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the result could not be read")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// sessionBody renders a session; rows come verbatim from the stored page.
func (s *Server) sessionBody(ctx context.Context, sess *session.Session, page int, full bool) (map[string]any, error) {
	out := map[string]any{
		"session_id":  sess.ID,
		"status":      sess.Status,
		"session_url": s.sessionURL(sess.ID),
	}
	if full {
		out["conversation_id"] = sess.ConversationID
		out["created_at"] = sess.CreatedAt
		out["updated_at"] = sess.UpdatedAt
		out["principal"] = sess.Principal
		out["agent"] = sess.Agent
		out["prompt"] = sess.Prompt
		out["sql"] = sess.SQL
		out["sql_sha256"] = sess.SQLSHA256
		out["decision"] = sess.Decision
		out["timeline"] = sess.Timeline
		if sess.Approval != nil {
			a := *sess.Approval
			a.UsedTokens = nil
			out["approval"] = a
		}
		out["execution"] = sess.Execution
		out["errors"] = errorMessages(sess)
		out["reasons"] = reasons(sess)
		out["justification"] = sess.Justification
		out["break_glass"] = sess.Decision != nil && sess.Decision.BreakGlass
	}
	if sess.Execution != nil {
		out["bytes_processed"] = sess.Execution.BytesProcessed
	}
	if r := sess.Result; r != nil && sess.Status == session.StatusSucceeded {
		out["schema"] = r.Schema
		out["total_rows"] = r.TotalRows
		out["masked_columns"] = r.MaskedColumns
		out["truncated"] = r.Truncated
		rows := json.RawMessage("[]")
		if page < r.Pages {
			p, err := s.Store.GetPage(ctx, sess.ID, page)
			if err != nil {
				return nil, err
			}
			rows = p.Rows
		}
		out["rows"] = rows
		if page+1 < r.Pages {
			out["next_page_token"] = strconv.Itoa(page + 1)
		}
	}
	return out, nil
}

// NewSessionID returns a random, URL-safe session id.
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "qs_" + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// retryAfterSeconds is the Retry-After of a 503 for a dependency fault
// (session store, workflow start, groups): long enough for a retried
// store write or a restarted dependency, short for an agent.
const retryAfterSeconds = "5"

// retryLater marks the answer as retryable: the agent may send the same
// request again after Retry-After seconds; nothing was run.
func retryLater(w http.ResponseWriter) { w.Header().Set("Retry-After", retryAfterSeconds) }

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
