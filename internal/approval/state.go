package approval

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is the server-side state of one session's approval request: what
// the workflow must not be able to lose between the notify call and the
// decision, and what makes notify and delivery idempotent. It lives apart
// from the session record because the callback URL is an operational
// detail, not audit data.
type Request struct {
	SessionID   string
	CallbackURL string
	ExpiresAt   time.Time
	CreatedAt   time.Time
	// Notified lists the approvers whose mail was accepted by the relay,
	// sorted. A retried notify mails only the others.
	Notified []string
	// DeliveredAt is when the decision reached the callback; zero while
	// it has not.
	DeliveredAt time.Time
}

// StateStore persists Requests. SQLite is the embedded implementation;
// Memory is for tests. Every method is safe for concurrent use.
type StateStore interface {
	// Begin stores r when the session has no request yet and returns it.
	// When one exists it keeps its expiry, creation time and notified set,
	// replaces the callback URL with r's (a retried workflow step may have
	// made a new callback) and returns the stored request.
	Begin(ctx context.Context, r Request) (Request, error)
	// Get returns the request of the session or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, sessionID string) (Request, error)
	// MarkNotified records that approver's mail was sent.
	MarkNotified(ctx context.Context, sessionID, approver string) error
	// MarkDelivered records that the decision reached the callback.
	MarkDelivered(ctx context.Context, sessionID string, at time.Time) error
	// Claim sets the named mark of the session's request (Mark*) at at,
	// once: it reports true to the one caller that set it and false to
	// every later one, across instances (a compare-and-set). It fails
	// with ErrNotFound when the session has no request.
	Claim(ctx context.Context, sessionID, mark string, at time.Time) (bool, error)
	// Open returns at most limit requests whose window is open at now
	// (ExpiresAt after now) and whose decision was not delivered, the
	// soonest expiry first: what may still be waiting for approvers.
	Open(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// Close releases resources.
	Close() error
}

// Memory is an in-memory StateStore for tests.
type Memory struct {
	mu    sync.Mutex
	reqs  map[string]Request
	marks map[string]time.Time // session id + "\x00" + mark
}

var _ StateStore = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{reqs: map[string]Request{}, marks: map[string]time.Time{}} }

// Claim implements StateStore.
func (m *Memory) Claim(_ context.Context, id, mark string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.reqs[id]; !ok {
		return false, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	k := id + "\x00" + mark
	if _, ok := m.marks[k]; ok {
		return false, nil
	}
	m.marks[k] = at.UTC()
	return true, nil
}

func cloneReq(r Request) Request {
	r.Notified = slices.Clone(r.Notified)
	return r
}

// Begin implements StateStore.
func (m *Memory) Begin(_ context.Context, r Request) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.reqs[r.SessionID]; ok {
		old.CallbackURL = r.CallbackURL
		m.reqs[r.SessionID] = old
		return cloneReq(old), nil
	}
	r.Notified = nil
	r.DeliveredAt = time.Time{}
	r.ExpiresAt, r.CreatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC()
	m.reqs[r.SessionID] = r
	return cloneReq(r), nil
}

// Get implements StateStore.
func (m *Memory) Get(_ context.Context, id string) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return Request{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	return cloneReq(r), nil
}

// MarkNotified implements StateStore.
func (m *Memory) MarkNotified(_ context.Context, id, approver string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if !slices.Contains(r.Notified, approver) {
		r.Notified = append(r.Notified, approver)
		slices.Sort(r.Notified)
	}
	m.reqs[id] = r
	return nil
}

// MarkDelivered implements StateStore.
func (m *Memory) MarkDelivered(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if r.DeliveredAt.IsZero() {
		r.DeliveredAt = at.UTC()
	}
	m.reqs[id] = r
	return nil
}

// Open implements StateStore.
func (m *Memory) Open(_ context.Context, now time.Time, limit int) ([]Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.reqs {
		if r.DeliveredAt.IsZero() && r.ExpiresAt.After(now) {
			out = append(out, cloneReq(r))
		}
	}
	slices.SortFunc(out, func(a, b Request) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.SessionID, b.SessionID)
	})
	if len(out) > limit {
		out = out[:max(limit, 0)]
	}
	return out, nil
}

// Close implements StateStore.
func (m *Memory) Close() error { return nil }
