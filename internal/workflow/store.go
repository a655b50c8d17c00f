package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// State is the state of an execution, named like the Executions API's.
type State string

const (
	StateActive    State = "ACTIVE"
	StateSucceeded State = "SUCCEEDED"
	StateFailed    State = "FAILED"
)

// ExecutionRecord is what a StateStore persists for one execution. Machine
// is the interpreter's frame stack; the record is rewritten after every
// step.
type ExecutionRecord struct {
	Name         string          `json:"name"`
	WorkflowHash string          `json:"workflow_hash"`
	State        State           `json:"state"`
	Argument     json.RawMessage `json:"argument,omitempty"`
	Result       json.RawMessage `json:"result,omitempty"`
	Error        json.RawMessage `json:"error,omitempty"`
	CurrentStep  string          `json:"current_step,omitempty"`
	// Steps counts the steps executed so far, the way Cloud Workflows
	// bills them: every named step run, each retry attempt's steps again,
	// a subworkflow call plus the subworkflow's steps; a try holding one
	// action counts once, a try with a steps list counts its container
	// too (whether Workflows bills that container is not documented, so
	// the count errs high). Steps run after the last persisted step and
	// replayed after a restart count twice, as they would be billed.
	Steps     int                       `json:"steps,omitempty"`
	Await     *AwaitState               `json:"await,omitempty"`
	Machine   json.RawMessage           `json:"machine,omitempty"`
	Callbacks map[string]*CallbackState `json:"callbacks,omitempty"`
	StartTime time.Time                 `json:"start_time"`
	EndTime   time.Time                 `json:"end_time,omitzero"`
	UpdatedAt time.Time                 `json:"updated_at"`
}

// AwaitState marks an execution blocked in events.await_callback. The
// deadline survives a restart, so a resumed wait does not start over.
type AwaitState struct {
	CallbackID string    `json:"callback_id"`
	Block      int       `json:"block"`
	Index      int       `json:"index"`
	Deadline   time.Time `json:"deadline"`
}

// CallbackState is one callback endpoint and the requests received on it
// that no await_callback has consumed yet (documented: requests that arrive
// before the wait are queued).
type CallbackState struct {
	Method string            `json:"method"`
	Queue  []json.RawMessage `json:"queue,omitempty"`
}

// StateStore persists executions. Implementations must not keep references
// to the records they are given.
type StateStore interface {
	// SaveExecution inserts or replaces the record.
	SaveExecution(ctx context.Context, rec *ExecutionRecord) error
	// LoadExecution returns ErrNotFound when there is no such execution.
	LoadExecution(ctx context.Context, name string) (*ExecutionRecord, error)
	// ActiveExecutions lists the names of executions in StateActive.
	ActiveExecutions(ctx context.Context) ([]string, error)
}

func cloneRecord(rec *ExecutionRecord) (*ExecutionRecord, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode execution: %w", err)
	}
	return decodeRecord(b)
}

func decodeRecord(b []byte) (*ExecutionRecord, error) {
	var out ExecutionRecord
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode execution: %w", err)
	}
	if out.Callbacks == nil {
		out.Callbacks = map[string]*CallbackState{}
	}
	return &out, nil
}

// Memory is a StateStore held in memory, for tests and one-shot runs.
type Memory struct {
	mu   sync.Mutex
	recs map[string][]byte
}

var _ StateStore = (*Memory)(nil)

// NewMemoryStateStore returns an empty in-memory store.
func NewMemoryStateStore() *Memory { return &Memory{recs: map[string][]byte{}} }

// SaveExecution stores a copy of rec, replacing any record of that name.
func (m *Memory) SaveExecution(_ context.Context, rec *ExecutionRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode execution: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[rec.Name] = b
	return nil
}

// LoadExecution returns a copy of the named record or ErrNotFound.
func (m *Memory) LoadExecution(_ context.Context, name string) (*ExecutionRecord, error) {
	m.mu.Lock()
	b, ok := m.recs[name]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("execution %s: %w", name, ErrNotFound)
	}
	return decodeRecord(b)
}

// ActiveExecutions lists the names of ACTIVE executions, sorted.
func (m *Memory) ActiveExecutions(_ context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name, b := range m.recs {
		var r struct {
			State State `json:"state"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("decode execution: %w", err)
		}
		if r.State == StateActive {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
