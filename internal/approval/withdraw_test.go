package approval

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// heldForWithdrawal is an env with session s1 held and its approvers
// notified, and s1's requester.
func heldForWithdrawal(t *testing.T) (*env, *session.Principal) {
	t.Helper()
	e := newEnv(t)
	e.heldSession("s1", demoSQL)
	e.notify("s1")
	return e, &session.Principal{Issuer: "https://issuer.example", Subject: "alice-sub", Email: "alice@example.com"}
}

func TestWithdraw(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, alice := heldForWithdrawal(t)
	const reason = "cancelled by the requester"

	// Only the requester may withdraw; anyone else finds nothing.
	before := len(e.get("s1").Timeline)
	if ok, err := e.svc.Withdraw(ctx, "s1", &session.Principal{Issuer: "https://issuer.example", Subject: "bob-sub", Email: "bob@example.com"}, reason); ok || !errors.Is(err, refuseNotFound) {
		t.Errorf("Withdraw by another = %v, %v; want not found", ok, err)
	}
	if n := len(e.get("s1").Timeline); n != before {
		t.Errorf("a refused withdrawal appended events: %d -> %d", before, n)
	}

	// A failed wake-up keeps the withdrawal; a repeat delivers it.
	e.callback.FailNext(1)
	ok, err := e.svc.Withdraw(ctx, "s1", alice, reason)
	var de *DeliveryError
	if !ok || !errors.As(err, &de) {
		t.Fatalf("Withdraw with the callback down = %v, %v; want true and a DeliveryError", ok, err)
	}
	if ok, err := e.svc.Withdraw(ctx, "s1", alice, reason); !ok || err != nil {
		t.Fatalf("repeated Withdraw = %v, %v", ok, err)
	}
	s := e.get("s1")
	if s.Approval.Decision != "rejected" || s.Approval.DecidedBy != "alice@example.com" || s.Approval.Comment != reason {
		t.Errorf("approval after Withdraw = %+v", s.Approval)
	}
	if n := len(s.Timeline); n != before+1 {
		t.Errorf("Withdraw twice appended %d events, want 1", n-before)
	}
	ev := s.Timeline[len(s.Timeline)-1]
	if p, err := ev.Payload(); err != nil || p != session.Payload(session.ApprovalDecidedData{Decision: "rejected", Comment: reason, Via: ViaRequester}) || ev.Actor != "alice@example.com" {
		t.Errorf("withdrawal event = %+v (%v)", ev, err)
	}
	bodies, _ := e.callback.Calls()
	if diff := cmp.Diff([]CallbackBody{{Decision: "rejected", Approver: "alice@example.com", Comment: reason}}, bodies); diff != "" {
		t.Errorf("callbacks (-want, +got):\n%s", diff)
	}
	// The workflow reads the withdrawal as a rejection; approvers can no
	// longer decide.
	if d, err := e.svc.ReadDecision(ctx, "s1"); err != nil || d.Decision != "rejected" || d.Approver != "alice@example.com" {
		t.Errorf("ReadDecision = %+v, %v", d, err)
	}
	s = e.get("s1")
	if _, err := e.svc.DecideAs(ctx, "bob@example.com", "s1", APIDecision{Decision: DecisionApprove, SQLSHA256: s.SQLSHA256, RunSHA256: RunHash(s)}); !errors.Is(err, refuseNotPending) {
		t.Errorf("approve after the withdrawal: %v, want not pending", err)
	}

	// A session that does not wait for approval is left alone.
	e.heldSession("s2", demoSQL)
	if ok, err := e.svc.Withdraw(ctx, "s2", alice, reason); ok || err != nil {
		t.Errorf("Withdraw of a running session = %v, %v; want false, nil", ok, err)
	}
	if a := e.get("s2").Approval; a != nil {
		t.Errorf("running session got an approval record: %+v", a)
	}
}

// TestRecordWithdrawal: without the callback identity the withdrawal is
// recorded, approvers can no longer decide, and the workflow reads the
// rejection when its approval window closes.
func TestRecordWithdrawal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, alice := heldForWithdrawal(t)
	w := RecordWithdrawal{Store: e.store, Now: e.clock.Now}
	if ok, err := w.Withdraw(ctx, "s1", alice, "cancelled"); !ok || err != nil {
		t.Fatalf("RecordWithdrawal = %v, %v", ok, err)
	}
	if bodies, _ := e.callback.Calls(); len(bodies) != 0 {
		t.Errorf("RecordWithdrawal sent %d callbacks, want none", len(bodies))
	}
	s := e.get("s1")
	if _, err := e.svc.DecideAs(ctx, "bob@example.com", "s1", APIDecision{Decision: DecisionApprove, SQLSHA256: s.SQLSHA256, RunSHA256: RunHash(s)}); !errors.Is(err, refuseNotPending) {
		t.Errorf("approve after the withdrawal: %v, want not pending", err)
	}
	e.clock.Advance(time.Hour)
	if d, err := e.svc.ReadDecision(ctx, "s1"); err != nil || d.Decision != "rejected" || d.Comment != "cancelled" {
		t.Errorf("ReadDecision after the window = %+v, %v; want the withdrawal", d, err)
	}
	if ok, err := w.Withdraw(ctx, "s1", &session.Principal{Issuer: "https://issuer.example", Subject: "bob-sub"}, "x"); ok || !errors.Is(err, refuseNotFound) {
		t.Errorf("RecordWithdrawal by another = %v, %v; want not found", ok, err)
	}
}
