package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/reconcile"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/workflow"
	"github.com/querygate/querygate/testing/firestoreemu"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

const grace = time.Hour

// executions is a fake workflow: each execution name's state or error.
type executions struct {
	mu     sync.Mutex
	states map[string]workflow.State
	errs   map[string]error
}

func (e *executions) Execution(_ context.Context, name string) (*workflow.ExecutionState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err, ok := e.errs[name]; ok {
		return nil, err
	}
	st, ok := e.states[name]
	if !ok {
		return nil, fmt.Errorf("execution %s: %w", name, workflow.ErrNotFound)
	}
	return &workflow.ExecutionState{Name: name, State: st}, nil
}

// auditor counts the rows written per session and event seq, as the audit
// table would hold them (WriteSession appends every event, WriteRemaining
// only those without a row).
type auditor struct {
	mu   sync.Mutex
	rows map[string]map[int64]int
}

func (a *auditor) write(s *session.Session, all bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rows == nil {
		a.rows = map[string]map[int64]int{}
	}
	if a.rows[s.ID] == nil {
		a.rows[s.ID] = map[int64]int{}
	}
	for _, e := range s.Timeline {
		if all || a.rows[s.ID][e.Seq] == 0 {
			a.rows[s.ID][e.Seq]++
		}
	}
}

func (a *auditor) WriteSession(_ context.Context, s *session.Session) error {
	a.write(s, true)
	return nil
}

func (a *auditor) WriteRemaining(_ context.Context, s *session.Session) error {
	a.write(s, false)
	return nil
}

func (a *auditor) count(id string) map[int64]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int64]int{}
	for k, v := range a.rows[id] {
		out[k] = v
	}
	return out
}

// clock is the injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func newSession(id, execution string, created time.Time) *session.Session {
	sql := "SELECT city FROM demo.customers"
	s := &session.Session{
		ID: id, SQL: sql, SQLSHA256: session.SQLHash(sql), Status: session.StatusRunning, CreatedAt: created,
		ExecutionName: execution, Principal: session.Principal{Email: "ana@example.com", Subject: "ana"}, Readers: []string{"ana@example.com"},
	}
	s.AddEvent(created, "agent@example.com", session.ReceivedData{SQLSHA256: s.SQLSHA256, Groups: []string{"analysts"}})
	return s
}

type fixture struct {
	store session.Store
	ex    *executions
	audit *auditor
	clock *clock
	steps *steps.Steps
}

func (f *fixture) reconciler(t *testing.T) *reconcile.Reconciler {
	t.Helper()
	r, err := reconcile.New(reconcile.Config{Store: f.store, Executions: f.ex, Recorder: f.steps, Grace: grace, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newFixture(t *testing.T, store session.Store) *fixture {
	f := &fixture{store: store, ex: &executions{states: map[string]workflow.State{}, errs: map[string]error{}}, audit: &auditor{}, clock: &clock{now: t0}}
	f.steps = &steps.Steps{Store: store, Audit: f.audit, Now: f.clock.Now}
	return f
}

func openSQLite(t *testing.T) session.Store {
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestReconcileSQLite and TestReconcileFirestore run the same cases on
// both stores.
func TestReconcileSQLite(t *testing.T) {
	t.Parallel()
	reconcileCases(t, openSQLite)
	overlap(t, openSQLite)
}

func TestReconcileFirestore(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	n := 0
	var mu sync.Mutex
	open := func(t *testing.T) session.Store {
		opts, err := emu.ClientOptions()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n++
		project := fmt.Sprintf("querygate-reconcile-%d", n)
		mu.Unlock()
		st, err := session.OpenFirestore(context.Background(), project, "(default)", opts...)
		if err != nil {
			t.Fatal(err)
		}
		// The npm emulator does not serialize transactions; the markers
		// make two overlapping passes conflict as Firestore would.
		st.UseVersionMarkers()
		t.Cleanup(func() { st.Close() })
		return st
	}
	reconcileCases(t, open)
	overlap(t, open)
}

// reconcileCases: with an injected clock, which sessions a pass ends, with
// what reason, through the record step (one audit row per event), and
// that a second pass changes nothing.
func reconcileCases(t *testing.T, open func(*testing.T) session.Store) {
	ctx := context.Background()
	f := newFixture(t, open(t))
	approvalLater := newSession("qs-approval", "", t0)
	approvalLater.Approval = &session.Approval{Group: "approvers", RequestedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	for _, s := range []*session.Session{
		newSession("qs-active", "ex-active", t0),
		newSession("qs-failed", "ex-failed", t0),
		newSession("qs-cancelled-succeeded", "ex-succeeded", t0),
		newSession("qs-never-started", "", t0),
		newSession("qs-gone", "ex-gone", t0),
		newSession("qs-unreadable", "ex-unreadable", t0),
		newSession("qs-grpc-not-found", "ex-grpc-not-found", t0),
		approvalLater,
	} {
		if err := f.store.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.ex.states["ex-active"] = workflow.StateActive
	f.ex.states["ex-failed"] = workflow.StateFailed
	f.ex.states["ex-succeeded"] = workflow.StateSucceeded
	f.ex.errs["ex-unreadable"] = status.Error(codes.Unavailable, "try later")
	f.ex.errs["ex-grpc-not-found"] = fmt.Errorf("get execution: %w", status.Error(codes.NotFound, "no such execution"))
	r := f.reconciler(t)

	// Within the grace: only the ended executions are ended.
	f.clock.set(t0.Add(grace - time.Second))
	res, err := r.Run(ctx)
	if err == nil {
		t.Error("Run did not report the unreadable execution")
	}
	want := map[string]string{"qs-failed": reconcile.ReasonEnded, "qs-cancelled-succeeded": reconcile.ReasonEnded}
	f.check(t, want)
	if diff := cmp.Diff(reconcile.Result{Ended: 2, Open: 5}, res); diff != "" {
		t.Errorf("first pass (-want, +got):\n%s", diff)
	}

	// At the deadline: the sessions with no execution to read end too;
	// the active and the unreadable one stay; the approval's expiry holds
	// its session an hour longer.
	f.clock.set(t0.Add(grace))
	if res, _ = r.Run(ctx); res.Ended != 3 {
		t.Errorf("second pass ended %d, want 3", res.Ended)
	}
	want["qs-never-started"], want["qs-gone"], want["qs-grpc-not-found"] = reconcile.ReasonLost, reconcile.ReasonLost, reconcile.ReasonLost
	f.check(t, want)

	f.clock.set(t0.Add(2*time.Hour + grace))
	if res, _ = r.Run(ctx); res.Ended != 1 {
		t.Errorf("third pass ended %d, want 1", res.Ended)
	}
	want["qs-approval"] = reconcile.ReasonLost
	f.check(t, want)

	// Idempotent: another pass ends nothing and writes no row.
	if res, _ = r.Run(ctx); res.Ended != 0 {
		t.Errorf("a pass after everything ended ended %d", res.Ended)
	}
	f.check(t, want)
}

// check asserts that exactly the sessions in want are failed, each with
// its reason and a closing event, and one audit row per event; every other
// session is still running with no audit row.
func (f *fixture) check(t *testing.T, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"qs-active", "qs-failed", "qs-cancelled-succeeded", "qs-never-started", "qs-gone", "qs-unreadable", "qs-grpc-not-found", "qs-approval"} {
		s, err := f.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rows := f.audit.count(id)
		reason, ended := want[id]
		if !ended {
			if s.Status != session.StatusRunning || len(rows) != 0 {
				t.Errorf("%s: %s with %d audited events, want running and none", id, s.Status, len(rows))
			}
			continue
		}
		if s.Status != session.StatusFailed || len(s.Errors) == 0 || s.Errors[len(s.Errors)-1].Message != reason {
			t.Errorf("%s: %s %v, want failed with %q", id, s.Status, s.Errors, reason)
		}
		if last := s.Timeline[len(s.Timeline)-1]; last.Type != session.EventFailed {
			t.Errorf("%s: last event %s, want %s", id, last.Type, session.EventFailed)
		}
		for _, e := range s.Timeline {
			if rows[e.Seq] != 1 {
				t.Errorf("%s: event %d (%s) has %d audit rows, want 1", id, e.Seq, e.Type, rows[e.Seq])
			}
		}
		if len(rows) != len(s.Timeline) {
			t.Errorf("%s: %d audited events for %d events", id, len(rows), len(s.Timeline))
		}
	}
}

// overlap: two reconcilers (two scheduler runs on two instances) pass over
// the same store at once; every stale session ends once, with one audit
// row per event, whichever pass ended it.
func overlap(t *testing.T, open func(*testing.T) session.Store) {
	ctx := context.Background()
	f := newFixture(t, open(t))
	const n = 12
	for i := range n {
		s := newSession(fmt.Sprintf("qs-stale-%02d", i), fmt.Sprintf("ex-%02d", i), t0)
		if err := f.store.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		f.ex.states[s.ExecutionName] = workflow.StateFailed
	}
	a, b := f.reconciler(t), f.reconciler(t)
	var wg sync.WaitGroup
	results := make([]reconcile.Result, 2)
	errs := make([]error, 2)
	for i, r := range []*reconcile.Reconciler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Run(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("overlapping pass: %v", err)
		}
	}
	if got := results[0].Ended + results[1].Ended; got != n {
		t.Errorf("the two passes ended %d sessions together (%+v, %+v), want %d", got, results[0], results[1], n)
	}
	for i := range n {
		id := fmt.Sprintf("qs-stale-%02d", i)
		s, err := f.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != session.StatusFailed {
			t.Errorf("%s: %s, want failed", id, s.Status)
		}
		closing := 0
		rows := f.audit.count(id)
		for _, e := range s.Timeline {
			if e.Type == session.EventFailed {
				closing++
			}
			if rows[e.Seq] != 1 {
				t.Errorf("%s: event %d has %d audit rows, want 1", id, e.Seq, rows[e.Seq])
			}
		}
		if closing != 1 {
			t.Errorf("%s: %d closing events, want 1", id, closing)
		}
	}
	// The same Reconciler never runs two passes at once.
	if _, err := a.Run(ctx); err != nil {
		t.Errorf("a pass after both ended: %v", err)
	}
}

// TestNewRequiresPorts: a Reconciler without its ports is a config error.
func TestNewRequiresPorts(t *testing.T) {
	t.Parallel()
	_, err := reconcile.New(reconcile.Config{})
	if err == nil {
		t.Fatal("New without ports succeeded")
	}
	for _, want := range []string{"no session store", "no workflow executions reader", "no record step"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestHandler: POST runs a pass and answers its result; a pass that could
// not decide a session answers 500 without the detail; other methods 405.
func TestHandler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, openSQLite(t))
	for _, s := range []*session.Session{newSession("qs-failed", "ex-failed", t0), newSession("qs-unreadable", "ex-unreadable", t0)} {
		if err := f.store.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.ex.states["ex-failed"] = workflow.StateFailed
	f.ex.errs["ex-unreadable"] = status.Error(codes.Unavailable, "backend detail 7f3a")
	h := f.reconciler(t).Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	var got struct {
		Ended int    `json:"ended"`
		Open  int    `json:"open"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer %q: %v", rec.Body, err)
	}
	if rec.Code != http.StatusInternalServerError || got.Ended != 1 || got.Error == "" || strings.Contains(rec.Body.String(), "7f3a") {
		t.Errorf("POST = %d %s, want 500 with ended 1 and no backend detail", rec.Code, rec.Body)
	}
	f.ex.mu.Lock()
	delete(f.ex.errs, "ex-unreadable")
	f.ex.states["ex-unreadable"] = workflow.StateActive
	f.ex.mu.Unlock()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ended":0,"open":1`) {
		t.Errorf("second POST = %d %s, want 200 with ended 0, open 1", rec.Code, rec.Body)
	}
}
