package steps

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
)

func TestEncodePagesBoundsRowsAndBytes(t *testing.T) {
	t.Parallel()
	tbl := &deid.Table{Headers: []string{"a", "b"}}
	for i := 0; i < 5; i++ {
		tbl.Rows = append(tbl.Rows, []deid.Value{int64(i), "x"})
	}
	pages, stored, truncated, err := encodePages(tbl, 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 || stored != 5 || truncated {
		t.Fatalf("pages %d stored %d truncated %v", len(pages), stored, truncated)
	}
	if got := string(pages[0].Rows); got != `[{"a":0,"b":"x"},{"a":1,"b":"x"}]` {
		t.Errorf("page 0 = %s", got)
	}
	// A byte cap truncates.
	_, stored, truncated, _ = encodePages(tbl, 2, 40)
	if stored != 2 || !truncated {
		t.Errorf("with a 40-byte cap: stored %d truncated %v, want 2 true", stored, truncated)
	}
	// Wide rows split pages below Firestore's document limit.
	wide := &deid.Table{Headers: []string{"w"}}
	for i := 0; i < 5; i++ {
		wide.Rows = append(wide.Rows, []deid.Value{strings.Repeat("y", 400_000)})
	}
	pages, stored, _, _ = encodePages(wide, 500, 1<<30)
	if stored != 5 || len(pages) < 3 {
		t.Errorf("wide rows: %d pages for %d rows", len(pages), stored)
	}
	for _, p := range pages {
		if int64(len(p.Rows)) > session.MaxPageBytes {
			t.Errorf("page of %d bytes over the limit", len(p.Rows))
		}
		var rows []map[string]string
		if err := json.Unmarshal(p.Rows, &rows); err != nil || len(rows) != p.Count {
			t.Errorf("page does not decode to %d rows: %v", p.Count, err)
		}
	}
}

// flakyAudit fails the first n writes and counts events seen per write.
type flakyAudit struct {
	fail   int
	writes []int
}

func (f *flakyAudit) WriteSession(_ context.Context, s *session.Session) error {
	f.writes = append(f.writes, len(s.Timeline))
	if f.fail > 0 {
		f.fail--
		return errors.New("audit unavailable")
	}
	return nil
}

func TestRecordIsFailClosedAndRetryable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &session.Session{ID: "s1", SQL: "SELECT 1", Status: session.StatusRunning,
		Decision: &session.Decision{Action: "allow"}, Result: &session.Result{Pages: 1}}
	s.AddEvent(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "a", session.ReceivedData{})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	aud := &flakyAudit{fail: 1}
	steps := &Steps{Store: st, Audit: aud, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	if _, err := steps.Record(ctx, RecordInput{SessionID: "s1", Outcome: session.StatusSucceeded}); err == nil {
		t.Fatal("Record succeeded while the audit write failed")
	}
	got, _ := st.Get(ctx, "s1")
	if got.Status != session.StatusRunning {
		t.Fatalf("status %s after a failed audit write: results would be released unaudited", got.Status)
	}
	firstHash := got.Timeline[len(got.Timeline)-1].Hash
	res, err := steps.Record(ctx, RecordInput{SessionID: "s1", Outcome: session.StatusSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = st.Get(ctx, "s1")
	if res.Status != session.StatusSucceeded || got.Status != session.StatusSucceeded {
		t.Errorf("status = %s / %s", res.Status, got.Status)
	}
	if len(got.Timeline) != 2 || got.Timeline[1].Hash != firstHash || got.Timeline[1].Type != session.EventCompleted {
		t.Errorf("retry changed the closing event: %+v", got.Timeline)
	}
	if got.VerifyChain() != 0 {
		t.Error("chain broken")
	}
	// A claim of success without a result is recorded as failed.
	s2 := &session.Session{ID: "s2", SQL: "SELECT 1", Status: session.StatusRunning}
	st.Create(ctx, s2)
	res, err = steps.Record(ctx, RecordInput{SessionID: "s2", Outcome: session.StatusSucceeded})
	if err != nil || res.Status != session.StatusFailed {
		t.Errorf("success without result: %v %v", res, err)
	}
}

func TestExpandAllColumns(t *testing.T) {
	t.Parallel()
	got := expandAllColumns(map[string][]string{"*": {"US_SOCIAL_SECURITY_NUMBER"}, "email": {"EMAIL_ADDRESS"}}, []string{"email", "x"})
	want := map[string][]string{"email": {"EMAIL_ADDRESS", "US_SOCIAL_SECURITY_NUMBER"}, "x": {"US_SOCIAL_SECURITY_NUMBER"}}
	if len(got) != 2 || strings.Join(got["email"], ",") != strings.Join(want["email"], ",") || strings.Join(got["x"], ",") != strings.Join(want["x"], ",") {
		t.Errorf("expandAllColumns = %v, want %v", got, want)
	}
	plain := map[string][]string{"a": {"X"}}
	if got := expandAllColumns(plain, []string{"a", "b"}); len(got) != 1 {
		t.Errorf("without * the map changed: %v", got)
	}
}
