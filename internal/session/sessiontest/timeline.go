package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/querygate/querygate/internal/session"
)

// wholeTimeline holds a store that reads fewer events per call (Firestore
// keeps the ones it has seen) to the Store contract: every Update's fn,
// every Update's result, Get and Wait see the whole timeline, in order,
// however many updates came before; and an Update whose fn edits a stored
// event in place, without touching its hash, is refused and leaves no
// trace in a later read.
func wholeTimeline(t *testing.T, f Factory) {
	ctx := context.Background()
	st := f(t)
	s := newSession("whole")
	at := time.Date(2026, 11, 28, 10, 7, 0, 0, time.UTC)
	s.AddEvent(at, "alice@example.com", session.ReceivedData{Agent: "a"})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []string{s.Timeline[0].Hash}
	for i := 1; i <= 4; i++ {
		got, err := st.Update(ctx, s.ID, func(x *session.Session) error {
			if n := len(x.Timeline); n != i {
				return fmt.Errorf("fn of update %d saw %d events, want %d", i, n, i)
			}
			x.AddEvent(at, "suite", session.QueryStartedData{JobID: fmt.Sprint("j", i)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, got.Timeline[len(got.Timeline)-1].Hash)
		if diff := cmp.Diff(want, hashes(got.Timeline)); diff != "" || got.VerifyChain() != 0 {
			t.Fatalf("Update %d result timeline (-want, +got):\n%s", i, diff)
		}
	}

	// Editing a stored event's data in place, the hash left as it was, is
	// a rewrite too: refused, and neither stored nor seen by a later read.
	if _, err := st.Update(ctx, s.ID, func(x *session.Session) error {
		x.Timeline[1].Data = json.RawMessage(`{"job_id":"edited"}`)
		x.Status = session.StatusSucceeded
		return nil
	}); !errors.Is(err, session.ErrTimelineRewrite) {
		t.Errorf("Update editing event 2's data: err = %v, want ErrTimelineRewrite", err)
	}
	// The same edit made to the bytes themselves.
	if _, err := st.Update(ctx, s.ID, func(x *session.Session) error {
		copy(x.Timeline[1].Data, `{"job_id":"jX"}`)
		return nil
	}); !errors.Is(err, session.ErrTimelineRewrite) {
		t.Errorf("Update editing event 2's data bytes: err = %v, want ErrTimelineRewrite", err)
	}
	if _, err := st.Update(ctx, s.ID, func(x *session.Session) error {
		x.Status = session.StatusSucceeded
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, hashes(got.Timeline)); diff != "" {
		t.Errorf("Get timeline (-want, +got):\n%s", diff)
	}
	if got.VerifyChain() != 0 || string(got.Timeline[1].Data) != `{"job_id":"j1"}` {
		t.Errorf("Get: chain break %d, event 2 data %s; want 0, {\"job_id\":\"j1\"}", got.VerifyChain(), got.Timeline[1].Data)
	}
	waited, err := st.Wait(ctx, s.ID, got.Version-1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, waited, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Wait after the last update (-Get, +Wait):\n%s", diff)
	}
}

func hashes(timeline []session.Event) []string {
	out := make([]string, len(timeline))
	for i, e := range timeline {
		out[i] = e.Hash
	}
	return out
}
