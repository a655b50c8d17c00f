package approval

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// claimSuite is the Claim part of the StateStore conformance suite: a
// mark is won once, by exactly one of many concurrent callers, marks are
// per session and per name, and a session without a request is
// ErrNotFound.
func claimSuite(t *testing.T, s StateStore) {
	ctx := context.Background()
	for _, id := range []string{"c1", "c2"} {
		if _, err := s.Begin(ctx, Request{SessionID: id, CallbackURL: "http://cb/" + id, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won, err := s.Claim(ctx, "c1", MarkReminder, t0)
			if err != nil {
				errs <- err
				return
			}
			if won {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Claim: %v", err)
	}
	if n := wins.Load(); n != 1 {
		t.Errorf("8 concurrent claims of one mark: %d won, want 1", n)
	}
	if won, err := s.Claim(ctx, "c1", MarkReminder, t0.Add(time.Minute)); err != nil || won {
		t.Errorf("Claim again = %v, %v; want false", won, err)
	}
	if won, err := s.Claim(ctx, "c1", MarkBreakGlassReview, t0); err != nil || !won {
		t.Errorf("Claim of another mark = %v, %v; want true", won, err)
	}
	if won, err := s.Claim(ctx, "c2", MarkReminder, t0); err != nil || !won {
		t.Errorf("Claim on another session = %v, %v; want true", won, err)
	}
	if _, err := s.Claim(ctx, "nope", MarkReminder, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Claim without a request = %v, want ErrNotFound", err)
	}
	// The marks leave the request as it was.
	r, err := s.Get(ctx, "c1")
	if err != nil || r.CallbackURL != "http://cb/c1" || !r.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Get after Claim = %+v, %v", r, err)
	}
}
