package session_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

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
		s.AddEvent(s.CreatedAt, "a", session.ReidentifiedData{Page: int64(i)})
	}
	if got := s.VerifyChain(); got != 0 {
		t.Fatalf("intact chain broken at %d", got)
	}
	s.Timeline[1].Data = json.RawMessage(`{"page":9,"rows":0}`)
	if got := s.VerifyChain(); got != 2 {
		t.Errorf("VerifyChain = %d, want 2", got)
	}
}

func TestSQLitePurgeExpired(t *testing.T) {
	t.Parallel()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	old := &session.Session{ID: "old", SQL: "x", ExpireAt: now.Add(-time.Hour)}
	keep := &session.Session{ID: "keep", SQL: "x", ExpireAt: now.Add(time.Hour)}
	forever := &session.Session{ID: "open", SQL: "x"}
	for _, s := range []*session.Session{old, keep, forever} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutPage(ctx, "old", &session.Page{Rows: []byte("[]")}); err != nil {
		t.Fatal(err)
	}
	n, err := st.PurgeExpired(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want 1", n, err)
	}
	if _, err := st.Get(ctx, "old"); err != session.ErrNotFound {
		t.Errorf("expired session still there: %v", err)
	}
	if _, err := st.GetPage(ctx, "old", 0); err != session.ErrNotFound {
		t.Errorf("expired page still there: %v", err)
	}
	for _, id := range []string{"keep", "open"} {
		if _, err := st.Get(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
