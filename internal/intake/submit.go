package intake

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/session"
)

// Errors of Authenticate and Submit, for front doors that answer in their
// own error format.
var (
	// ErrNoToken: the request carries no bearer token.
	ErrNoToken = errors.New("no bearer token")
	// ErrBadToken: the token is invalid, expired or for another audience.
	ErrBadToken = errors.New("invalid token")
	// ErrGroups: group membership could not be resolved (retry later).
	ErrGroups = errors.New("group lookup failed")
	// ErrNotRecorded: the session could not be stored; nothing ran.
	ErrNotRecorded = errors.New("session not recorded")
	// ErrNotStarted: the session was stored but its workflow did not start;
	// the session is marked failed.
	ErrNotStarted = errors.New("workflow not started")
)

// Authenticate verifies the bearer token of r and resolves the caller's
// groups into the returned principal's Groups. Errors are ErrNoToken,
// ErrBadToken or ErrGroups; their text holds no token.
func (s *Server) Authenticate(r *http.Request) (*session.Principal, error) {
	tok, err := auth.BearerToken(r)
	if err != nil {
		return nil, ErrNoToken
	}
	p, err := s.Verifier.Verify(r.Context(), tok)
	if err != nil {
		s.log().InfoContext(r.Context(), "token rejected", "reason", err.Error())
		return nil, ErrBadToken
	}
	if s.Groups != nil {
		g, err := s.Groups.GroupsOf(r.Context(), p)
		if err != nil {
			s.log().ErrorContext(r.Context(), "group lookup failed", "error", err.Error())
			return nil, ErrGroups
		}
		p.Groups = g
	}
	return p, nil
}

// CanRead reports whether p (as Authenticate returned it) may read sess:
// the requester, the session's approvers and auditors.
func (s *Server) CanRead(p *session.Principal, sess *session.Session) bool {
	return s.canRead(&caller{p: p, groups: p.Groups}, sess)
}

// Validate checks a request built by a front door other than POST
// /v1/queries with the same rules; errors are *BadRequestError.
func (r *QueryRequest) Validate() error { return r.validate() }

// SubmitRequest is one query to record and start as a verified principal.
type SubmitRequest struct {
	// Principal comes from Authenticate, never from the request.
	Principal *session.Principal
	// Query has passed DecodeQueryRequest or Validate.
	Query *QueryRequest
	// SessionID, when set, is the new session's id (a front door that
	// derives ids from the client's own, so retries find the session);
	// Submit then fails with session.ErrExists when it is taken. Empty
	// means a fresh random id.
	SessionID string
	// Received is added to the session.received event (front door, client
	// job id). Values must be JSON scalars or []any and hold no secrets.
	Received map[string]any
}

// Submit records the session and starts its workflow, as POST /v1/queries
// does. It returns the session as created. Errors wrap session.ErrExists,
// ErrNotRecorded or ErrNotStarted; their text is safe to log.
func (s *Server) Submit(ctx context.Context, req SubmitRequest) (*session.Session, error) {
	p, q := req.Principal, req.Query
	id := req.SessionID
	if id == "" {
		id = NewSessionID()
	}
	now := s.now()
	sess := &session.Session{
		ID:             id,
		ConversationID: q.ConversationID,
		Principal:      *p,
		Agent:          q.Agent,
		Prompt:         q.Prompt,
		SQL:            q.SQL,
		SQLSHA256:      session.SQLHash(q.SQL),
		DefaultDataset: q.DefaultDataset,
		Parameters:     q.Parameters,
		Status:         session.StatusRunning,
		CreatedAt:      now,
		Readers:        []string{ReaderKey(p)},
	}
	data := map[string]any{
		"agent": q.Agent.Name, "model": q.Agent.Model, "sql_sha256": sess.SQLSHA256,
		"groups": toAny(p.Groups),
	}
	for k, v := range req.Received {
		data[k] = v
	}
	sess.AddEvent(session.EventReceived, now, ReaderKey(p), data)
	if err := s.Store.Create(ctx, sess); err != nil {
		if errors.Is(err, session.ErrExists) {
			return nil, fmt.Errorf("submit: %w", session.ErrExists)
		}
		s.log().ErrorContext(ctx, "create session failed", "error", err.Error())
		return nil, fmt.Errorf("submit: %w", ErrNotRecorded)
	}
	log := s.log().With("session_id", sess.ID)
	exec, err := s.Orchestrator.Start(context.WithoutCancel(ctx), map[string]any{"session_id": sess.ID})
	if err != nil {
		log.ErrorContext(ctx, "start workflow failed", "error", err.Error())
		_, _ = s.Store.Update(context.WithoutCancel(ctx), sess.ID, func(x *session.Session) error {
			x.Status = session.StatusFailed
			x.Errors = append(x.Errors, session.ErrorEntry{Step: "intake", Message: "the workflow could not be started", Time: s.now()})
			x.AddEvent(session.EventFailed, s.now(), "intake", map[string]any{"status": "failed", "error": "workflow start failed"})
			return nil
		})
		return nil, fmt.Errorf("submit: %w", ErrNotStarted)
	}
	if _, err := s.Store.Update(ctx, sess.ID, func(x *session.Session) error { x.ExecutionName = exec; return nil }); err != nil {
		log.WarnContext(ctx, "store execution name failed", "error", err.Error())
	}
	log.InfoContext(ctx, "query received", "principal", ReaderKey(p), "execution", exec)
	return sess, nil
}
