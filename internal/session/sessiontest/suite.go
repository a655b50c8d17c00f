// Package sessiontest is the conformance suite every session.Store
// implementation must pass (the embedded SQLite one and Firestore alike).
package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/querygate/querygate/internal/session"
)

// Factory returns a fresh, empty store for one subtest.
type Factory func(t *testing.T) session.Store

var seq int
var seqMu sync.Mutex

func newSession(prefix string) *session.Session {
	seqMu.Lock()
	seq++
	n := seq
	seqMu.Unlock()
	sql := "SELECT full_name FROM demo.customers LIMIT 3"
	return &session.Session{
		ID:             fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), n),
		ConversationID: "conv-" + prefix,
		Principal:      session.Principal{Issuer: "https://issuer.example", Subject: "alice", Email: "alice@example.com", Groups: []string{"analysts"}},
		Agent:          session.Agent{Name: "claude-code", Model: "m1"},
		Prompt:         "list three customers",
		SQL:            sql,
		SQLSHA256:      session.SQLHash(sql),
		Status:         session.StatusRunning,
		CreatedAt:      time.Date(2026, 11, 28, 10, 0, n, 0, time.UTC),
		Readers:        []string{"alice@example.com"},
	}
}

// Run runs the whole suite against stores made by f.
func Run(t *testing.T, f Factory) {
	ctx := context.Background()

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		st := f(t)
		s := newSession("rt")
		s.AddEvent(s.CreatedAt, "alice@example.com", session.ReceivedData{Agent: "claude-code", Model: "m1", SQLSHA256: s.SQLSHA256, Groups: []string{"analysts"}})
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Version != 1 {
			t.Errorf("Version = %d, want 1", got.Version)
		}
		if diff := cmp.Diff(s, got, cmpopts.IgnoreFields(session.Session{}, "UpdatedAt", "Version"), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Get mismatch (-want, +got):\n%s", diff)
		}
		if n := got.VerifyChain(); n != 0 {
			t.Errorf("VerifyChain after round trip broke at %d", n)
		}
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		st := f(t)
		s := newSession("dup")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := st.Create(ctx, newCopy(s)); !errors.Is(err, session.ErrExists) {
			t.Errorf("second Create err = %v, want ErrExists", err)
		}
	})

	t.Run("ProfilesRoundTripAndReplace", func(t *testing.T) { profiles(t, f) })
	t.Run("Counters", func(t *testing.T) { counters(t, f) })

	t.Run("GetMissing", func(t *testing.T) {
		st := f(t)
		if _, err := st.Get(ctx, "no-such-session"); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get err = %v, want ErrNotFound", err)
		}
		if _, err := st.Update(ctx, "no-such-session", func(*session.Session) error { return nil }); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Update err = %v, want ErrNotFound", err)
		}
		if _, err := st.GetPage(ctx, "no-such-session", 0); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("GetPage err = %v, want ErrNotFound", err)
		}
		if err := st.PutPage(ctx, "no-such-session", &session.Page{Rows: json.RawMessage(`[]`)}); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("PutPage on missing session err = %v, want ErrNotFound", err)
		}
	})

	t.Run("UpdateAppliesAndVersions", func(t *testing.T) {
		st := f(t)
		s := newSession("upd")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.Update(ctx, s.ID, func(x *session.Session) error {
			x.Status = session.StatusSucceeded
			x.Decision = &session.Decision{Action: "allow", RuleIDs: []string{"r1"}, Reasons: []string{"ok"}, ColumnInfoTypes: map[string][]string{"full_name": {"PERSON_NAME"}}}
			x.AddEvent(time.Date(2026, 11, 28, 10, 1, 0, 0, time.UTC), "policy", session.PolicyDecidedData{Action: "allow", RuleIDs: []string{"r1"}})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Status != session.StatusSucceeded {
			t.Errorf("after Update: version %d status %s, want 2 succeeded", got.Version, got.Status)
		}
		again, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Get after Update (-want, +got):\n%s", diff)
		}
		if len(again.Timeline) != 1 || again.Timeline[0].Seq != 1 || again.VerifyChain() != 0 {
			t.Errorf("timeline = %+v", again.Timeline)
		}
	})

	t.Run("UpdateErrorWritesNothing", func(t *testing.T) {
		st := f(t)
		s := newSession("uerr")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		_, err := st.Update(ctx, s.ID, func(x *session.Session) error {
			x.Status = session.StatusFailed
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update err = %v, want boom", err)
		}
		got, _ := st.Get(ctx, s.ID)
		if got.Status != session.StatusRunning || got.Version != 1 {
			t.Errorf("state changed by failed Update: %s v%d", got.Status, got.Version)
		}
	})

	t.Run("TimelineIsAppendOnly", func(t *testing.T) {
		st := f(t)
		s := newSession("append")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if _, err := st.Update(ctx, s.ID, func(x *session.Session) error {
			x.AddEvent(at, "suite", session.QueryStartedData{JobID: "j1"})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			rewrite func(x *session.Session)
		}{
			{"change", func(x *session.Session) { x.Timeline[0].Hash = "rewritten" }},
			{"remove", func(x *session.Session) { x.Timeline = x.Timeline[:0] }},
		} {
			_, err := st.Update(ctx, s.ID, func(x *session.Session) error { tc.rewrite(x); return nil })
			if !errors.Is(err, session.ErrTimelineRewrite) {
				t.Errorf("%s: Update err = %v, want ErrTimelineRewrite", tc.name, err)
			}
		}
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Timeline) != 1 || got.Timeline[0].Hash == "rewritten" || got.Version != 2 {
			t.Errorf("after refused rewrites: %d events, version %d; want 1 unchanged event, version 2", len(got.Timeline), got.Version)
		}
	})

	t.Run("DocumentLimit", func(t *testing.T) { documentLimit(t, f) })
	t.Run("EventsAreTyped", func(t *testing.T) { eventsAreTyped(t, f) })
	t.Run("EveryReadSeesTheWholeTimeline", func(t *testing.T) { wholeTimeline(t, f) })

	t.Run("ConcurrentUpdatesAreSerialized", func(t *testing.T) {
		st := f(t)
		s := newSession("conc")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for attempt := 0; attempt < 20; attempt++ {
					_, err := st.Update(ctx, s.ID, func(x *session.Session) error {
						x.AddEvent(time.Date(2026, 11, 28, 10, 2, i, 0, time.UTC), "w", session.QueryStartedData{JobID: fmt.Sprint(i)})
						return nil
					})
					if errors.Is(err, session.ErrConflict) {
						continue
					}
					errs <- err
					return
				}
				errs <- errors.New("too many conflicts")
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := st.Get(ctx, s.ID)
		if len(got.Timeline) != n || got.Version != n+1 {
			t.Errorf("after %d concurrent updates: %d events, version %d", n, len(got.Timeline), got.Version)
		}
		if b := got.VerifyChain(); b != 0 {
			t.Errorf("chain broken at %d: lost update", b)
		}
	})

	t.Run("PagesIdempotentAndByteExact", func(t *testing.T) {
		st := f(t)
		s := newSession("page")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		rows := json.RawMessage(`[{"full_name":"[PERSON_NAME]","n":1.50},{"full_name":"x","n":2}]`)
		for i := 0; i < 2; i++ { // a retried step writes the same page twice
			if err := st.PutPage(ctx, s.ID, &session.Page{Index: 0, Rows: rows, Count: 2}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := st.GetPage(ctx, s.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Rows) != string(rows) || p.Count != 2 {
			t.Errorf("page rows = %s count %d, want %s count 2", p.Rows, p.Count, rows)
		}
		if _, err := st.GetPage(ctx, s.ID, 1); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("missing page err = %v", err)
		}
	})

	t.Run("ListFiltersAndPages", func(t *testing.T) {
		st := f(t)
		var mine []string
		for i := 0; i < 5; i++ {
			s := newSession("list")
			s.ConversationID = "conv-list"
			if i == 4 {
				s.Readers = []string{"bob@example.com"}
				s.ConversationID = "conv-other"
			}
			if err := st.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if i != 4 {
				mine = append([]string{s.ID}, mine...) // newest first
			}
		}
		var got []string
		tok := ""
		for pages := 0; pages < 10; pages++ {
			res, err := st.List(ctx, session.ListQuery{Reader: "alice@example.com", ConversationID: "conv-list", PageSize: 3, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Sessions {
				if len(s.Timeline) != 0 {
					t.Errorf("List returned a timeline")
				}
				got = append(got, s.ID)
			}
			if res.NextPageToken == "" {
				break
			}
			tok = res.NextPageToken
		}
		if diff := cmp.Diff(mine, got); diff != "" {
			t.Errorf("List ids (-want, +got):\n%s", diff)
		}
		res, err := st.List(ctx, session.ListQuery{Reader: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Sessions) != 1 {
			t.Errorf("bob sees %d sessions, want 1", len(res.Sessions))
		}
		all, err := st.List(ctx, session.ListQuery{PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Sessions) != 5 {
			t.Errorf("auditor list = %d sessions, want 5", len(all.Sessions))
		}
	})

	t.Run("WaitWakesOnUpdate", func(t *testing.T) {
		st := f(t)
		s := newSession("wait")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		done := make(chan *session.Session, 1)
		go func() {
			got, err := st.Wait(ctx, s.ID, 1)
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		if _, err := st.Update(ctx, s.ID, func(x *session.Session) error { x.Status = session.StatusSucceeded; return nil }); err != nil {
			t.Fatal(err)
		}
		got := <-done
		if got == nil || got.Status != session.StatusSucceeded {
			t.Errorf("Wait returned %+v, want succeeded", got)
		}
	})

	t.Run("WaitReturnsCurrentOnDeadline", func(t *testing.T) {
		st := f(t)
		s := newSession("waitdl")
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		got, err := st.Wait(cctx, s.ID, 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if got.Version != 1 || got.Status != session.StatusRunning {
			t.Errorf("Wait = v%d %s, want v1 running", got.Version, got.Status)
		}
	})
}

func newCopy(s *session.Session) *session.Session {
	c := *s
	return &c
}
