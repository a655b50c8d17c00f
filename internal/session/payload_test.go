package session_test

import (
	"database/sql"
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

func TestEveryEventTypeHasOnePayload(t *testing.T) {
	t.Parallel()
	want := []session.EventType{
		"approval.decided", "approval.expired", "approval.requested", "policy.break_glass", "policy.decided", "query.finished",
		"query.started", "result.masked", "result.reidentified", "session.completed", "session.failed", "session.received",
	}
	if diff := cmp.Diff(want, session.EventTypes()); diff != "" {
		t.Errorf("EventTypes (-want, +got):\n%s", diff)
	}
	payloads := []session.Payload{
		session.ReceivedData{}, session.PolicyDecidedData{}, session.ApprovalRequestedData{}, session.ApprovalDecidedData{},
		session.ApprovalExpiredData{}, session.QueryStartedData{}, session.QueryFinishedData{}, session.ResultMaskedData{},
		session.ReidentifiedData{}, session.FailedData{}, session.CompletedData{}, session.BreakGlassData{},
	}
	seen := map[session.EventType]bool{}
	for _, p := range payloads {
		typ := p.EventType()
		if seen[typ] {
			t.Errorf("two payloads for %s", typ)
		}
		seen[typ] = true
		got, err := session.DecodePayload(typ, session.EncodePayload(p))
		if err != nil || !cmp.Equal(p, got) {
			t.Errorf("%s: DecodePayload(EncodePayload) = %#v, %v; want %#v", typ, got, err, p)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d payload types for %d event types", len(seen), len(want))
	}
}

// TestPayloadEncoding pins the canonical encoding: these bytes are hashed
// and written to the audit table, so a change here breaks verification of
// every stored event.
func TestPayloadEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    session.Payload
		want string
	}{
		{session.QueryFinishedData{JobID: "j", BytesProcessed: 1<<53 + 1}, `{"job_id":"j","bytes_processed":9007199254740993}`},
		{session.QueryFinishedData{JobID: "j", BytesProcessed: 1<<63 - 1}, `{"job_id":"j","bytes_processed":9223372036854775807}`},
		{session.ResultMaskedData{Rows: 3, TotalRows: 1 << 60, Pages: 1, MaskedColumns: []string{"b", "a"}, Findings: map[string]int64{"Z": 1, "A": 1<<53 + 3}},
			`{"rows":3,"total_rows":1152921504606846976,"pages":1,"masked_columns":["b","a"],"findings":{"A":9007199254740995,"Z":1},"truncated":false}`},
		{session.ResultMaskedData{MaskedColumns: []string{}, Findings: map[string]int64{}}, `{"rows":0,"total_rows":0,"pages":0,"truncated":false}`},
		{session.FailedData{Status: "failed", Error: "a < b & c"}, `{"status":"failed","error":"a \u003c b \u0026 c"}`},
		{session.CompletedData{Status: "succeeded"}, `{"status":"succeeded"}`},
		// Events written before quorums encode exactly as they did; the
		// quorum fields appear only when set (issue 15 item 1).
		{session.ApprovalDecidedData{Decision: "approved", Comment: "ok", TokenID: "t1"}, `{"decision":"approved","comment":"ok","token_id":"t1"}`},
		{session.ApprovalDecidedData{Decision: "approved", Via: "api", RunSHA256: "ab", Pending: true, Approvals: 1, Required: 2},
			`{"decision":"approved","comment":"","token_id":"","via":"api","run_sha256":"ab","pending":true,"approvals":1,"required":2}`},
		{session.ApprovalRequestedData{Group: "g", Approvers: []string{"a"}, ExpiresAt: "2026-12-02T12:00:00Z"}, `{"group":"g","approvers":["a"],"expires_at":"2026-12-02T12:00:00Z"}`},
		{session.ApprovalRequestedData{Group: "g", ExpiresAt: "x", MinApprovals: 2, Groups: []string{"g", "h"}, AllGroupsMustApprove: true},
			`{"group":"g","expires_at":"x","min_approvals":2,"groups":["g","h"],"all_groups_must_approve":true}`},
	} {
		if got := string(session.EncodePayload(tc.p)); got != tc.want {
			t.Errorf("EncodePayload(%#v) = %s, want %s", tc.p, got, tc.want)
		}
	}
}

// TestIntegersAboveTwoToThe53 keeps an int64 exact from the producer
// through the store, the hash and Payload.
func TestIntegersAboveTwoToThe53(t *testing.T) {
	t.Parallel()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const big = int64(1<<53 + 1) // float64 would round it to 2^53
	s := &session.Session{ID: "big", SQL: "SELECT 1", Status: session.StatusRunning}
	s.AddEvent(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "execute", session.QueryFinishedData{JobID: "j", BytesProcessed: big})
	if err := st.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	if n := got.VerifyChain(); n != 0 {
		t.Fatalf("chain broken at %d", n)
	}
	p, err := got.Timeline[0].Payload()
	if err != nil {
		t.Fatal(err)
	}
	if d := p.(session.QueryFinishedData); d.BytesProcessed != big {
		t.Errorf("bytes_processed = %d, want %d", d.BytesProcessed, big)
	}
	// One less is another event: the hash covers the exact digits.
	e := got.Timeline[0]
	e.Data = session.EncodePayload(session.QueryFinishedData{JobID: "j", BytesProcessed: big - 1})
	if session.EventHash("big", e) == got.Timeline[0].Hash {
		t.Error("2^53+1 and 2^53 hash alike")
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	t.Parallel()
	const secret = "SECRETVALUE"
	for _, tc := range []struct {
		name string
		typ  session.EventType
		data string
	}{
		{"unknown key", session.EventQueryStarted, `{"job_id":"j","row":"SECRETVALUE"}`},
		{"unknown key only", session.EventCompleted, `{"SECRETVALUE":1}`},
		{"wrong type", session.EventQueryFinished, `{"job_id":"j","bytes_processed":"SECRETVALUE"}`},
		{"fraction", session.EventQueryFinished, `{"job_id":"j","bytes_processed":12.5}`},
		{"float spelling", session.EventQueryFinished, `{"job_id":"j","bytes_processed":1e3}`},
		{"key order", session.EventQueryFinished, `{"bytes_processed":1,"job_id":"j"}`},
		{"missing key", session.EventQueryFinished, `{"job_id":"j"}`},
		{"whitespace", session.EventQueryStarted, `{"job_id": "j"}`},
		{"other escaping", session.EventFailed, `{"status":"failed","error":"<SECRETVALUE>"}`},
		{"trailing data", session.EventQueryStarted, `{"job_id":"j"}{"job_id":"SECRETVALUE"}`},
		{"not an object", session.EventQueryStarted, `["SECRETVALUE"]`},
		{"null", session.EventQueryStarted, `null`},
		{"empty", session.EventQueryStarted, ``},
		{"syntax", session.EventQueryStarted, `{"job_id":"SECRETVALUE`},
		{"unknown type", session.EventType("SECRETVALUE.happened"), `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := session.DecodePayload(tc.typ, []byte(tc.data))
			if !errors.Is(err, session.ErrInvalidEvent) {
				t.Fatalf("DecodePayload(%s) err = %v, want ErrInvalidEvent", tc.data, err)
			}
			if tc.typ != "SECRETVALUE.happened" && tc.name != "unknown key only" && strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes a value: %v", err)
			}
		})
	}
}

// legacySessions reads sessions as the store kept them before typed
// payloads. testdata/legacy_sessions.json was written by the code of commit
// 5d9a73a (the last one with map payloads), from a small generator that
// called its Session.AddEvent the way its producers did.
func legacySessions(t *testing.T) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "legacy_sessions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(b, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("fixture holds %d sessions, want 2", len(docs))
	}
	return docs
}

func TestLegacyChainStillVerifies(t *testing.T) {
	t.Parallel()
	for _, doc := range legacySessions(t) {
		var s session.Session
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Fatal(err)
		}
		t.Run(s.ID, func(t *testing.T) {
			if n := s.VerifyChain(); n != 0 {
				t.Fatalf("legacy chain broken at %d", n)
			}
			for _, e := range s.Timeline {
				if e.HashVersion != session.HashVersionLegacy {
					t.Errorf("event %d hash version = %d, want legacy", e.Seq, e.HashVersion)
				}
				if _, err := e.Payload(); err != nil {
					t.Errorf("event %d (%s): Payload: %v", e.Seq, e.Type, err)
				}
			}
			for _, tc := range []struct {
				name   string
				tamper func(e *session.Event)
			}{
				{"data", func(e *session.Event) { e.Data = json.RawMessage(strings.Replace(string(e.Data), `"`, `"x`, 1)) }},
				{"actor", func(e *session.Event) { e.Actor += "x" }},
				// Claiming the typed version picks the other computation,
				// which the stored hash does not match.
				{"hash version", func(e *session.Event) { e.HashVersion = session.HashVersionTyped }},
			} {
				c := s
				c.Timeline = append([]session.Event(nil), s.Timeline...)
				tc.tamper(&c.Timeline[1])
				if n := c.VerifyChain(); n != 2 {
					t.Errorf("tampered %s of event 2: VerifyChain = %d, want 2", tc.name, n)
				}
			}
		})
	}
	// The old code kept numbers as float64: the fixture shows the loss
	// that typed payloads end (9007199254740993 was stored as ...992).
	var s session.Session
	if err := json.Unmarshal(legacySessions(t)[0], &s); err != nil {
		t.Fatal(err)
	}
	p, err := s.Timeline[1].Payload()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(session.PolicyDecidedData).EstimatedBytes; got != 9007199254740992 {
		t.Errorf("legacy estimated_bytes = %d, want the float64-rounded 9007199254740992", got)
	}
}

// TestLegacySessionContinues loads a session stored before typed payloads
// into SQLite as the old code stored it, and appends a typed event: the
// mixed chain verifies, and the legacy events stay as they were.
func TestLegacySessionContinues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := session.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doc := legacySessions(t)[1]
	var old session.Session
	if err := json.Unmarshal(doc, &old); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO sessions(id, created_at, conversation_id, version, doc) VALUES (?,?,?,?,?)`,
		old.ID, old.CreatedAt.UnixNano(), old.ConversationID, old.Version, string(doc)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Update(t.Context(), old.ID, func(x *session.Session) error {
		x.AddEvent(x.CreatedAt.Add(time.Hour), "carol@example.com", session.ReidentifiedData{Page: 0, Rows: 2})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := got.VerifyChain(); n != 0 {
		t.Fatalf("mixed chain broken at %d", n)
	}
	if diff := cmp.Diff(old.Timeline, got.Timeline[:len(old.Timeline)]); diff != "" {
		t.Errorf("legacy events changed (-want, +got):\n%s", diff)
	}
	last := got.Timeline[len(got.Timeline)-1]
	if last.HashVersion != session.HashVersionTyped || last.PrevHash != old.Timeline[len(old.Timeline)-1].Hash {
		t.Errorf("appended event: version %d prev %s", last.HashVersion, last.PrevHash)
	}
	// A legacy event cannot be appended any more.
	_, err = st.Update(t.Context(), old.ID, func(x *session.Session) error {
		e := x.AddEvent(x.CreatedAt.Add(2*time.Hour), "record", session.CompletedData{Status: "failed"})
		e.HashVersion = session.HashVersionLegacy
		e.Hash = session.EventHash(x.ID, e)
		x.Timeline[len(x.Timeline)-1] = e
		return nil
	})
	if !errors.Is(err, session.ErrInvalidEvent) {
		t.Errorf("appending a legacy-hashed event err = %v, want ErrInvalidEvent", err)
	}
}
