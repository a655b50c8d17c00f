package intake

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// Limiter enforces the per-principal limits at intake (limits.Enforcer):
// Admit counts a request and holds a concurrent_sessions slot for the new
// session, or refuses it with a *limits.Refusal; Release frees the slot of
// a session that was never started; Usage reads the counters for GET
// /v1/sessions.
type Limiter interface {
	Admit(ctx context.Context, p *session.Principal, sessionID string) error
	Release(ctx context.Context, s *session.Session) error
	Usage(ctx context.Context, p *session.Principal) (*limits.Usage, error)
}

var _ Limiter = (*limits.Enforcer)(nil)

// admit runs the Limiter, if any, before a session is created.
func (s *Server) admit(ctx context.Context, p *session.Principal, id string) error {
	if s.Limits == nil {
		return nil
	}
	return s.Limits.Admit(ctx, p, id)
}

// release frees the slot admit took for a session that will not run.
func (s *Server) release(ctx context.Context, sess *session.Session) {
	if s.Limits == nil {
		return
	}
	if err := s.Limits.Release(context.WithoutCancel(ctx), sess); err != nil {
		// The slot lapses with its lease (limits.Lease).
		s.log().ErrorContext(ctx, "release session slot failed", "session_id", sess.ID, "error", err.Error())
	}
}

// writeRefusal answers a request refused by a limit: 429 with Retry-After
// and a JSON reason. 429, not a policy deny: the request is well formed and
// allowed, only not now, and clients retry 429 after Retry-After.
func writeRefusal(w http.ResponseWriter, r *limits.Refusal) {
	w.Header().Set("Retry-After", strconv.FormatInt(r.RetryAfterSeconds(), 10))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": r.Error(), "limit": r.Limit,
		"max": r.Max, "used": r.Used, "retry_after_seconds": r.RetryAfterSeconds()})
}

// usage reads the caller's limits for the session list; nil when no limit
// is configured or the counters cannot be read (the list still answers).
func (s *Server) usage(ctx context.Context, p *session.Principal) *limits.Usage {
	if s.Limits == nil {
		return nil
	}
	u, err := s.Limits.Usage(ctx, p)
	if err != nil {
		s.log().ErrorContext(ctx, "read usage failed", "error", err.Error())
		return nil
	}
	return u
}

func isRefusal(err error) bool {
	_, ok := limits.AsRefusal(err)
	return ok
}

// usageTail is the `,"limits":{...}` member that closes a page of GET
// /v1/sessions: the caller's own limits and their current use. It is empty
// when no limit applies.
func (s *Server) usageTail(ctx context.Context, p *session.Principal) []byte {
	u := s.usage(ctx, p)
	if u == nil {
		return nil
	}
	b, err := json.Marshal(u)
	if err != nil {
		return nil
	}
	return append([]byte(`,"limits":`), b...)
}
