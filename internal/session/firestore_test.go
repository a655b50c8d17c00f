package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/session/sessiontest"
	"github.com/querygate/querygate/testing/firestoreemu"
)

var fsProject atomic.Int64

// openEmulatorStore opens a Firestore store on its own emulated project, so
// every store starts empty. It uses version markers: without them the
// emulator does not serialize concurrent Updates.
func openEmulatorStore(t *testing.T, emu *firestoreemu.Emulator) *session.Firestore {
	t.Helper()
	opts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	st, err := session.OpenFirestore(t.Context(), fmt.Sprintf("querygate-test-%d", fsProject.Add(1)), "(default)", opts...)
	if err != nil {
		t.Fatal(err)
	}
	st.UseVersionMarkers()
	t.Cleanup(func() { st.Close() })
	return st
}

// TestFirestoreConformance runs the Store suite against the npm Firestore
// emulator. What the emulator cannot check is listed in
// testing/firestoreemu's package comment and docs/audit.md.
func TestFirestoreConformance(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	sessiontest.Run(t, func(t *testing.T) session.Store { return openEmulatorStore(t, emu) })
}

func TestFirestoreLimitsAndAppendOnly(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	st := openEmulatorStore(t, emu)
	ctx := t.Context()
	s := &session.Session{ID: "big", SQL: "SELECT 1", Status: session.StatusRunning}
	s.AddEvent(s.CreatedAt, "a", session.ReidentifiedData{Page: 1})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}

	t.Run("PageOverOneMiB", func(t *testing.T) {
		rows := json.RawMessage(`["` + strings.Repeat("x", session.MaxPageBytes) + `"]`)
		err := st.PutPage(ctx, "big", &session.Page{Index: 0, Rows: rows, Count: 1})
		if !errors.Is(err, session.ErrDocumentTooLarge) {
			t.Errorf("PutPage(%d bytes) err = %v, want ErrDocumentTooLarge", len(rows), err)
		}
		if _, err := st.GetPage(ctx, "big", 0); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("oversized page was stored: GetPage err = %v", err)
		}
	})

	t.Run("SessionOverOneMiB", func(t *testing.T) {
		_, err := st.Update(ctx, "big", func(x *session.Session) error {
			x.Prompt = strings.Repeat("p", session.MaxDocumentBytes)
			return nil
		})
		if !errors.Is(err, session.ErrDocumentTooLarge) {
			t.Errorf("Update with a 1 MiB prompt err = %v, want ErrDocumentTooLarge", err)
		}
	})

	t.Run("TimelineAppendOnly", func(t *testing.T) {
		_, err := st.Update(ctx, "big", func(x *session.Session) error {
			x.Timeline[0].Data = session.EncodePayload(session.ReidentifiedData{Page: 2})
			x.Timeline[0].Hash = session.EventHash(x.ID, x.Timeline[0])
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("rewriting event 1 err = %v, want append-only error", err)
		}
		got, err := st.Get(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 1 || string(got.Timeline[0].Data) != `{"page":1,"rows":0}` {
			t.Errorf("after refused rewrite: version %d, event data %s; want 1, {\"page\":1,\"rows\":0}", got.Version, got.Timeline[0].Data)
		}
	})
}

// TestFirestoreExpireAtOnEveryDocument checks that a retention set after
// creation reaches the documents written before it, so the TTL policy
// deletes a session's events, pages and version markers with it.
func TestFirestoreExpireAtOnEveryDocument(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	opts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("querygate-ttl-%d", fsProject.Add(1))
	st, err := session.OpenFirestore(t.Context(), project, "(default)", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// With markers, so the test also shows that they carry expire_at.
	st.UseVersionMarkers()
	ctx := t.Context()
	s := &session.Session{ID: "ttl", SQL: "SELECT 1", Status: session.StatusRunning}
	s.AddEvent(s.CreatedAt, "a", session.ReceivedData{})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPage(ctx, "ttl", &session.Page{Index: 0, Rows: json.RawMessage(`[]`)}); err != nil {
		t.Fatal(err)
	}
	expire := time.Date(2027, 2, 26, 10, 0, 0, 0, time.UTC)
	if _, err := st.Update(ctx, "ttl", func(x *session.Session) error {
		x.ExpireAt = expire
		x.AddEvent(x.CreatedAt, "record", session.CompletedData{Status: "succeeded"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	raw, err := firestore.NewClient(ctx, project, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, path := range []string{
		"sessions/ttl", "sessions/ttl/events/0000000001", "sessions/ttl/events/0000000002",
		"sessions/ttl/pages/000000", "sessions/ttl/versions/0000000001", "sessions/ttl/versions/0000000002",
	} {
		ds, err := raw.Doc(path).Get(ctx)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		v, err := ds.DataAt("expire_at")
		if got, _ := v.(time.Time); err != nil || !got.Equal(expire) {
			t.Errorf("%s expire_at = %v (%v), want %v", path, v, err, expire)
		}
	}
}

// TestFirestoreWaitSeesOtherInstance waits on one store value while another
// (a second Cloud Run instance) updates the session. Polling is set to an
// hour, so only the snapshot listener can end the wait before its context.
func TestFirestoreWaitSeesOtherInstance(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	opts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("querygate-wait-%d", fsProject.Add(1))
	a, err := session.OpenFirestore(t.Context(), project, "(default)", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	session.SetFirestorePoll(a, time.Hour)
	opts2, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	b, err := session.OpenFirestore(t.Context(), project, "(default)", opts2...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Create(t.Context(), &session.Session{ID: "w", Status: session.StatusPendingApproval}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	started, updated := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(updated)
		<-started
		if _, err := b.Update(context.Background(), "w", func(s *session.Session) error { s.Status = session.StatusRunning; return nil }); err != nil {
			t.Error(err)
		}
	}()
	// Wait can see the write (from the listener) before b.Update has
	// returned; b must not be closed under it.
	defer func() { <-updated }()
	close(started)
	got, err := a.Wait(ctx, "w", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Wait returned only when its context ended: the other instance's update did not wake it")
	}
	if got.Version != 2 || got.Status != session.StatusRunning {
		t.Errorf("Wait = v%d %s, want v2 running", got.Version, got.Status)
	}
}

func TestFirestoreBadPageToken(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	st := openEmulatorStore(t, emu)
	for _, tok := range []string{"garbage", "0000000000000000000x/id", "00000000000000000001-id"} {
		if _, err := st.List(t.Context(), session.ListQuery{PageToken: tok}); !errors.Is(err, session.ErrBadPageToken) {
			t.Errorf("List(page_token %q) err = %v, want ErrBadPageToken", tok, err)
		}
	}
}
