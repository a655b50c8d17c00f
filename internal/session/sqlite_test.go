package session_test

import (
	"path/filepath"
	"testing"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/session/sessiontest"
)

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(t *testing.T) session.Store {
		st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestSQLiteSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := session.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &session.Session{ID: "s1", SQL: "SELECT 1", Prompt: "p", Status: session.StatusSucceeded}
	if err := st.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := session.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	got, err := st2.Get(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Prompt != "p" || got.Status != session.StatusSucceeded {
		t.Errorf("after reopen: %+v", got)
	}
}

func TestVerifyChainDetectsTamper(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "s"}
	for i := 0; i < 3; i++ {
		s.AddEvent(session.EventReceived, s.CreatedAt, "a", map[string]any{"i": float64(i)})
	}
	if got := s.VerifyChain(); got != 0 {
		t.Fatalf("intact chain broken at %d", got)
	}
	s.Timeline[1].Data["i"] = float64(9)
	if got := s.VerifyChain(); got != 2 {
		t.Errorf("VerifyChain = %d, want 2", got)
	}
}
