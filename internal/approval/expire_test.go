package approval

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/session"
)

func TestExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.notify("s1")
	approve, _ := e.links("bob@example.com", "s1")
	b := newBrowser(t)
	p := b.Get(approve)

	e.clock.Advance(30 * time.Minute)
	changed, err := e.svc.Expire(ctx, "s1")
	if err != nil || !changed {
		t.Fatalf("Expire = %v, %v; want true, nil", changed, err)
	}
	s := e.get("s1")
	if s.Status != session.StatusExpired || s.Approval.Decision != "expired" || !s.Approval.DecidedAt.Equal(t0.Add(30*time.Minute)) {
		t.Errorf("after Expire: status %s approval %+v", s.Status, s.Approval)
	}
	ev := s.Timeline[len(s.Timeline)-1]
	if p, err := ev.Payload(); err != nil || p != session.Payload(session.ApprovalExpiredData{ExpiresAt: "2026-11-28T09:30:00Z"}) {
		t.Errorf("last event %+v", ev)
	}
	// Retried: no second event.
	if changed, err := e.svc.Expire(ctx, "s1"); err != nil || changed {
		t.Errorf("second Expire = %v, %v; want false, nil", changed, err)
	}
	if n := len(e.get("s1").Timeline); n != len(s.Timeline) {
		t.Errorf("second Expire appended events: %d -> %d", len(s.Timeline), n)
	}
	// A link opened before cannot decide any more, even with a clock
	// that has not reached the link's expiry.
	e.clock.Advance(-time.Minute)
	before := e.snap("s1")
	assertRefused(t, e, before, b.submit(e, p, "approve", ""), 409, "not_pending", "no longer waiting for approval")

	// A decided session does not expire.
	e.heldSession("s2", demoSQL)
	e.notify("s2")
	l2, _ := e.links("carol@example.com", "s2")
	if r := b.submit(e, b.Get(l2), "approve", ""); r.Status != 200 {
		t.Fatalf("decide s2: %d", r.Status)
	}
	if changed, err := e.svc.Expire(ctx, "s2"); err != nil || changed {
		t.Errorf("Expire(decided) = %v, %v; want false, nil", changed, err)
	}
	if got := e.get("s2").Approval.Decision; got != "approved" {
		t.Errorf("decided session's decision became %q", got)
	}
	// Never requested, and unknown sessions.
	e.heldSession("s3", demoSQL)
	var ref *Refusal
	if _, err := e.svc.Expire(ctx, "s3"); !errors.As(err, &ref) || ref.Code != "not_requested" {
		t.Errorf("Expire(not requested) = %v", err)
	}
	if _, err := e.svc.Expire(ctx, "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Expire(unknown) = %v, want ErrNotFound", err)
	}
}
