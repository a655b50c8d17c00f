package intake

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/session"
)

// Errors of the entry points other front doors (MCP, BigQuery's REST API)
// share with POST /v1/queries. Their messages are safe to show the caller.
var (
	// ErrUnauthenticated: the token is missing, invalid, expired or for
	// another audience. The reason is logged, never shown.
	ErrUnauthenticated = errors.New("the ID token is invalid, expired, or not for this audience")
	// ErrGroupsUnavailable: group membership could not be resolved; the
	// caller may retry.
	ErrGroupsUnavailable = errors.New("group membership could not be resolved; retry later")
	// ErrNotRecorded: the session store refused the new session.
	ErrNotRecorded = errors.New("the session could not be recorded; retry later")
	// ErrNotStarted: the workflow could not be started; the session is
	// recorded as failed and the caller may retry.
	ErrNotStarted = errors.New("the query could not be started; retry later")
	// ErrTooLarge: within the field limits, but over the store's document
	// limit once JSON-escaped (each '<' becomes six bytes): the caller's to
	// shorten.
	ErrTooLarge = errors.New("the request is too large to record once encoded as JSON (sql, prompt and parameters together); shorten them")
	// ErrNoToken: the request carries no bearer token (Authenticate).
	ErrNoToken = errors.New("send an OIDC ID token as \"Authorization: Bearer <token>\"")
	// ErrBadToken and ErrGroups are the names the BigQuery front door uses
	// for ErrUnauthenticated and ErrGroupsUnavailable.
	ErrBadToken = ErrUnauthenticated
	ErrGroups   = ErrGroupsUnavailable
)

// Authenticate reads the bearer token of r and identifies it (Identify).
// Errors are ErrNoToken, ErrUnauthenticated or ErrGroupsUnavailable; their
// text holds no token.
func (s *Server) Authenticate(r *http.Request) (*session.Principal, error) {
	tok, err := auth.BearerToken(r)
	if err != nil {
		return nil, ErrNoToken
	}
	return s.Identify(r.Context(), tok)
}

// CanRead reports whether p (as Identify returned it) may read sess: the
// requester, the session's approvers and auditors.
func (s *Server) CanRead(p *session.Principal, sess *session.Session) bool {
	return s.canRead(&caller{p: p, groups: p.Groups}, sess)
}

// Identify verifies a raw bearer token with the server's Verifier and
// resolves the principal's groups, exactly as the /v1 API does. Errors are
// ErrUnauthenticated or ErrGroupsUnavailable.
func (s *Server) Identify(ctx context.Context, token string) (*session.Principal, error) {
	p, err := s.Verifier.Verify(ctx, token)
	if err != nil {
		s.log().InfoContext(ctx, "token rejected", "reason", err.Error())
		return nil, ErrUnauthenticated
	}
	if s.Groups != nil {
		g, err := s.Groups.GroupsOf(ctx, p)
		if err != nil {
			s.log().ErrorContext(ctx, "group lookup failed", "error", err.Error())
			return nil, ErrGroupsUnavailable
		}
		p.Groups = g
	}
	return p, nil
}

// SubmitRequest is one query submitted on behalf of a verified principal.
type SubmitRequest struct {
	// Principal comes from Identify, never from the request.
	Principal *session.Principal
	// Query must have passed DecodeQueryRequest or Validate.
	Query *QueryRequest
	// SessionID, when set, is the new session's id (a front door that
	// derives ids from the client's own, so retries find the session);
	// Submit then fails with session.ErrExists when it is taken. Empty
	// means a fresh random id.
	SessionID string
	// FrontDoor, when set, is recorded in the session.received event: which
	// front door took the request and the client's own job reference.
	FrontDoor *FrontDoor
}

// FrontDoor names the front door a request came through (for the BigQuery
// REST API: its method, project, job id and location).
type FrontDoor struct {
	Name, Method, Project, JobID, Location string
}

// Submit records a new session for the request and starts its workflow, the
// one path by which every front door creates sessions. It returns the
// session as created; wait for its outcome with Await. Errors are
// ErrNotRecorded or ErrNotStarted, and with Limits a *limits.Refusal
// (isRefusal) or limits.ErrUnavailable.
func (s *Server) Submit(ctx context.Context, sr SubmitRequest) (*session.Session, error) {
	p, req := sr.Principal, sr.Query
	if p == nil || req == nil {
		return nil, errors.New("submit: principal and query are required")
	}
	id := sr.SessionID
	if id == "" {
		id = NewSessionID()
	}
	now := s.now()
	sess := &session.Session{
		ID:             id,
		ConversationID: req.ConversationID,
		Principal:      *p,
		Agent:          req.Agent,
		Prompt:         req.Prompt,
		SQL:            req.SQL,
		SQLSHA256:      session.SQLHash(req.SQL),
		DefaultDataset: req.DefaultDataset,
		Parameters:     req.Parameters,
		Justification:  req.Justification,
		BreakGlass:     req.BreakGlass,
		Status:         session.StatusRunning,
		CreatedAt:      now,
		Readers:        []string{ReaderKey(p)},
	}
	if s.Retention > 0 {
		sess.ExpireAt = now.Add(s.Retention)
	}
	data := session.ReceivedData{Agent: req.Agent.Name, Model: req.Agent.Model, SQLSHA256: sess.SQLSHA256, Groups: p.Groups,
		Justification: req.Justification, BreakGlass: req.BreakGlass}
	if fd := sr.FrontDoor; fd != nil {
		data.FrontDoor, data.Method, data.Project, data.JobID, data.Location = fd.Name, fd.Method, fd.Project, fd.JobID, fd.Location
	}
	sess.AddEvent(now, ReaderKey(p), data)
	if err := s.admit(ctx, p, id); err != nil {
		return nil, err
	}
	if err := s.Store.Create(ctx, sess); err != nil {
		if errors.Is(err, session.ErrExists) {
			// The session that has the id holds its own slot.
			return nil, fmt.Errorf("submit: %w", session.ErrExists)
		}
		s.release(ctx, sess)
		if errors.Is(err, session.ErrDocumentTooLarge) {
			return nil, ErrTooLarge
		}
		s.log().ErrorContext(ctx, "create session failed", "error", err.Error())
		return nil, ErrNotRecorded
	}
	log := s.log().With("session_id", sess.ID)
	exec, err := s.Orchestrator.Start(context.WithoutCancel(ctx), map[string]any{"session_id": sess.ID})
	if err != nil {
		log.ErrorContext(ctx, "start workflow failed", "error", err.Error())
		_, _ = s.Store.Update(context.WithoutCancel(ctx), sess.ID, func(x *session.Session) error {
			x.Status = session.StatusFailed
			x.Errors = append(x.Errors, session.ErrorEntry{Step: "intake", Message: "the workflow could not be started", Time: s.now()})
			x.AddEvent(s.now(), "intake", session.FailedData{Status: "failed", Error: "workflow start failed"})
			return nil
		})
		s.release(ctx, sess)
		return nil, ErrNotStarted
	}
	if _, err := s.Store.Update(ctx, sess.ID, func(x *session.Session) error { x.ExecutionName = exec; return nil }); err != nil {
		log.WarnContext(ctx, "store execution name failed", "error", err.Error())
	}
	log.InfoContext(ctx, "query received", "principal", ReaderKey(p), "execution", exec)
	return sess, nil
}

// Await blocks until session id ends (or, with stopAtPending, awaits
// approval) or seconds pass, reading versions newer than after, and returns
// the latest state it saw (nil if none).
func (s *Server) Await(ctx context.Context, id string, after int64, seconds int, stopAtPending bool) *session.Session {
	return s.wait(ctx, id, after, seconds, stopAtPending)
}

// ReadSession loads session id for principal p under the sessions API's
// rule (requester, the session's approvers, auditors). It returns
// session.ErrNotFound both when it does not exist and when p may not read
// it, so ids cannot be probed.
func (s *Server) ReadSession(ctx context.Context, p *session.Principal, id string) (*session.Session, error) {
	sess, err := s.Store.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && !s.canRead(&caller{p: p, groups: p.Groups}, sess)) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	return sess, nil
}

// Validate checks a request built by another front door with the same rules
// as DecodeQueryRequest, and cleans its justification
// (CleanJustification). Errors are *BadRequestError.
func (r *QueryRequest) Validate() error { return r.validate() }

// Reasons are the reasons an API response gives for a session's outcome:
// the policy's, then the approver's rejection or the expiry.
func Reasons(sess *session.Session) []string { return reasons(sess) }
