package limits

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
)

// clock is an injected clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var alice = &session.Principal{Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts"}}

type fixture struct {
	enf   *Enforcer
	store *session.SQLite
	clock *clock
	logs  *bytes.Buffer
}

func newFixture(t *testing.T, limitsYAML string) *fixture {
	t.Helper()
	pol, err := policy.Load([]byte("version: 1\ndefaults:\n  limits:\n"+limitsYAML+"rules:\n  - id: all\n    match: {}\n    action: allow\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 28, 10, 0, 5, 0, time.UTC)}
	logs := &bytes.Buffer{}
	enf, err := New(Config{Policy: pol, Counters: st, Sessions: st, Now: c.now, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil || enf == nil {
		t.Fatalf("New = %v, %v", enf, err)
	}
	return &fixture{enf: enf, store: st, clock: c, logs: logs}
}

func TestRequestsPerMinute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "    requests_per_minute: 8\n")
	ctx := context.Background()
	for i := 0; i < 8; i++ {
		if err := f.enf.Admit(ctx, alice, "s"); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	err := f.enf.Admit(ctx, alice, "s")
	r, ok := AsRefusal(err)
	if !ok {
		t.Fatalf("ninth request err = %v, want a Refusal", err)
	}
	if r.Limit != RequestsPerMinute || r.Max != 8 || r.Used != 8 || r.RetryAfter != 55*time.Second || r.RetryAfterSeconds() != 55 {
		t.Errorf("refusal = %+v, want requests_per_minute 8 of 8, retry after 55s", r)
	}
	if msg := r.Error(); !strings.Contains(msg, "retry after 55 seconds") || !strings.Contains(msg, "requests_per_minute: 8") {
		t.Errorf("refusal message %q does not say the limit and when to retry", msg)
	}
	line := f.logs.String()
	for _, want := range []string{`"msg":"request refused by a limit"`, `"principal":"alice@example.com"`, `"count":8`, `"limit":"requests_per_minute"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %s", line, want)
		}
	}
	// Another principal has a counter of its own.
	bob := &session.Principal{Issuer: alice.Issuer, Subject: "bob", Email: "bob@example.com"}
	if err := f.enf.Admit(ctx, bob, "b"); err != nil {
		t.Errorf("bob's first request: %v", err)
	}
	// The next minute frees the window.
	f.clock.set(time.Date(2026, 11, 28, 10, 1, 0, 0, time.UTC))
	if err := f.enf.Admit(ctx, alice, "s"); err != nil {
		t.Errorf("first request of the next minute: %v", err)
	}
	u, err := f.enf.Usage(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if c := u.RequestsPerMinute; c == nil || c.Used != 1 || c.Limit != 8 || c.Source != "defaults" || !c.ResetsAt.Equal(time.Date(2026, 11, 28, 10, 2, 0, 0, time.UTC)) {
		t.Errorf("usage = %+v, want 1 of 8 from defaults, resetting at 10:02", c)
	}
	if u.BytesPerDay != nil || u.ConcurrentSessions != nil {
		t.Errorf("usage shows limits that are not set: %+v", u)
	}
}

// create stores a running session of p with id.
func (f *fixture) create(t *testing.T, id string) *session.Session {
	t.Helper()
	s := &session.Session{ID: id, Principal: *alice, SQL: "SELECT 1", SQLSHA256: session.SQLHash("SELECT 1"), Status: session.StatusRunning,
		CreatedAt: f.clock.now(), Readers: []string{alice.Email}}
	if err := f.store.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) end(t *testing.T, id string, st session.Status) *session.Session {
	t.Helper()
	s, err := f.store.Update(context.Background(), id, func(x *session.Session) error { x.Status = st; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "    concurrent_sessions: 2\n")
	ctx := context.Background()
	for _, id := range []string{"s1", "s2"} {
		if err := f.enf.Admit(ctx, alice, id); err != nil {
			t.Fatalf("admit %s: %v", id, err)
		}
		f.create(t, id)
	}
	r, ok := AsRefusal(f.enf.Admit(ctx, alice, "s3"))
	if !ok || r.Limit != ConcurrentSessions || r.Used != 2 || r.RetryAfterSeconds() != 10 {
		t.Fatalf("third session refusal = %+v, %v; want concurrent_sessions 2 of 2, retry after 10s", r, ok)
	}
	// The record step settles s1: its slot is free.
	if err := f.enf.Settle(ctx, f.end(t, "s1", session.StatusSucceeded)); err != nil {
		t.Fatal(err)
	}
	if err := f.enf.Admit(ctx, alice, "s3"); err != nil {
		t.Fatalf("admit after s1 ended: %v", err)
	}
	f.create(t, "s3")
	// s2 fails without anyone releasing its slot (a crash between ending
	// the session and settling): the slot does not leak.
	f.end(t, "s2", session.StatusFailed)
	if err := f.enf.Admit(ctx, alice, "s4"); err != nil {
		t.Fatalf("admit after s2 failed unreleased: %v", err)
	}
	f.create(t, "s4")
	// s3 and s4 stay running for ever (their instance died): the slots
	// lapse after the lease.
	if _, ok := AsRefusal(f.enf.Admit(ctx, alice, "s5")); !ok {
		t.Fatal("a third session was admitted while two run")
	}
	f.clock.set(f.clock.now().Add(Lease(f.enf.policy, 0) + time.Second))
	if err := f.enf.Admit(ctx, alice, "s5"); err != nil {
		t.Errorf("admit after the lease lapsed: %v", err)
	}
	u, err := f.enf.Usage(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if c := u.ConcurrentSessions; c == nil || c.Used != 1 || c.Limit != 2 || c.ResetsAt != nil {
		t.Errorf("usage = %+v, want 1 of 2", c)
	}
}

// fixedPolicy is the engine's decision, as a test sets it.
type fixedPolicy struct{ d session.Decision }

func (p *fixedPolicy) Evaluate(context.Context, *session.Session) (*session.Decision, error) {
	d := p.d
	return &d, nil
}

func TestBytesPerDay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "    bytes_per_day: 1000\n")
	ctx := context.Background()
	next := &fixedPolicy{}
	pol := &Policy{Next: next, Enforcer: f.enf}
	decide := func(action string, estimate int64) *session.Decision {
		t.Helper()
		next.d = session.Decision{Action: action, RuleIDs: []string{"all"}, Reasons: []string{"ok"}, EstimatedBytes: estimate, ApproverGroup: "g"}
		d, err := pol.Evaluate(ctx, &session.Session{Principal: *alice})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	settle := func(id string, billed, processed int64) {
		t.Helper()
		s := f.create(t, id)
		s.Status = session.StatusSucceeded
		s.Execution = &session.Execution{StartedAt: f.clock.now(), FinishedAt: f.clock.now(), BytesBilled: billed, BytesProcessed: processed}
		if err := f.enf.Settle(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if d := decide("allow", 1000); d.Action != "allow" {
		t.Fatalf("estimate equal to the whole budget: %s %v", d.Action, d.Reasons)
	}
	settle("j1", 600, 10)
	// A retried record step charges once.
	s := &session.Session{ID: "j1", Principal: *alice, Execution: &session.Execution{StartedAt: f.clock.now(), FinishedAt: f.clock.now(), BytesBilled: 600}}
	if err := f.enf.Settle(ctx, s); err != nil {
		t.Fatal(err)
	}
	d := decide("require_approval", 500)
	if d.Action != "deny" || len(d.RuleIDs) != 1 || d.RuleIDs[0] != BytesPerDayRuleID || d.ApproverGroup != "" {
		t.Fatalf("over the remaining budget: %+v, want a deny by %s only", d, BytesPerDayRuleID)
	}
	if !strings.Contains(d.Reasons[0], "more than the 400 bytes left") || !strings.Contains(d.Reasons[0], "600 billed today") {
		t.Errorf("reason %q does not give the remaining budget", d.Reasons[0])
	}
	if d := decide("allow", 400); d.Action != "allow" {
		t.Errorf("estimate within the remaining budget: %s %v", d.Action, d.Reasons)
	}
	// A job without totalBytesBilled is charged its bytes processed.
	settle("j2", 0, 400)
	if d := decide("allow", 0); d.Action != "deny" || !strings.Contains(d.Reasons[0], "budget is spent") {
		t.Errorf("spent budget, zero estimate: %s %v, want deny", d.Action, d.Reasons)
	}
	if d := decide("deny", 0); d.RuleIDs[0] != "all" {
		t.Errorf("a policy deny was rewritten: %v", d.RuleIDs)
	}
	u, err := f.enf.Usage(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if c := u.BytesPerDay; c == nil || c.Used != 1000 || c.Limit != 1000 || !c.ResetsAt.Equal(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("usage = %+v, want 1000 of 1000 until midnight", c)
	}
	f.clock.set(time.Date(2026, 11, 29, 0, 0, 1, 0, time.UTC))
	if d := decide("allow", 900); d.Action != "allow" {
		t.Errorf("the next day: %s %v, want allow", d.Action, d.Reasons)
	}
}

// brokenCounters fail every call, as a store that is down.
type brokenCounters struct{ session.Counters }

var errDown = errors.New("store down")

func (brokenCounters) IncrementCounter(context.Context, string, int64, time.Time, time.Time) (int64, bool, error) {
	return 0, false, errDown
}
func (brokenCounters) SumCharges(context.Context, string) (int64, error) { return 0, errDown }

func TestCountersDownFailClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "    requests_per_minute: 8\n    bytes_per_day: 1GB\n")
	f.enf.counters = brokenCounters{}
	if err := f.enf.Admit(context.Background(), alice, "s"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Admit with the store down = %v, want ErrUnavailable", err)
	}
	pol := &Policy{Next: &fixedPolicy{d: session.Decision{Action: "allow"}}, Enforcer: f.enf}
	if d, err := pol.Evaluate(context.Background(), &session.Session{Principal: *alice}); err == nil {
		t.Errorf("Evaluate with the store down = %+v, want an error (the step retries, nothing runs)", d)
	}
	if strings.Contains(f.logs.String(), "SELECT") {
		t.Error("a log line holds SQL")
	}
}

func TestNoLimitsNoEnforcer(t *testing.T) {
	t.Parallel()
	enf, err := New(Config{Policy: policy.Default()})
	if err != nil || enf != nil {
		t.Errorf("New without limits = %v, %v; want nil, nil", enf, err)
	}
	pol, err := policy.Load([]byte("version: 1\ndefaults:\n  limits:\n    concurrent_sessions: 1\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Policy: pol}); err == nil {
		t.Error("New with limits and no counters succeeded")
	}
}
