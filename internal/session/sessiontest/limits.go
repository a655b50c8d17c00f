package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// marker fills the padded values, so a test can check that an error never
// quotes what it refused to store.
const marker = "CELLVALUE"

func pad(n int) string {
	return strings.Repeat(marker, n/len(marker)+1)[:n]
}

// checkRefusal asserts that err is ErrDocumentTooLarge with a message that
// names sizes, not content.
func checkRefusal(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, session.ErrDocumentTooLarge) {
		t.Errorf("%s: err = %v, want ErrDocumentTooLarge", what, err)
		return
	}
	if msg := err.Error(); strings.Contains(msg, marker) || len(msg) > 300 {
		t.Errorf("%s: the error quotes the refused content or is %d bytes long: %.300s", what, len(msg), msg)
	}
}

// documentLimit holds both stores to the one document rule: the session
// document, each event and each page may be at most
// session.MaxLogicalDocumentBytes (Firestore's 1 MiB limit less a fixed
// reserve for names and bounded fields). Each unit is tried exactly at the
// limit, which must be stored intact, and one byte over, which must be
// refused with nothing written.
func documentLimit(t *testing.T, f Factory) {
	ctx := context.Background()
	const limit = session.MaxLogicalDocumentBytes
	if limit != 1<<20-16<<10 {
		t.Fatalf("MaxLogicalDocumentBytes = %d, want 1 MiB less 16 KiB", limit)
	}

	t.Run("Session", func(t *testing.T) {
		st := f(t)
		sized := func(extra int) *session.Session {
			s := newSession("size")
			s.Version, s.UpdatedAt = 1, s.CreatedAt // what Create will set
			base, err := session.SessionDocumentBytes(s)
			if err != nil {
				t.Fatal(err)
			}
			s.Prompt = pad(limit - base + len(s.Prompt) + extra)
			if n, _ := session.SessionDocumentBytes(s); n != limit+extra {
				t.Fatalf("padded session document is %d bytes, want %d", n, limit+extra)
			}
			return s
		}
		at := sized(0)
		if err := st.Create(ctx, at); err != nil {
			t.Fatalf("Create at the limit: %v", err)
		}
		got, err := st.Get(ctx, at.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Prompt != at.Prompt {
			t.Errorf("prompt at the limit came back as %d bytes, want %d", len(got.Prompt), len(at.Prompt))
		}
		over := sized(1)
		checkRefusal(t, "Create one byte over", st.Create(ctx, over))
		if _, err := st.Get(ctx, over.ID); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("oversized session was stored: Get err = %v", err)
		}
		// An Update that grows the document past the limit writes nothing.
		_, err = st.Update(ctx, at.ID, func(x *session.Session) error { x.Prompt += pad(64); return nil })
		checkRefusal(t, "Update past the limit", err)
		if got, err := st.Get(ctx, at.ID); err != nil || got.Version != 1 || got.Prompt != at.Prompt {
			t.Errorf("after the refused Update: %v, want version 1 and the prompt unchanged", err)
		}
	})

	t.Run("Event", func(t *testing.T) {
		st := f(t)
		s := newSession("evsize")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 28, 10, 5, 0, 0, time.UTC)
		add := func(extra int) error {
			_, err := st.Update(ctx, s.ID, func(x *session.Session) error {
				probe := *x
				probe.Timeline = append([]session.Event(nil), x.Timeline...)
				e := probe.AddEvent(at, "suite", failedData("x"))
				base, err := session.EventDocumentBytes(e)
				if err != nil {
					return err
				}
				e = x.AddEvent(at, "suite", failedData(pad(limit-base+1+extra)))
				if n, _ := session.EventDocumentBytes(e); n != limit+extra {
					t.Errorf("padded event is %d bytes, want %d", n, limit+extra)
				}
				return nil
			})
			return err
		}
		checkRefusal(t, "an event one byte over", add(1))
		if err := add(0); err != nil {
			t.Fatalf("an event at the limit: %v", err)
		}
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Timeline) != 1 || got.Version != 2 || got.VerifyChain() != 0 {
			t.Fatalf("after one refused and one stored event: %d events, version %d, chain broken at %d; want 1, 2, 0",
				len(got.Timeline), got.Version, got.VerifyChain())
		}
		if n, _ := session.EventDocumentBytes(got.Timeline[0]); n != limit {
			t.Errorf("stored event is %d bytes, want %d", n, limit)
		}
	})

	t.Run("Page", func(t *testing.T) {
		st := f(t)
		s := newSession("pgsize")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		rows := func(n int) json.RawMessage { return json.RawMessage(`["` + pad(n-4) + `"]`) }
		full := rows(session.MaxPageBytes)
		if err := st.PutPage(ctx, s.ID, &session.Page{Index: 0, Rows: full, Count: 1}); err != nil {
			t.Fatalf("PutPage at the limit: %v", err)
		}
		p, err := st.GetPage(ctx, s.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Rows) != string(full) {
			t.Errorf("page at the limit came back as %d bytes, want the %d stored", len(p.Rows), len(full))
		}
		checkRefusal(t, "PutPage one byte over", st.PutPage(ctx, s.ID, &session.Page{Index: 1, Rows: rows(session.MaxPageBytes + 1), Count: 1}))
		if _, err := st.GetPage(ctx, s.ID, 1); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("oversized page was stored: GetPage err = %v", err)
		}
	})
}

// failedData is the payload of a session.failed event carrying msg.
func failedData(msg string) session.FailedData {
	return session.FailedData{Status: "failed", Error: msg}
}
