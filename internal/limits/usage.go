package limits

import (
	"context"
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// Usage is a principal's limits and their current use, as
// `querygate policy check` and GET /v1/sessions show them. A limit that is
// not set is absent.
type Usage struct {
	RequestsPerMinute  *Counter `json:"requests_per_minute,omitempty"`
	BytesPerDay        *Counter `json:"bytes_per_day,omitempty"`
	ConcurrentSessions *Counter `json:"concurrent_sessions,omitempty"`
}

// Counter is one limit and its use.
type Counter struct {
	Limit int64 `json:"limit"`
	Used  int64 `json:"used"`
	// Source is where the limit is set: defaults, group <name>, rule <id>.
	Source string `json:"source"`
	// ResetsAt is the end of the window (absent for concurrent_sessions).
	ResetsAt *time.Time `json:"resets_at,omitempty"`
}

// Usage reads p's counters.
func (e *Enforcer) Usage(ctx context.Context, p *session.Principal) (*Usage, error) {
	lim := e.For(p)
	now := e.now().UTC()
	u := &Usage{}
	if lim.RequestsPerMinute > 0 {
		start, end := minuteWindow(now)
		n, err := e.counters.Counter(ctx, minuteKey(p, start))
		if err != nil {
			return nil, fmt.Errorf("read request count: %w", err)
		}
		u.RequestsPerMinute = &Counter{Limit: lim.RequestsPerMinute, Used: n, Source: lim.RequestsPerMinuteSource, ResetsAt: &end}
	}
	if lim.BytesPerDay > 0 {
		b, err := e.BytesBudget(ctx, p)
		if err != nil {
			return nil, err
		}
		u.BytesPerDay = &Counter{Limit: b.Limit, Used: b.Used, Source: lim.BytesPerDaySource, ResetsAt: &b.ResetsAt}
	}
	if lim.ConcurrentSessions > 0 {
		slots, err := e.counters.Slots(ctx, slotKey(p), now)
		if err != nil {
			return nil, fmt.Errorf("read session slots: %w", err)
		}
		u.ConcurrentSessions = &Counter{Limit: lim.ConcurrentSessions, Used: int64(len(slots)), Source: lim.ConcurrentSessionsSource}
	}
	return u, nil
}

// Lines is u as `querygate policy check` reports it.
func (u *Usage) Lines() []policy.LimitLine {
	var out []policy.LimitLine
	for _, x := range []struct {
		name string
		c    *Counter
	}{{RequestsPerMinute, u.RequestsPerMinute}, {BytesPerDay, u.BytesPerDay}, {ConcurrentSessions, u.ConcurrentSessions}} {
		if x.c == nil {
			continue
		}
		used := x.c.Used
		out = append(out, policy.LimitLine{Name: x.name, Limit: x.c.Limit, Source: x.c.Source, Used: &used, ResetsAt: x.c.ResetsAt})
	}
	return out
}
