package approval

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/testing/firestoreemu"
)

var fsProject atomic.Int64

// openEmulatorState opens a Firestore StateStore on its own emulated
// project, so every store starts empty.
func openEmulatorState(t *testing.T, emu *firestoreemu.Emulator) *Firestore {
	t.Helper()
	opts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenFirestore(t.Context(), fmt.Sprintf("querygate-approval-test-%d", fsProject.Add(1)), "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestFirestoreStateStore runs the StateStore suite against the npm
// Firestore emulator. The emulator does not isolate transactions, so the
// suite's concurrency checks exercise the array-union and create
// preconditions Firestore applies atomically, not transaction isolation.
func TestFirestoreStateStore(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	runStateStoreSuite(t, func(t *testing.T) StateStore { return openEmulatorState(t, emu) })
}

// TestFirestoreDocumentLayout checks the stored fields a TTL policy and an
// operator reading the console rely on.
func TestFirestoreDocumentLayout(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	st := openEmulatorState(t, emu)
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	if _, err := st.Begin(ctx, Request{SessionID: "s1", CallbackURL: "https://cb/1", ExpiresAt: exp, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkNotified(ctx, "s1", "zed@x"); err != nil {
		t.Fatal(err)
	}
	ds, err := st.coll.Doc("s1").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := ds.Data()
	if got, ok := m["expire_at"].(time.Time); !ok || !got.Equal(exp.Add(ExpireGrace)) {
		t.Errorf("expire_at = %v (%T), want %v", m["expire_at"], m["expire_at"], exp.Add(ExpireGrace))
	}
	if got := m["callback_url"]; got != "https://cb/1" {
		t.Errorf("callback_url = %v, want https://cb/1", got)
	}
	if got, ok := m["notified"].([]any); !ok || len(got) != 1 || got[0] != "zed@x" {
		t.Errorf("notified = %#v, want [zed@x]", m["notified"])
	}
	if got := m["delivered_at"]; got != "" {
		t.Errorf("delivered_at = %#v, want empty before delivery", got)
	}
	if got := m["created_at"]; got != "2026-11-28T09:00:00Z" {
		t.Errorf("created_at = %#v, want 2026-11-28T09:00:00Z", got)
	}
}

// TestFirestoreNotifyDecideFlow runs notify, a retried notify and an
// approval decision with the Firestore StateStore, as the cloud functions
// do: the request, the notified set and the delivery must be what the
// next step reads.
func TestFirestoreNotifyDecideFlow(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	fs := openEmulatorState(t, emu)
	e := newEnv(t, func(_ *Config, d *Deps) { d.State = fs })
	e.state = fs
	ctx := t.Context()
	e.heldSession("s1", demoSQL)
	e.mailer.failOnce["carol@example.com"] = true
	if _, err := e.svc.Notify(ctx, "s1", e.callback.URL+"/callbacks/s1"); err == nil {
		t.Fatal("Notify with a failing relay for carol succeeded")
	}
	req, err := fs.Get(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bob@example.com"}, req.Notified); diff != "" {
		t.Errorf("notified after the first attempt (-want, +got):\n%s", diff)
	}
	// The retry mails only carol, and keeps the first expiry.
	e.clock.Advance(time.Minute)
	res := e.notify("s1")
	if !res.ExpiresAt.Equal(req.ExpiresAt) {
		t.Errorf("retried notify expiry %v, want the first one %v", res.ExpiresAt, req.ExpiresAt)
	}
	if diff := cmp.Diff([]string{"bob@example.com", "carol@example.com"}, e.mailer.sent); diff != "" {
		t.Errorf("mails sent over both attempts (-want, +got):\n%s", diff)
	}

	approve, _ := e.links("bob@example.com", "s1")
	b := newBrowser(t)
	p := b.Get(approve)
	if p.Status != 200 {
		t.Fatalf("GET page: status %d body %s", p.Status, p.Body)
	}
	e.clock.Advance(5 * time.Minute)
	if res := b.submit(e, p, "approve", "fine"); res.Status != 200 {
		t.Fatalf("POST decide: status %d body %s", res.Status, res.Body)
	}
	bodies, _ := e.callback.Calls()
	if diff := cmp.Diff([]CallbackBody{{Decision: "approved", Approver: "bob@example.com", Comment: "fine"}}, bodies); diff != "" {
		t.Errorf("callback bodies (-want, +got):\n%s", diff)
	}
	req, err = fs.Get(ctx, "s1")
	if err != nil || !req.DeliveredAt.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("state after decision = %+v, %v; want delivered at %v", req, err, t0.Add(6*time.Minute))
	}
}
