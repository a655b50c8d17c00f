package approval

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestStateStoreConformance runs the same checks against every StateStore.
func TestStateStoreConformance(t *testing.T) {
	t.Parallel()
	impls := map[string]func(t *testing.T) StateStore{
		"memory": func(t *testing.T) StateStore { return NewMemory() },
		"sqlite": func(t *testing.T) StateStore {
			s, err := OpenSQLite(filepath.Join(t.TempDir(), "a.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
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
			// A second Begin keeps expiry, creation and notified set and
			// takes the new callback URL.
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
			// Returned values are copies.
			got.Notified[0] = "mallory@x"
			again, _ := s.Get(ctx, "s1")
			if again.Notified[0] != "bob@x" {
				t.Error("Get returned shared state")
			}
		})
	}
}
