package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/testing/firestoreemu"
)

// opCount is what Firestore bills, counted from the RPCs the client sends
// and the answers it receives (the billing rules are in docs/capacity.md
// section 1.2): one read per document a get, query or listener returns, at
// least one per query; one write per write of a commit; one delete per
// delete.
type opCount struct {
	Reads, Writes, Deletes int
}

type opCounter struct {
	mu sync.Mutex
	n  opCount
	// listened, when set, receives a value for each document a listener
	// delivers, so a test knows a Wait is listening.
	listened chan struct{}
}

func (c *opCounter) add(d opCount) {
	c.mu.Lock()
	c.n.Reads += d.Reads
	c.n.Writes += d.Writes
	c.n.Deletes += d.Deletes
	c.mu.Unlock()
}

func (c *opCounter) take() opCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = opCount{}
	return n
}

func (c *opCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		return err
	}
	switch r := req.(type) {
	case *firestorepb.CommitRequest:
		var d opCount
		for _, w := range r.GetWrites() {
			if w.GetDelete() != "" {
				d.Deletes++
			} else {
				d.Writes++
			}
		}
		c.add(d)
	case *firestorepb.GetDocumentRequest:
		c.add(opCount{Reads: 1})
	}
	return nil
}

func (c *opCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countingStream{ClientStream: s, c: c}, nil
}

// countingStream counts the documents of BatchGetDocuments, RunQuery and
// Listen answers; a query that returns nothing is billed one read.
type countingStream struct {
	grpc.ClientStream
	c       *opCounter
	query   bool
	queryN  int
	settled bool
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		if s.query && s.queryN == 0 && !s.settled {
			s.settled = true
			s.c.add(opCount{Reads: 1})
		}
		return err
	}
	switch r := m.(type) {
	case *firestorepb.BatchGetDocumentsResponse:
		if r.GetFound() != nil || r.GetMissing() != "" {
			s.c.add(opCount{Reads: 1})
		}
	case *firestorepb.RunQueryResponse:
		s.query = true
		if r.GetDocument() != nil {
			s.queryN++
			s.c.add(opCount{Reads: 1})
		}
		if r.GetDone() && s.queryN == 0 && !s.settled {
			s.settled = true
			s.c.add(opCount{Reads: 1})
		}
	case *firestorepb.ListenResponse:
		if r.GetDocumentChange() != nil {
			s.c.add(opCount{Reads: 1})
			if s.c.listened != nil {
				select {
				case s.c.listened <- struct{}{}:
				default:
				}
			}
		}
	}
	return nil
}

// openCountingStore opens a store on project whose every RPC c counts.
func openCountingStore(t *testing.T, emu *firestoreemu.Emulator, project string, c *opCounter) *session.Firestore {
	t.Helper()
	conn, err := grpc.NewClient(emu.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(c.unary), grpc.WithChainStreamInterceptor(c.stream))
	if err != nil {
		t.Fatal(err)
	}
	st, err := session.OpenFirestore(t.Context(), project, "(default)", option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); conn.Close() })
	return st
}

// TestFirestoreOperationsPerAllowedSession replays the store calls of one
// allowed session with a small result (docs/capacity.md section 1.2), each
// service with its own store value and its own count, as on Cloud Run, and
// counts what Firestore bills each service. Intake waits as it does in
// Server.wait: its first Wait finds version 2 at once, then each Wait is
// open (its listener has sent its first snapshot) before the next write, so
// intake sees every version, the most it can. The stores run as in
// production, without version markers (the writes are sequential, so the
// emulator needs none). A change that reads or writes more fails here.
func TestFirestoreOperationsPerAllowedSession(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	project := fmt.Sprintf("querygate-ops-%d", fsProject.Add(1))
	counters := map[string]*opCounter{}
	open := func(name string) *session.Firestore {
		c := &opCounter{listened: make(chan struct{}, 64)}
		counters[name] = c
		return openCountingStore(t, emu, project, c)
	}
	intake, policy, execute, deid, record := open("intake"), open("policy"), open("execute"), open("deidentify"), open("record")
	ctx := t.Context()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const id = "ops-allowed"
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var seen int64
	check := func(s *session.Session) {
		t.Helper()
		if s.Version <= seen || len(s.Timeline) == 0 || s.VerifyChain() != 0 {
			t.Fatalf("Wait(after %d) = version %d, %d events, chain break %d", seen, s.Version, len(s.Timeline), s.VerifyChain())
		}
		seen = s.Version
	}
	// watched runs write while intake waits for the version it makes.
	watched := func(what string, write func() error) {
		t.Helper()
		ic := counters["intake"]
		for len(ic.listened) > 0 {
			<-ic.listened
		}
		type result struct {
			s   *session.Session
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := intake.Wait(ctx, id, seen)
			done <- result{s, err}
		}()
		select {
		case <-ic.listened:
		case r := <-done:
			t.Fatalf("%s: Wait(after %d) returned before the write: version %v, err %v", what, seen, r.s != nil && r.s.Version > 0, r.err)
		}
		must(what, write())
		r := <-done
		must(what+": wait", r.err)
		check(r.s)
	}
	update := func(st *session.Firestore, fn func(*session.Session)) func() error {
		return func() error {
			_, err := st.Update(ctx, id, func(x *session.Session) error { fn(x); return nil })
			return err
		}
	}
	get := func(st *session.Firestore) {
		t.Helper()
		_, err := st.Get(ctx, id)
		must("get", err)
	}

	s := &session.Session{ID: id, SQL: "SELECT 1", Status: session.StatusRunning, CreatedAt: at, ExpireAt: at.Add(24 * time.Hour)}
	s.AddEvent(at, "alice@example.com", session.ReceivedData{Agent: "a"})
	must("create", intake.Create(ctx, s))
	must("execution name", update(intake, func(x *session.Session) { x.ExecutionName = "exec-1" })())
	first, err := intake.Wait(ctx, id, 0)
	must("first wait", err)
	check(first)
	get(policy)
	watched("policy", update(policy, func(x *session.Session) {
		x.AddEvent(at, "policy", session.PolicyDecidedData{Action: "allow"})
	}))
	get(execute)
	watched("query started", update(execute, func(x *session.Session) { x.AddEvent(at, "execute", session.QueryStartedData{JobID: "j"}) }))
	watched("query finished", update(execute, func(x *session.Session) {
		x.AddEvent(at, "execute", session.QueryFinishedData{JobID: "j", BytesProcessed: 10})
	}))
	get(deid)
	must("put page", deid.PutPage(ctx, id, &session.Page{Index: 0, Count: 1, Rows: json.RawMessage(`[{"n":1}]`)}))
	watched("masked", update(deid, func(x *session.Session) {
		x.AddEvent(at, "deidentify", session.ResultMaskedData{Rows: 1, TotalRows: 1, Pages: 1})
	}))
	get(record)
	watched("completed", update(record, func(x *session.Session) {
		x.AddEvent(at, "record", session.CompletedData{Status: "succeeded"})
	}))
	watched("status", update(record, func(x *session.Session) { x.Status = session.StatusSucceeded }))
	if seen != 8 {
		t.Fatalf("intake saw version %d last, want 8", seen)
	}
	_, err = intake.GetPage(ctx, id, 0)
	must("outcome page", err)

	got := map[string]opCount{}
	var total opCount
	for name, c := range counters {
		n := c.take()
		got[name] = n
		total.Reads += n.Reads
		total.Writes += n.Writes
		total.Deletes += n.Deletes
	}
	got["total"] = total
	t.Logf("Firestore operations per allowed session: %+v", got)
	// Before the event cache (each Get and Update read every event, each
	// wake-up of Wait a full Get) and with a version marker per write, the
	// same calls cost 94 reads and 23 writes (intake 50 R 5 W, policy
	// 4 R 3 W, execute 10 R 6 W, deidentify 11 R 4 W, record 19 R 5 W).
	want := map[string]opCount{
		// Create 2 W; execution name 1 R 1 W; first Wait 1 R; six Waits
		// of 2 listener reads each and the 5 new events; GetPage 1 R.
		"intake": {Reads: 20, Writes: 3},
		// Each Get: the session and the events this instance lacks;
		// each Update: the session, then it and one event written.
		"policy":     {Reads: 3, Writes: 2},
		"execute":    {Reads: 5, Writes: 4},
		"deidentify": {Reads: 7, Writes: 3},
		"record":     {Reads: 8, Writes: 3},
		"total":      {Reads: 43, Writes: 15},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Firestore operations per allowed session (-want, +got):\n%s", diff)
	}
}

// TestFirestoreEventCacheAcrossInstances checks that a store value which
// holds a session's timeline still sees the events another instance
// appended, and that the append-only rule still holds on a cached timeline.
func TestFirestoreEventCacheAcrossInstances(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	project := fmt.Sprintf("querygate-cache-%d", fsProject.Add(1))
	var c opCounter
	a, b := openCountingStore(t, emu, project, &c), openCountingStore(t, emu, project, &c)
	ctx := t.Context()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := &session.Session{ID: "shared", SQL: "SELECT 1", Status: session.StatusRunning, CreatedAt: at}
	s.AddEvent(at, "alice@example.com", session.ReceivedData{Agent: "a"})
	if err := a.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, "shared", func(x *session.Session) error {
		x.AddEvent(at, "b", session.QueryStartedData{JobID: "from-b"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Update(ctx, "shared", func(x *session.Session) error {
		if len(x.Timeline) != 2 {
			return fmt.Errorf("fn saw %d events, want 2", len(x.Timeline))
		}
		x.AddEvent(at, "a", session.QueryFinishedData{JobID: "from-b"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Timeline) != 3 || got.VerifyChain() != 0 || got.Version != 3 {
		t.Fatalf("a's Update = %d events, version %d, chain break %d; want 3, 3, 0", len(got.Timeline), got.Version, got.VerifyChain())
	}

	// a now holds all three events: editing one in place, hash and all,
	// must still be refused, and must not reach a's cache.
	_, err = a.Update(ctx, "shared", func(x *session.Session) error {
		x.Timeline[1].Data = session.EncodePayload(session.QueryStartedData{JobID: "rewritten"})
		x.Timeline[1].Hash = session.EventHash(x.ID, x.Timeline[1])
		return nil
	})
	if !errors.Is(err, session.ErrTimelineRewrite) {
		t.Errorf("rewriting a cached event: err = %v, want ErrTimelineRewrite", err)
	}
	c.take()
	for _, st := range []*session.Firestore{a, b} {
		g, err := st.Get(ctx, "shared")
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Timeline) != 3 || g.VerifyChain() != 0 || string(g.Timeline[1].Data) != `{"job_id":"from-b"}` {
			t.Errorf("Get = %d events, chain break %d, event 2 %s; want 3 unchanged events", len(g.Timeline), g.VerifyChain(), g.Timeline[1].Data)
		}
	}
	// a holds every event; b lacks the third: one read of the session
	// document each, one of b's missing event.
	if n := c.take(); n != (opCount{Reads: 3}) {
		t.Errorf("two Gets cost %+v, want 3 reads", n)
	}
}

// TestFirestoreTimelineHeadMismatchFailsClosed changes a session
// document's last_event_hash behind the store's back: the cached and the
// stored timeline then disagree with the document, and Get must fail
// rather than answer with either.
func TestFirestoreTimelineHeadMismatchFailsClosed(t *testing.T) {
	emu := firestoreemu.ForTest(t)
	project := fmt.Sprintf("querygate-head-%d", fsProject.Add(1))
	var c opCounter
	st := openCountingStore(t, emu, project, &c)
	ctx := t.Context()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := &session.Session{ID: "head", SQL: "SELECT 1", Status: session.StatusRunning, CreatedAt: at}
	s.AddEvent(at, "alice@example.com", session.ReceivedData{Agent: "a"})
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	opts, err := emu.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := firestore.NewClient(ctx, project, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Doc("sessions/head").Update(ctx, []firestore.Update{{Path: "last_event_hash", Value: "forged"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, "head"); err == nil {
		t.Errorf("Get with a forged head = %d events, want an error", len(got.Timeline))
	}
	if _, err := st.Update(ctx, "head", func(*session.Session) error { return nil }); err == nil {
		t.Error("Update with a forged head succeeded, want an error")
	}
}
