// Package faults is the fault matrix of issue 16: for each dependency of a
// session (BigQuery's job, result read and audit insert, the
// de-identifier, the session store, the workflow state store, SMTP) it
// makes the dependency fail once, fail every time, or hang past its
// deadline, inside a real local gateway, and checks what the agent, the
// store and the audit table see. docs/threat-model.md ("Fault matrix")
// lists the results.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
)

// Short deadlines configured by the test, so that a hang ends in
// milliseconds; the test asserts outcomes, never durations.
const (
	testCallTimeout = 2 * time.Second
	testJobTimeout  = 300 * time.Millisecond
)

// Each function call's retry in query_session.yaml: five retries,
// 1 s doubling, capped at 30 s.
var workflowBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// Allowed for an analyst, and reads sensitive columns, so masking matters.
const maskedSQL = "SELECT customer_id, email, ssn FROM demo.customers WHERE customer_id < 4 ORDER BY customer_id"

// Needs approval (a star over a PII table), so it exercises notify.
const approvalSQL = "SELECT * FROM demo.customers WHERE customer_id < 3"

type env struct {
	g       *local.Gateway
	in      *injector
	agent   string
	auditor string
	raw     []string // raw cell values the agent must never see
	project string
}

// blackHoleSMTP accepts connections and never answers, as a stalled relay
// does; the real mail.Sender pointed at it must give up at its timeout.
func blackHoleSMTP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// swappableMailer sends through hung while useHung is set.
type swappableMailer struct {
	real, hung approval.Mailer
	mu         sync.Mutex
	useHung    bool
}

func (s *swappableMailer) Send(ctx context.Context, m mail.Message) error {
	s.mu.Lock()
	h := s.useHung
	s.mu.Unlock()
	if h {
		return s.hung.Send(ctx, m)
	}
	return s.real.Send(ctx, m)
}

func (s *swappableMailer) set(h bool) {
	s.mu.Lock()
	s.useHung = h
	s.mu.Unlock()
}

var mailers = &swappableMailer{}

// start starts a gateway with every port behind the injector; tweak, if
// given, changes the ports before the start.
func start(t *testing.T, tweak ...func(*local.Ports)) *env {
	t.Helper()
	host, port, _ := net.SplitHostPort(blackHoleSMTP(t))
	var portN int
	fmt.Sscanf(port, "%d", &portN)
	hung, err := mail.NewSender(mail.SMTPConfig{Host: host, Port: portN, TLS: mail.TLSNone, From: "querygate <q@querygate.local>",
		Timeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	mailers.hung = hung
	in := newInjector()
	ports := in.ports(func(m approval.Mailer) approval.Mailer { mailers.real = m; return mailers })
	for _, f := range tweak {
		f(ports)
	}
	g, err := local.Start(context.Background(), local.Config{
		Addr: "127.0.0.1:0", BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), Project: "querygate-local",
		Limits: steps.Limits{CallTimeout: testCallTimeout, JobTimeout: testJobTimeout},
		Ports:  ports,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	e := &env{g: g, in: in, project: "querygate-local"}
	if e.agent, err = g.DevIssuer.Mint(auth.MintOptions{Subject: "agent@example.com", Groups: []string{"analysts"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if e.auditor, err = g.DevIssuer.Mint(auth.MintOptions{Subject: "auditor@example.com", Groups: []string{"auditors"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.raw = rawValues(t, g, e.project)
	return e
}

// rawValues reads, straight from the embedded BigQuery, the cells the
// masked query returns unmasked.
func rawValues(t *testing.T, g *local.Gateway, project string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := bqlocal.ClientWithToken(ctx, g.BigQueryEndpoint, project, g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it, err := c.Query("SELECT email, ssn FROM demo.customers WHERE customer_id < 4").Read(ctx)
	if err != nil {
		t.Fatalf("read raw values: %v", err)
	}
	var out []string
	for {
		var row struct {
			Email string `bigquery:"email"`
			SSN   string `bigquery:"ssn"`
		}
		if err := it.Next(&row); errors.Is(err, iterator.Done) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, row.Email, row.SSN)
	}
	if len(out) != 6 {
		t.Fatalf("raw values: got %d, want 6", len(out))
	}
	return out
}

type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(t *testing.T, method, path, tok string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.g.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// run sends sql as the agent and follows the session until it ends or
// (stopAtPending) awaits approval. Every answer the agent sees is checked
// for raw values and for the injected error's text.
func (e *env) run(t *testing.T, sql string, stopAtPending, noFollow bool) (string, answer) {
	t.Helper()
	a := e.do(t, http.MethodPost, "/v1/queries", e.agent, map[string]any{"sql": sql, "wait_seconds": 20})
	e.noLeak(t, a.raw)
	id, _ := a.body["session_id"].(string)
	if id == "" || noFollow {
		return id, a
	}
	// The loop is bounded by a generous deadline against a hung gateway;
	// it does not measure speed.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, _ := a.body["status"].(string)
		if terminal(st) || (stopAtPending && st == "pending_approval") {
			return id, a
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still %q: %s", id, st, a.raw)
		}
		a = e.do(t, http.MethodGet, "/v1/sessions/"+id+"?wait_seconds=20", e.agent, nil)
		e.noLeak(t, a.raw)
	}
}

func (e *env) noLeak(t *testing.T, body string) {
	t.Helper()
	for _, v := range e.raw {
		if strings.Contains(body, v) {
			t.Errorf("an answer holds the raw value %q: %s", v, body)
		}
	}
	if strings.Contains(body, "SECRET-DETAIL") {
		t.Errorf("an answer holds the injected error's detail: %s", body)
	}
}

func terminal(s string) bool {
	switch s {
	case "succeeded", "failed", "denied", "rejected", "expired", "cancelled":
		return true
	}
	return false
}

// auditRows counts the audit table's rows per event seq of one session.
func (e *env) auditRows(t *testing.T, id string) map[int64]int {
	t.Helper()
	ctx := context.Background()
	c, err := bqlocal.ClientWithToken(ctx, e.g.BigQueryEndpoint, e.project, e.g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := c.Query(fmt.Sprintf("SELECT seq, COUNT(*) AS n FROM `%s.%s.%s` WHERE session_id = @id GROUP BY seq",
		e.project, local.AuditDataset, local.AuditTable))
	q.Parameters = []bigquery.QueryParameter{{Name: "id", Value: id}}
	it, err := q.Read(ctx)
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	out := map[int64]int{}
	for {
		var row struct {
			Seq int64 `bigquery:"seq"`
			N   int64 `bigquery:"n"`
		}
		if err := it.Next(&row); errors.Is(err, iterator.Done) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out[row.Seq] = int(row.N)
	}
	return out
}

// matrixCase is one row of the fault matrix.
type matrixCase struct {
	name   string
	dep    string
	step   string // depStore: the step whose store calls break
	fault  fault
	after  int // calls let through before the fault
	times  int // faultAlways: how many calls break (0: all)
	sql    string
	pendOK bool // the session may stop at pending_approval (notify cases)

	wantStatus string
	wantReason string // substring of the agent's error message
	// wantBackoff is the workflow's recorded retry delays.
	wantBackoff []time.Duration
	// stuck: the record step itself cannot complete (see the threat
	// model's fault matrix): nothing may be released and the session must
	// not claim success.
	stuck bool
	// hungRelay sends approval mail through the real mail.Sender to an
	// SMTP server that accepts and never answers.
	hungRelay bool
}

// faultAtIntake: a session store write or a workflow start that fails at
// intake answers 503 with Retry-After, and the same request sent again
// succeeds.
func faultAtIntake(t *testing.T, e *env) {
	cases := []struct {
		name      string
		dep, step string
		// wantFailed: the session was created, then marked failed with
		// this reason (the workflow could not start).
		wantFailed string
	}{
		{name: "session store create fails", dep: depCreate},
		{name: "workflow state fails at start", dep: depWorkflow, step: "start", wantFailed: "the workflow could not be started"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.in.set(tc.dep, tc.step, faultOnce, 0, 0)
			defer e.in.set("", "", faultNone, 0, 0)
			a := e.do(t, http.MethodPost, "/v1/queries", e.agent, map[string]any{"sql": maskedSQL, "wait_seconds": 20})
			e.noLeak(t, a.raw)
			if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
				t.Fatalf("first answer %d (Retry-After %q), want 503 with Retry-After: %s", a.code, a.header.Get("Retry-After"), a.raw)
			}
			if tc.wantFailed != "" {
				// The answer carries no session id; the newest is it.
				res, err := e.g.Store.List(context.Background(), session.ListQuery{PageSize: 1})
				if err != nil || len(res.Sessions) == 0 {
					t.Fatalf("list sessions: %v", err)
				}
				got := res.Sessions[0]
				if got.Status != session.StatusFailed || len(got.Errors) == 0 || !strings.Contains(got.Errors[0].Message, tc.wantFailed) {
					t.Errorf("session after a failed start: %s %v, want failed with %q", got.Status, got.Errors, tc.wantFailed)
				}
			}
			id, a := e.run(t, maskedSQL, false, false) // the agent retries
			if st, _ := a.body["status"].(string); id == "" || st != "succeeded" {
				t.Fatalf("retry: %d %s", a.code, a.raw)
			}
			e.checkMasked(t, a)
		})
	}
}

// TestFaultMatrix runs every case against one gateway, one case at a time
// (the injector is shared).
func TestFaultMatrix(t *testing.T) {
	e := start(t)
	t.Run("intake", func(t *testing.T) { faultAtIntake(t, e) })
	cases := []matrixCase{
		{name: "baseline", sql: maskedSQL, wantStatus: "succeeded"},

		{name: "job fails once", dep: depJob, fault: faultOnce, sql: maskedSQL, wantStatus: "succeeded", wantBackoff: workflowBackoff[:1]},
		{name: "job fails", dep: depJob, fault: faultAlways, sql: maskedSQL, wantStatus: "failed", wantReason: "execute: run query", wantBackoff: workflowBackoff},
		{name: "job hangs", dep: depJob, fault: faultHang, sql: maskedSQL, wantStatus: "failed", wantReason: "execute: run query: timed out", wantBackoff: workflowBackoff},

		{name: "result read fails once", dep: depRead, fault: faultOnce, sql: maskedSQL, wantStatus: "succeeded", wantBackoff: workflowBackoff[:1]},
		{name: "result read fails", dep: depRead, fault: faultAlways, sql: maskedSQL, wantStatus: "failed", wantReason: "deidentify: read result", wantBackoff: workflowBackoff},
		{name: "result read hangs", dep: depRead, fault: faultHang, sql: maskedSQL, wantStatus: "failed", wantReason: "deidentify: read result: timed out", wantBackoff: workflowBackoff},

		{name: "de-identifier fails once", dep: depDeid, fault: faultOnce, sql: maskedSQL, wantStatus: "succeeded", wantBackoff: workflowBackoff[:1]},
		{name: "de-identifier fails", dep: depDeid, fault: faultAlways, sql: maskedSQL, wantStatus: "failed", wantReason: "deidentify: de-identify result", wantBackoff: workflowBackoff},
		{name: "de-identifier hangs", dep: depDeid, fault: faultHang, sql: maskedSQL, wantStatus: "failed", wantReason: "deidentify: de-identify result: timed out", wantBackoff: workflowBackoff},

		{name: "session store fails once in deidentify", dep: depStore, step: "deidentify", fault: faultOnce, sql: maskedSQL, wantStatus: "succeeded", wantBackoff: workflowBackoff[:1]},
		{name: "session store fails in deidentify", dep: depStore, step: "deidentify", fault: faultAlways, sql: maskedSQL, wantStatus: "failed", wantReason: "deidentify: read session", wantBackoff: workflowBackoff},
		{name: "session store hangs in execute", dep: depStore, step: "execute", fault: faultHang, sql: maskedSQL, wantStatus: "failed", wantReason: "execute: read session: timed out", wantBackoff: workflowBackoff},

		{name: "audit insert fails once", dep: depAudit, fault: faultOnce, sql: maskedSQL, wantStatus: "succeeded", wantBackoff: workflowBackoff[:1]},
		{name: "audit insert fails", dep: depAudit, fault: faultAlways, sql: maskedSQL, stuck: true, wantBackoff: workflowBackoff},
		{name: "audit insert hangs", dep: depAudit, fault: faultHang, sql: maskedSQL, stuck: true, wantBackoff: workflowBackoff},

		// Saves after the first (intake) follow the steps; the third to fifth fail.
		{name: "workflow state fails 3 times mid-run", dep: depWorkflow, step: "run", fault: faultAlways, after: 2, times: 3, sql: maskedSQL, wantStatus: "succeeded",
			wantBackoff: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},

		{name: "smtp fails once", dep: depSMTP, fault: faultOnce, sql: approvalSQL, pendOK: true, wantStatus: "pending_approval", wantBackoff: workflowBackoff[:1]},
		{name: "smtp fails", dep: depSMTP, fault: faultAlways, sql: approvalSQL, wantStatus: "failed", wantReason: "notify", wantBackoff: workflowBackoff},
		{name: "smtp relay hangs", dep: depSMTP, hungRelay: true, sql: approvalSQL, wantStatus: "failed", wantReason: "notify", wantBackoff: workflowBackoff},

		// Secret Manager in the cloud (the SMTP password and the link keys),
		// the data dir here: notify reads both before the mail goes out.
		{name: "secret manager fails once", dep: depSecrets, fault: faultOnce, sql: approvalSQL, pendOK: true, wantStatus: "pending_approval", wantBackoff: workflowBackoff[:1]},
		{name: "secret manager fails", dep: depSecrets, fault: faultAlways, sql: approvalSQL, wantStatus: "failed", wantReason: "notify", wantBackoff: workflowBackoff},
		{name: "secret manager hangs", dep: depSecrets, fault: faultHang, sql: approvalSQL, wantStatus: "failed", wantReason: "notify", wantBackoff: workflowBackoff},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.in.set(tc.dep, tc.step, tc.fault, tc.after, tc.times)
			defer e.in.set("", "", faultNone, 0, 0)
			mailers.set(tc.hungRelay)
			defer mailers.set(false)
			id, a := e.run(t, tc.sql, tc.pendOK, tc.stuck)
			if id == "" {
				t.Fatalf("no session: %d %s", a.code, a.raw)
			}
			if tc.pendOK {
				e.waitAwaiting(t, id)
			}
			sess := e.waitStored(t, id, tc.stuck)
			if tc.dep != "" && e.in.count(tc.dep) == 0 {
				t.Errorf("the fault was never hit: %s is not on this path", tc.dep)
			}
			if diff := cmp.Diff(tc.wantBackoff, e.in.backoff()); diff != "" {
				t.Errorf("workflow retry delays (-want, +got):\n%s", diff)
			}
			if tc.stuck {
				e.checkStuck(t, id, sess, a)
				// The audit table is back; the reconciler (hourly, and at
				// start) re-runs record. The closing event the first record
				// appended says succeeded: the masked result was stored
				// before record, and is released only now that it is audited.
				e.in.set("", "", faultNone, 0, 0)
				if n, err := e.g.Reconcile(context.Background()); err != nil || n != 1 {
					t.Fatalf("Reconcile = %d, %v; want 1 session ended", n, err)
				}
				sess, err := e.g.Store.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if sess.Status != session.StatusSucceeded {
					t.Errorf("after reconcile: %s %v, want succeeded", sess.Status, sess.Errors)
				}
				e.checkAudited(t, id, sess)
				return
			}
			got, _ := a.body["status"].(string)
			if got != tc.wantStatus {
				t.Fatalf("status %q, want %q: %s", got, tc.wantStatus, a.raw)
			}
			switch got {
			case "succeeded":
				e.checkMasked(t, a)
			case "failed":
				msgs := fmt.Sprint(a.body["errors"])
				if !strings.Contains(msgs, tc.wantReason) {
					t.Errorf("errors %s, want one containing %q", msgs, tc.wantReason)
				}
				if _, err := e.g.Store.GetPage(context.Background(), id, 0); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("a failed session has a stored result page (err %v)", err)
				}
				if rows, ok := a.body["rows"]; ok && rows != nil {
					t.Errorf("a failed session returned rows: %v", rows)
				}
			}
			if got == "pending_approval" {
				return // the approval path is left waiting; it expires
			}
			// The record step ran: a closing event, and exactly one audit
			// row per event.
			e.checkAudited(t, id, sess)
		})
	}
}

// waitAwaiting waits until the session's execution awaits the approval
// callback, i.e. notify has succeeded (the session shows pending_approval
// before the mail goes out).
func (e *env) waitAwaiting(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute) // bounds a hang; not a speed check
	for time.Now().Before(deadline) {
		sess, err := e.g.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := e.g.Runtime.Execution(ctx, sess.ExecutionName); err == nil && st.AwaitingCallback {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("session %s never awaited the approval callback", id)
}

// waitStored returns the stored session once its status is final (or,
// for stuck cases, once the workflow execution has ended).
func (e *env) waitStored(t *testing.T, id string, stuck bool) *session.Session {
	t.Helper()
	ctx := context.Background()
	sess, err := e.g.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !stuck {
		return sess
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := e.g.Runtime.Wait(wctx, sess.ExecutionName); err != nil {
		t.Fatalf("wait for execution %s: %v", sess.ExecutionName, err)
	}
	if sess, err = e.g.Store.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	return sess
}

func (e *env) checkMasked(t *testing.T, a answer) {
	t.Helper()
	rows, _ := a.body["rows"].([]any)
	if len(rows) != 3 {
		t.Fatalf("succeeded with %d rows, want 3: %s", len(rows), a.raw)
	}
	// noLeak already checked every answer for raw values; check the masked
	// columns are present, so the check had something to look at.
	for _, r := range rows {
		m, _ := r.(map[string]any)
		if m["email"] == nil || m["ssn"] == nil {
			t.Errorf("row %v lacks its masked email or ssn", r)
		}
	}
}

func (e *env) checkAudited(t *testing.T, id string, sess *session.Session) {
	t.Helper()
	n := len(sess.Timeline)
	if n == 0 {
		t.Fatal("empty timeline")
	}
	last := sess.Timeline[n-1].Type
	if last != session.EventCompleted && last != session.EventFailed {
		t.Errorf("last event %s, want a closing event from record", last)
	}
	rows := e.auditRows(t, id)
	for _, ev := range sess.Timeline {
		if rows[ev.Seq] != 1 {
			t.Errorf("event %d (%s): %d audit rows, want 1", ev.Seq, ev.Type, rows[ev.Seq])
		}
	}
	if len(rows) != n {
		t.Errorf("%d audited seqs for %d events", len(rows), n)
	}
}

// checkStuck: the audit insert cannot be made, so record cannot end the
// session. Fail closed: the status is not succeeded and nothing is served.
func (e *env) checkStuck(t *testing.T, id string, sess *session.Session, a answer) {
	t.Helper()
	if sess.Status == session.StatusSucceeded {
		t.Fatalf("status succeeded although the audit write never succeeded")
	}
	got := e.do(t, http.MethodGet, "/v1/sessions/"+id, e.agent, nil)
	e.noLeak(t, got.raw)
	if rows, ok := got.body["rows"]; ok && rows != nil {
		t.Errorf("rows served while the audit write fails: %v", rows)
	}
	if n := len(e.auditRows(t, id)); n != 0 {
		t.Errorf("%d audit rows although every insert failed", n)
	}
}
