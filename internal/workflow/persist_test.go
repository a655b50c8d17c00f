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
