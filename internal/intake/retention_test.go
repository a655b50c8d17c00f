package intake

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

type startRecorder struct{ args []map[string]any }

func (s *startRecorder) Start(_ context.Context, args map[string]any) (string, error) {
	s.args = append(s.args, args)
	return "executions/1", nil
}

// TestSubmitSetsExpireAtAtCreation checks that a session carries its
// expire_at from its first write (CreatedAt + Retention), so that the
// record step does not re-tag every event and page document of it in the
// Firestore store (docs/capacity.md), and that without a Retention the
// record step keeps setting it.
func TestSubmitSetsExpireAtAtCreation(t *testing.T) {
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	alice := &session.Principal{Issuer: "i", Subject: "alice", Email: "alice@example.com"}
	for _, tc := range []struct {
		retention time.Duration
		want      time.Time
	}{
		{400 * 24 * time.Hour, now.Add(400 * 24 * time.Hour)},
		{0, time.Time{}},
	} {
		orch := &startRecorder{}
		srv := &Server{Store: st, Orchestrator: orch, Retention: tc.retention, Now: func() time.Time { return now }}
		sess, err := srv.Submit(t.Context(), SubmitRequest{Principal: alice, Query: &QueryRequest{SQL: "SELECT 1"}})
		if err != nil {
			t.Fatalf("retention %v: Submit: %v", tc.retention, err)
		}
		got, err := st.Get(t.Context(), sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpireAt.Equal(tc.want) {
			t.Errorf("retention %v: stored expire_at = %v, want %v", tc.retention, got.ExpireAt, tc.want)
		}
		if len(orch.args) != 1 {
			t.Errorf("retention %v: %d workflow starts, want 1", tc.retention, len(orch.args))
		}
	}
}
