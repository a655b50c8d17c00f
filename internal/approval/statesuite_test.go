package approval

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runStateStoreSuite is the StateStore conformance suite: every
// implementation (memory and SQLite here, Firestore on its emulator in
// firestore_test.go) runs the same checks: lifecycle, isolation of returned
// state, concurrency and awkward ids.
func runStateStoreSuite(t *testing.T, open func(t *testing.T) StateStore) {
	t.Run("Claim", func(t *testing.T) { t.Parallel(); claimSuite(t, open(t)) })
	t.Run("Open", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		for _, r := range []Request{
			{SessionID: "late", CallbackURL: "http://cb/late", ExpiresAt: t0.Add(2 * time.Hour), CreatedAt: t0},
			{SessionID: "soon", CallbackURL: "http://cb/soon", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
			{SessionID: "gone", CallbackURL: "http://cb/gone", ExpiresAt: t0.Add(-time.Second), CreatedAt: t0.Add(-time.Hour)},
			{SessionID: "done", CallbackURL: "http://cb/done", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
		} {
			if _, err := s.Begin(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkDelivered(ctx, "done", t0); err != nil {
			t.Fatal(err)
		}
		ids := func(rs []Request) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.SessionID)
			}
			return out
		}
		got, err := s.Open(ctx, t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"soon", "late"}, ids(got)); diff != "" {
			t.Errorf("Open(t0) ids (-want, +got):\n%s", diff)
		}
		if len(got) > 0 && got[0].CallbackURL != "http://cb/soon" {
			t.Errorf("Open(t0)[0].CallbackURL = %q, want http://cb/soon", got[0].CallbackURL)
		}
		got, err = s.Open(ctx, t0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"soon"}, ids(got)); diff != "" {
			t.Errorf("Open(t0, 1) ids (-want, +got):\n%s", diff)
		}
		got, err = s.Open(ctx, t0.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"late"}, ids(got)); diff != "" {
			t.Errorf("Open(t0+1h) ids (-want, +got):\n%s", diff)
		}
	})
	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
		if err := s.MarkNotified(ctx, "nope", "a@x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkNotified(missing) = %v, want ErrNotFound", err)
		}
		if err := s.MarkDelivered(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkDelivered(missing) = %v, want ErrNotFound", err)
		}
		// MarkNotified on a missing request must not create one.
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Mark*(missing) = %v, want ErrNotFound", err)
		}
		first := Request{SessionID: "s1", CallbackURL: "http://cb/1", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		got, err := s.Begin(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("Begin (-want, +got):\n%s", diff)
		}
		for _, a := range []string{"carol@x", "bob@x", "carol@x"} {
			if err := s.MarkNotified(ctx, "s1", a); err != nil {
				t.Fatal(err)
			}
		}
		got, err = s.Begin(ctx, Request{SessionID: "s1", CallbackURL: "http://cb/2", ExpiresAt: t0.Add(5 * time.Hour), CreatedAt: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		want := Request{SessionID: "s1", CallbackURL: "http://cb/2", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, Notified: []string{"bob@x", "carol@x"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("second Begin (-want, +got):\n%s", diff)
		}
		if err := s.MarkDelivered(ctx, "s1", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDelivered(ctx, "s1", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err = s.Get(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		want.DeliveredAt = t0.Add(2 * time.Minute)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get after delivery (-want, +got):\n%s", diff)
		}
		got.Notified[0] = "mallory@x"
		again, _ := s.Get(ctx, "s1")
		if again.Notified[0] != "bob@x" {
			t.Error("Get returned shared state")
		}
	})

	t.Run("SubSecondTimes", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		// Stores must give back the exact instants, nanoseconds included.
		at := time.Date(2026, 11, 28, 9, 0, 0, 123456789, time.UTC)
		r := Request{SessionID: "ns", CallbackURL: "http://cb", ExpiresAt: at.Add(time.Hour), CreatedAt: at}
		if _, err := s.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDelivered(ctx, "ns", at.Add(time.Nanosecond)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		r.DeliveredAt = at.Add(time.Nanosecond)
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Get (-want, +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentNotify", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		if _, err := s.Begin(ctx, Request{SessionID: "c1", CallbackURL: "http://cb", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		// A notify retry racing the first attempt must not lose approvers.
		var want []string
		for i := range 8 {
			want = append(want, fmt.Sprintf("a%d@x", i))
		}
		var wg sync.WaitGroup
		errs := make([]error, len(want))
		for i, a := range want {
			wg.Go(func() { errs[i] = s.MarkNotified(ctx, "c1", a) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got.Notified); diff != "" {
			t.Errorf("Notified after concurrent MarkNotified (-want, +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentBegin", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		// Two retried notify steps racing: one request, the first expiry
		// stored stays, every caller sees the same creation.
		const n = 4
		var wg sync.WaitGroup
		got := make([]Request, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got[i], errs[i] = s.Begin(ctx, Request{SessionID: "b1", CallbackURL: fmt.Sprintf("http://cb/%d", i),
					ExpiresAt: t0.Add(time.Hour), CreatedAt: t0})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		stored, err := s.Get(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if !stored.ExpiresAt.Equal(t0.Add(time.Hour)) || !stored.CreatedAt.Equal(t0) || len(stored.Notified) != 0 {
			t.Errorf("stored request = %+v, want expiry %v, creation %v, nobody notified", stored, t0.Add(time.Hour), t0)
		}
		for i, g := range got {
			if !g.ExpiresAt.Equal(t0.Add(time.Hour)) || !g.CreatedAt.Equal(t0) {
				t.Errorf("Begin #%d returned %+v, want expiry %v and creation %v", i, g, t0.Add(time.Hour), t0)
			}
		}
		if !strings.HasPrefix(stored.CallbackURL, "http://cb/") {
			t.Errorf("stored callback %q is none of the callers'", stored.CallbackURL)
		}
	})

	t.Run("OddSessionIDs", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		// Ids no request was begun for are not found, whatever their form:
		// a store must not panic or address another record.
		for _, id := range []string{"a/b", "..", "__x__", ""} {
			if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
			}
			if err := s.MarkNotified(ctx, id, "a@x"); !errors.Is(err, ErrNotFound) {
				t.Errorf("MarkNotified(%q) = %v, want ErrNotFound", id, err)
			}
			if err := s.MarkDelivered(ctx, id, t0); !errors.Is(err, ErrNotFound) {
				t.Errorf("MarkDelivered(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})
}

// TestStateStoreSuite runs runStateStoreSuite against the embedded stores;
// firestore_test.go runs it against Firestore.
func TestStateStoreSuite(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		runStateStoreSuite(t, func(t *testing.T) StateStore { return NewMemory() })
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		runStateStoreSuite(t, func(t *testing.T) StateStore {
			s, err := OpenSQLite(filepath.Join(t.TempDir(), "a.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}
