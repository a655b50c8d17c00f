package audit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// legacyRows reads audit rows as the Writer wrote them before typed
// payloads. testdata/legacy_rows.json (and the sessions they record,
// internal/session/testdata/legacy_sessions.json) were written by the code
// of commit 5d9a73a, the last one with map payloads: its eventRow and
// RowHash, chained on one day as its Writer chains them.
func legacyRows(t *testing.T) []*Row {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "legacy_rows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []*Row
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func legacySessions(t *testing.T) []*session.Session {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "session", "testdata", "legacy_sessions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*session.Session
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLegacyRowsStillVerify(t *testing.T) {
	t.Parallel()
	rows := legacyRows(t)
	rep := verifyRows(rows, false)
	if !rep.OK() || rep.Rows != 11 || rep.Sessions != 2 || rep.Days != 1 {
		t.Fatalf("legacy rows: %d rows, %d sessions, %d days, problems %v; want 11, 2, 1 and none", rep.Rows, rep.Sessions, rep.Days, rep.Problems)
	}
	for _, r := range rows {
		if r.HashVersion != session.HashVersionLegacy {
			t.Errorf("row %s: hash version %d, want legacy", r.InsertID(), r.HashVersion)
		}
	}
	// The Writer writes a legacy event (one stored before the upgrade and
	// audited after it) exactly as the old Writer did.
	var want []*Row
	for _, r := range rows {
		c := *r
		want = append(want, &c)
	}
	if diff := cmp.Diff(want, chainRows(t, legacySessions(t)...), cmpRowsIgnoringRecordedAt); diff != "" {
		t.Errorf("rows of legacy events (-old writer, +new writer):\n%s", diff)
	}

	for _, tc := range []struct {
		name   string
		tamper func(r *Row)
		reason string
	}{
		{"data", func(r *Row) { r.Data = strings.Replace(r.Data, "allow", "deny!", 1) }, "event changed"},
		// Claiming the typed version changes the computation: the legacy
		// data is not a canonical payload, and its hash would not match.
		{"hash version", func(r *Row) { r.HashVersion = session.HashVersionTyped }, "cannot rebuild the event"},
		{"hash version of canonical data", func(r *Row) {
			r.HashVersion = session.HashVersionTyped
			r.Data = `{"action":"allow","rule_ids":["r1"],"analysis_path":"analyzer","estimated_bytes":9007199254740992,"approver_group":""}`
		}, "event changed"},
	} {
		rows := legacyRows(t)
		tc.tamper(rows[1])
		rows[1].RowHash = RowHash(rows[1])
		// Re-chain the day so only the session chain can tell.
		for i := 2; i < len(rows); i++ {
			rows[i].ChainPrev = rows[i-1].RowHash
			rows[i].RowHash = RowHash(rows[i])
		}
		rep := verifyRows(rows, false)
		if rep.OK() || rep.Problems[0].Seq != 2 || !strings.Contains(rep.Problems[0].Reason, tc.reason) {
			t.Errorf("tampered %s: problems %v, want the first at event 2: %s", tc.name, rep.Problems, tc.reason)
		}
	}
}

var cmpRowsIgnoringRecordedAt = cmp.Transformer("norecorded", func(r *Row) Row {
	c := *r
	c.RecordedAt = time.Time{}
	return c
})

func TestTypedRowHashCoversHashVersion(t *testing.T) {
	t.Parallel()
	r := chainRows(t, testSession("s1", 1))[0]
	if r.HashVersion != session.HashVersionTyped {
		t.Fatalf("new row hash version = %d, want %d", r.HashVersion, session.HashVersionTyped)
	}
	c := *r
	c.HashVersion = session.HashVersionLegacy
	if RowHash(&c) == r.RowHash {
		t.Error("clearing hash_version left row_hash unchanged")
	}
	m, _, err := r.Save()
	if err != nil {
		t.Fatal(err)
	}
	if m[colHashVersion] != int64(session.HashVersionTyped) {
		t.Errorf("saved hash_version = %v, want 2", m[colHashVersion])
	}
	legacy := legacyRows(t)[0]
	if m, _, _ := legacy.Save(); m[colHashVersion] != nil {
		t.Errorf("a legacy row saves hash_version %v, want NULL", m[colHashVersion])
	}
}

func TestRowsKeepIntegersAboveTwoToThe53(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "big", Principal: session.Principal{Email: "alice@example.com"}}
	s.AddEvent(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "execute", session.QueryFinishedData{JobID: "j", BytesProcessed: 1<<53 + 1})
	rows := chainRows(t, s)
	if want := `{"job_id":"j","bytes_processed":9007199254740993}`; rows[0].Data != want {
		t.Errorf("data column = %s, want %s", rows[0].Data, want)
	}
	if rep := verifyRows(rows, false); !rep.OK() {
		t.Errorf("verify: %v", rep.Problems)
	}
	rows[0].Data = `{"job_id":"j","bytes_processed":9007199254740992}`
	rows[0].RowHash = RowHash(rows[0])
	if rep := verifyRows(rows, false); rep.OK() {
		t.Error("2^53 in place of 2^53+1 verified")
	}
}

func TestUnknownKeysRejectedAtWrite(t *testing.T) {
	t.Parallel()
	s := &session.Session{ID: "s", Principal: session.Principal{Email: "alice@example.com"}}
	e := s.AddEvent(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "execute", session.QueryStartedData{JobID: "j"})
	e.Data = json.RawMessage(`{"job_id":"j","cell":"x"}`)
	e.Hash = session.EventHash(s.ID, e)
	s.Timeline[0] = e
	if _, err := eventRow(s, e); !errors.Is(err, session.ErrInvalidEvent) {
		t.Errorf("eventRow with an unknown key err = %v, want ErrInvalidEvent", err)
	}
	// A row with an unknown key in the table (written by something else)
	// is reported by Verify.
	rows := chainRows(t, testSession("s1", 1))
	rows[0].Data = `{"job_id":"j","bytes_processed":0,"cell":"x"}`
	rows[0].RowHash = RowHash(rows[0])
	rep := verifyRows(rows, false)
	if rep.OK() || !strings.Contains(rep.Problems[0].Reason, "cannot rebuild the event") || !strings.Contains(rep.Problems[0].Reason, `unknown field "cell"`) {
		t.Errorf("problems = %v, want an unknown field reported", rep.Problems)
	}
}

// TestLegacyAndNewRowsVerifyTogether: a table holding day-chained rows
// from before the anchor and rows written since (chain_seq 0) verifies,
// and the old rows are still held to their day chain.
func TestLegacyAndNewRowsVerifyTogether(t *testing.T) {
	t.Parallel()
	newRows := func() []*Row {
		s := testSession("new", 3)
		var out []*Row
		for _, e := range s.Timeline {
			r, err := eventRow(s, e)
			if err != nil {
				t.Fatal(err)
			}
			r.RecordedAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
			r.RowHash = RowHash(r)
			out = append(out, r)
		}
		return out
	}
	rep := verifyRows(append(legacyRows(t), newRows()...), false)
	if !rep.OK() || rep.Rows != 14 || rep.Sessions != 3 {
		t.Fatalf("mixed rows: %d rows, %d sessions, problems %v; want 14, 3 and none", rep.Rows, rep.Sessions, rep.Problems)
	}
	for _, r := range newRows() {
		if r.ChainSeq != 0 || r.ChainPrev != "" {
			t.Errorf("new row %s: chain_seq %d chain_prev %q, want 0 and empty", r.InsertID(), r.ChainSeq, r.ChainPrev)
		}
	}

	// An old row taken out of its day chain (made to look like a new row,
	// row_hash recomputed) leaves a gap in that chain.
	rows := append(legacyRows(t), newRows()...)
	rows[4].ChainSeq, rows[4].ChainPrev = 0, ""
	rows[4].RowHash = RowHash(rows[4])
	rep = verifyRows(rows, false)
	if rep.OK() || !strings.Contains(rep.Problems[0].Reason, "chain_seq jumps from 4 to 6") {
		t.Errorf("old row moved off its day chain: problems %v, want a gap from 4 to 6", rep.Problems)
	}
}
