package mcp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/session"
)

// refuser refuses every request by requests_per_minute, as the enforcer
// does past the limit.
type refuser struct{}

func (refuser) Admit(context.Context, *session.Principal, string) error {
	return &limits.Refusal{Limit: limits.RequestsPerMinute, Max: 8, Used: 8, RetryAfter: 41 * time.Second}
}
func (refuser) Release(context.Context, *session.Session) error { return nil }
func (refuser) Usage(context.Context, *session.Principal) (*limits.Usage, error) {
	return &limits.Usage{}, nil
}

// TestRunQueryRefusedByLimit: over a limit, run_query is a tool error that
// names the limit and says when to retry, and no session is created.
func TestRunQueryRefusedByLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.intake.Limits = refuser{}
	cs := f.connect(t, "alice", nil)
	res, _ := call(t, cs, "run_query", map[string]any{"sql": "SELECT 1", "wait": 0})
	txt := text(res)
	if !res.IsError || !strings.Contains(txt, "retry after 41 seconds") || !strings.Contains(txt, `"retry_after_seconds":41`) ||
		!strings.Contains(txt, `"limit":"requests_per_minute"`) {
		t.Errorf("run_query over the limit = error %v %q; want a tool error with the limit and retry after 41 seconds", res.IsError, txt)
	}
	list, err := f.store.List(context.Background(), session.ListQuery{PageSize: 10})
	if err != nil || len(list.Sessions) != 0 {
		t.Errorf("the refused call created sessions: %v, %v", list, err)
	}
}
