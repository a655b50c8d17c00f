package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// eventsAreTyped holds both stores to the event rules at write time: an
// event whose data is not exactly its type's canonical payload (an unknown
// key, above all), or whose chain or hash is wrong, is refused with
// ErrInvalidEvent by Create and by Update, and nothing is written; an
// integer above 2^53 comes back exact.
func eventsAreTyped(t *testing.T, f Factory) {
	ctx := context.Background()
	at := time.Date(2026, 11, 28, 10, 6, 0, 0, time.UTC)
	// forge replaces the last event of x, keeping its hash consistent, so
	// only the data rule can refuse it.
	forge := func(x *session.Session, edit func(e *session.Event)) {
		e := &x.Timeline[len(x.Timeline)-1]
		edit(e)
		e.Hash = session.EventHash(x.ID, *e)
	}
	bad := []struct {
		name string
		edit func(x *session.Session)
	}{
		{"unknown key", func(x *session.Session) {
			x.AddEvent(at, "suite", session.QueryStartedData{JobID: "j"})
			forge(x, func(e *session.Event) { e.Data = json.RawMessage(`{"job_id":"j","extra":"x"}`) })
		}},
		{"key of another type", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			forge(x, func(e *session.Event) { e.Data = json.RawMessage(`{"status":"succeeded","error":"x"}`) })
		}},
		{"number as float", func(x *session.Session) {
			x.AddEvent(at, "suite", session.QueryFinishedData{JobID: "j", BytesProcessed: 1})
			forge(x, func(e *session.Event) { e.Data = json.RawMessage(`{"job_id":"j","bytes_processed":1.0}`) })
		}},
		{"unknown type", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			forge(x, func(e *session.Event) { e.Type = "session.renamed" })
		}},
		{"legacy hash", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			forge(x, func(e *session.Event) { e.HashVersion = session.HashVersionLegacy })
		}},
		{"wrong hash", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			x.Timeline[len(x.Timeline)-1].Hash = session.GenesisHash
		}},
		{"broken link", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			forge(x, func(e *session.Event) { e.PrevHash = "x" })
		}},
		{"wrong seq", func(x *session.Session) {
			x.AddEvent(at, "suite", session.CompletedData{Status: "succeeded"})
			forge(x, func(e *session.Event) { e.Seq += 5 })
		}},
	}
	for _, tc := range bad {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			st := f(t)
			s := newSession("typed")
			tc.edit(s)
			if err := st.Create(ctx, s); !errors.Is(err, session.ErrInvalidEvent) {
				t.Errorf("Create err = %v, want ErrInvalidEvent", err)
			}
			if _, err := st.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("refused session was stored: Get err = %v", err)
			}
		})
		t.Run("Update/"+tc.name, func(t *testing.T) {
			st := f(t)
			s := newSession("typed")
			s.AddEvent(s.CreatedAt, "alice@example.com", session.ReceivedData{SQLSHA256: s.SQLSHA256})
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			_, err := st.Update(ctx, s.ID, func(x *session.Session) error { tc.edit(x); return nil })
			if !errors.Is(err, session.ErrInvalidEvent) {
				t.Errorf("Update err = %v, want ErrInvalidEvent", err)
			}
			got, err := st.Get(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 1 || len(got.Timeline) != 1 {
				t.Errorf("after the refused Update: version %d, %d events; want 1, 1", got.Version, len(got.Timeline))
			}
		})
	}

	t.Run("IntegerAboveTwoToThe53", func(t *testing.T) {
		st := f(t)
		s := newSession("bigint")
		const big = int64(1<<62 + 1)
		s.AddEvent(at, "execute", session.QueryFinishedData{JobID: "j", BytesProcessed: big})
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"job_id":"j","bytes_processed":4611686018427387905}`; string(got.Timeline[0].Data) != want {
			t.Errorf("stored data = %s, want %s", got.Timeline[0].Data, want)
		}
		p, err := got.Timeline[0].Payload()
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := p.(session.QueryFinishedData); d.BytesProcessed != big || got.VerifyChain() != 0 {
			t.Errorf("bytes_processed = %d (chain broken at %d), want %d", d.BytesProcessed, got.VerifyChain(), big)
		}
	})
}
