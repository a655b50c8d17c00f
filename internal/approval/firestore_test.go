package approval

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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
