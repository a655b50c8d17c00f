package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testStateStore is the conformance suite every StateStore passes.
func testStateStore(t *testing.T, s StateStore) {
	ctx := context.Background()
	if _, err := s.LoadExecution(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadExecution(unknown) = %v, want ErrNotFound", err)
	}
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := &ExecutionRecord{
		Name: "projects/p/locations/l/workflows/w/executions/a", WorkflowHash: "h", State: StateActive,
		Argument: json.RawMessage(`{"session_id":"s"}`), CurrentStep: "wait",
		Await:     &AwaitState{CallbackID: "cb", Block: 2, Index: 3, Deadline: t0.Add(time.Hour)},
		Machine:   json.RawMessage(`{"frames":[]}`),
		Callbacks: map[string]*CallbackState{"cb": {Method: "POST", Queue: []json.RawMessage{json.RawMessage(`{"type":"HTTP"}`)}}},
		StartTime: t0, UpdatedAt: t0,
	}
	b := &ExecutionRecord{Name: "projects/p/locations/l/workflows/w/executions/b", State: StateSucceeded,
		Result: json.RawMessage(`1`), Callbacks: map[string]*CallbackState{}, StartTime: t0, EndTime: t0, UpdatedAt: t0}
	for _, r := range []*ExecutionRecord{a, b} {
		if err := s.SaveExecution(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// The store keeps no reference to what it was given.
	a.CurrentStep = "changed after save"
	got, err := s.LoadExecution(ctx, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	a.CurrentStep = "wait"
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("round trip (-want, +got):\n%s", diff)
	}
	active, err := s.ActiveExecutions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a.Name}, active); diff != "" {
		t.Errorf("active (-want, +got):\n%s", diff)
	}
	a.State = StateFailed
	if err := s.SaveExecution(ctx, a); err != nil {
		t.Fatal(err)
	}
	if active, _ := s.ActiveExecutions(ctx); len(active) != 0 {
		t.Errorf("active after finishing = %v, want none", active)
	}
}

func TestMemoryStateStore(t *testing.T) {
	t.Parallel()
	testStateStore(t, NewMemoryStateStore())
}

func TestSQLiteStateStore(t *testing.T) {
	t.Parallel()
	s, err := NewSQLiteStateStore(filepath.Join(t.TempDir(), "wf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testStateStore(t, s)
}
