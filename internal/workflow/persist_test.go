package workflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// flakyStateStore fails SaveExecution for the saves numbered in failAt
// (1-based, counting every save), then behaves as the store it wraps.
type flakyStateStore struct {
	StateStore
	mu     sync.Mutex
	saves  int
	failAt map[int]bool
}

func (f *flakyStateStore) SaveExecution(ctx context.Context, rec *ExecutionRecord) error {
	f.mu.Lock()
	f.saves++
	fail := f.failAt[f.saves]
	f.mu.Unlock()
	if fail {
		return errors.New("injected: database is locked")
	}
	return f.StateStore.SaveExecution(ctx, rec)
}

// TestSessionStateStoreOutage: saves of the execution state fail for a
// while after the policy step. The execution pauses, retries the save with
// capped exponential backoff and then finishes; before, the first failed
// save ended the execution's goroutine and left it (and its session)
// running until the next process start.
func TestSessionStateStoreOutage(t *testing.T) {
	t.Parallel()
	// Save 1 is Start's; the next saves follow the steps. Fail saves 3..9:
	// seven attempts in a row, so the delay reaches the cap.
	fail := map[int]bool{}
	for i := 3; i <= 9; i++ {
		fail[i] = true
	}
	store := &flakyStateStore{StateStore: NewMemoryStateStore(), failAt: fail}
	h := newHarness(t, map[string][]fakeResp{}, store)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-outage"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, rt, name)
	if st.State != StateSucceeded {
		t.Fatalf("state = %s (error %v), want SUCCEEDED after the store recovers", st.State, st.Error)
	}
	if diff := cmp.Diff([]string{"policy", "execute", "deidentify", "record"}, h.fn.Calls()); diff != "" {
		t.Errorf("calls (-want, +got):\n%s", diff)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(want, h.clock.Sleeps()); diff != "" {
		t.Errorf("backoff between failed saves (-want, +got):\n%s", diff)
	}
	rec, err := store.LoadExecution(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != StateSucceeded {
		t.Errorf("stored state = %s, want SUCCEEDED", rec.State)
	}
}

// recordingStateStore keeps a copy of every record saved, in order.
type recordingStateStore struct {
	StateStore
	mu    sync.Mutex
	saved []*ExecutionRecord
}

func (r *recordingStateStore) SaveExecution(ctx context.Context, rec *ExecutionRecord) error {
	if err := r.StateStore.SaveExecution(ctx, rec); err != nil {
		return err
	}
	cp, err := r.StateStore.LoadExecution(ctx, rec.Name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.saved = append(r.saved, cp)
	r.mu.Unlock()
	return nil
}

// TestSessionSavesAfterEffectsOnly: an allowed session's flow saves its
// state at the start, after each function call and at the end, not after
// every assign, switch and return (each save is a durable write). A
// runtime resumed from any of the saves makes exactly the calls that
// followed that save: no effect is lost or repeated.
func TestSessionSavesAfterEffectsOnly(t *testing.T) {
	t.Parallel()
	store := &recordingStateStore{StateStore: NewMemoryStateStore()}
	h := newHarness(t, map[string][]fakeResp{}, store)
	rt := h.runtime(t)
	name, err := rt.Start(context.Background(), map[string]any{"session_id": "s-saves"})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, rt, name); st.State != StateSucceeded {
		t.Fatalf("state = %s (error %v), want SUCCEEDED", st.State, st.Error)
	}
	all := []string{"policy", "execute", "deidentify", "record"}
	if diff := cmp.Diff(all, h.fn.Calls()); diff != "" {
		t.Fatalf("calls (-want, +got):\n%s", diff)
	}
	store.mu.Lock()
	saved := append([]*ExecutionRecord(nil), store.saved...)
	store.mu.Unlock()
	var steps []string
	for _, r := range saved {
		steps = append(steps, r.CurrentStep+"/"+string(r.State))
	}
	// Start, then after each function's http.post step, then the end
	// (the flow ends at record).
	want := []string{"/ACTIVE", "policy/ACTIVE", "execute/ACTIVE", "deidentify/ACTIVE", "record/ACTIVE", "record/SUCCEEDED"}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Fatalf("saves (-want, +got):\n%s", diff)
	}
	// Resume from the save that followed k calls: the rest run once each.
	for k := 0; k <= 3; k++ {
		rec := saved[k]
		h2 := newHarness(t, map[string][]fakeResp{}, NewMemoryStateStore())
		if err := h2.store.SaveExecution(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		rt2 := h2.runtime(t)
		if err := rt2.Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := waitDone(t, rt2, name); st.State != StateSucceeded {
			t.Fatalf("resumed after %d calls: state = %s (error %v)", k, st.State, st.Error)
		}
		if diff := cmp.Diff(all[k:], h2.fn.Calls()); diff != "" {
			t.Errorf("resumed after %d calls: calls (-want, +got):\n%s", k, diff)
		}
	}
}
