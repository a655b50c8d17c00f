package steps

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// recordingSettler records the sessions it settles and fails the first n.
type recordingSettler struct {
	fail    int
	settled []session.Status
}

func (r *recordingSettler) Settle(_ context.Context, s *session.Session) error {
	if r.fail > 0 {
		r.fail--
		return errors.New("counters unavailable")
	}
	r.settled = append(r.settled, s.Status)
	return nil
}

// TestRecordSettles: the record step settles a session's limits after
// ending it, a failed settle is a retryable 5xx, and the retry (which finds
// the session ended) settles it.
func TestRecordSettles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &session.Session{ID: "s1", SQL: "SELECT 1", Status: session.StatusRunning, Decision: &session.Decision{Action: "deny"}}
	s.AddEvent(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "a", session.ReceivedData{})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	set := &recordingSettler{fail: 1}
	steps := &Steps{Store: st, Audit: &flakyAudit{}, Settler: set, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	_, err = steps.Record(ctx, RecordInput{SessionID: "s1", Outcome: session.StatusDenied})
	var se *StepError
	if !errors.As(err, &se) || se.Code < http.StatusInternalServerError {
		t.Fatalf("Record with the settler failing = %v, want a retryable 5xx", err)
	}
	res, err := steps.Record(ctx, RecordInput{SessionID: "s1", Outcome: session.StatusDenied})
	if err != nil || res.Status != session.StatusDenied {
		t.Fatalf("retried Record = %v, %v", res, err)
	}
	if len(set.settled) != 1 || set.settled[0] != session.StatusDenied {
		t.Errorf("settled %v, want the ended session once", set.settled)
	}
}
