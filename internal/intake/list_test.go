package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

// listEnv stores n sessions of alice, each with a prompt of promptBytes,
// created one second apart (qs_00 oldest).
func listEnv(t *testing.T, n, promptBytes, budget int) (*Server, []string) {
	t.Helper()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	alice := &session.Principal{Issuer: "i", Subject: "alice", Email: "alice@example.com"}
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	var newestFirst []string
	for i := range n {
		id := fmt.Sprintf("qs_%02d", i)
		s := &session.Session{ID: id, Principal: *alice, SQL: "SELECT 1", SQLSHA256: session.SQLHash("SELECT 1"),
			Prompt: strings.Repeat("p", promptBytes), Status: session.StatusSucceeded, CreatedAt: t0.Add(time.Duration(i) * time.Second),
			Readers: []string{"alice@example.com"}}
		if err := st.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		newestFirst = append([]string{id}, newestFirst...)
	}
	srv := &Server{Verifier: tokenVerifier{"alice": alice}, Store: st, PublicURL: "https://qg.example", ListByteBudget: budget}
	return srv, newestFirst
}

type listPage struct {
	Sessions []struct {
		ID     string `json:"session_id"`
		Prompt string `json:"prompt"`
		SQL    string `json:"sql"`
		URL    string `json:"session_url"`
	} `json:"sessions"`
	Next string `json:"next_page_token"`
}

func getList(t *testing.T, srv *Server, query url.Values) (listPage, int) {
	t.Helper()
	mux := http.NewServeMux()
	srv.Register(mux)
	r := httptest.NewRequest("GET", "/v1/sessions?"+query.Encode(), nil)
	r.Header.Set("Authorization", "Bearer alice")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/sessions?%s = %d %s", query.Encode(), w.Code, w.Body)
	}
	n := w.Body.Len()
	// The shape is what it was before streaming: two keys, and per
	// session the same nine.
	var shape struct {
		Sessions []map[string]json.RawMessage `json:"sessions"`
		Next     *string                      `json:"next_page_token"`
	}
	raw := w.Body.Bytes()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || len(top) != 2 || json.Unmarshal(raw, &shape) != nil || shape.Next == nil || shape.Sessions == nil {
		t.Fatalf("page is not {sessions, next_page_token}: %.300s", raw)
	}
	for _, x := range shape.Sessions {
		var keys []string
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"agent", "conversation_id", "created_at", "principal", "prompt", "session_id", "session_url", "sql", "status"}
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Fatalf("session keys (-want, +got):\n%s", diff)
		}
	}
	var p listPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p, n
}

// TestListStopsAtByteBudget is issue 10 finding 6: a page is bounded by
// bytes, not only by page_size, and ends with a token that resumes exactly
// after the last session sent.
func TestListStopsAtByteBudget(t *testing.T) {
	t.Parallel()
	// 23 sessions of about 10 KB under a 35,000-byte budget: three a page.
	srv, want := listEnv(t, 23, 10_000, 35_000)
	var got []string
	var sizes []int
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		q := url.Values{"page_size": {"1000"}}
		if tok != "" {
			q.Set("page_token", tok)
		}
		p, n := getList(t, srv, q)
		sizes = append(sizes, len(p.Sessions))
		if n > 35_000 {
			t.Errorf("page %d is %d bytes, over the budget", pages, n)
		}
		for _, s := range p.Sessions {
			got = append(got, s.ID)
			if len(s.Prompt) != 10_000 || s.SQL != "SELECT 1" || s.URL != "https://qg.example/v1/sessions/"+s.ID {
				t.Errorf("session %s lost fields", s.ID)
			}
		}
		if p.Next == "" {
			break
		}
		tok = p.Next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sessions over all pages (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 3, 3, 3, 3, 3, 2}, sizes); diff != "" {
		t.Errorf("sessions per page (-want, +got):\n%s", diff)
	}
}

func TestListPageSizeAndOversizedSession(t *testing.T) {
	t.Parallel()
	srv, want := listEnv(t, 25, 10, 0)
	p, _ := getList(t, srv, url.Values{"page_size": {"12"}})
	if len(p.Sessions) != 12 || p.Sessions[11].ID != want[11] || p.Next == "" {
		t.Fatalf("page_size 12: %d sessions, next %q", len(p.Sessions), p.Next)
	}
	p2, _ := getList(t, srv, url.Values{"page_size": {"50"}, "page_token": {p.Next}})
	if len(p2.Sessions) != 13 || p2.Sessions[0].ID != want[12] || p2.Next != "" {
		t.Errorf("second page: %d sessions from %s, next %q", len(p2.Sessions), p2.Sessions[0].ID, p2.Next)
	}
	// A session larger than the whole budget still goes out, one a page,
	// so a client always progresses.
	big, wantBig := listEnv(t, 2, 5_000, 1_000)
	p3, _ := getList(t, big, url.Values{})
	if len(p3.Sessions) != 1 || p3.Sessions[0].ID != wantBig[0] || p3.Next == "" {
		t.Fatalf("oversized: %d sessions, next %q", len(p3.Sessions), p3.Next)
	}
	p4, _ := getList(t, big, url.Values{"page_token": {p3.Next}})
	if len(p4.Sessions) != 1 || p4.Sessions[0].ID != wantBig[1] || p4.Next != "" {
		t.Errorf("oversized second page: %+v", p4)
	}
}

func TestListRefusals(t *testing.T) {
	t.Parallel()
	srv, _ := listEnv(t, 1, 10, 0)
	mux := http.NewServeMux()
	srv.Register(mux)
	for q, want := range map[string]int{"page_size=0": 400, "page_size=1001": 400, "page_token=nonsense": 400} {
		r := httptest.NewRequest("GET", "/v1/sessions?"+q, nil)
		r.Header.Set("Authorization", "Bearer alice")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", q, w.Code, want)
		}
	}
}

// failingList fails every List call after the first ok ones.
type failingList struct {
	session.Store
	ok    int
	calls int
}

func (f *failingList) List(ctx context.Context, q session.ListQuery) (*session.ListResult, error) {
	f.calls++
	if f.calls > f.ok {
		return nil, errors.New("store unavailable")
	}
	return f.Store.List(ctx, q)
}

// TestListStoreFailure: a store failure before the page starts is a 500;
// one in the middle of a page cuts the connection, so the client never
// takes a well-formed page that silently lacks sessions.
func TestListStoreFailure(t *testing.T) {
	t.Parallel()
	srv, _ := listEnv(t, 25, 10, 0)
	for _, tc := range []struct {
		name   string
		ok     int
		status int
	}{{"before_the_page", 0, http.StatusInternalServerError}, {"mid_page", 1, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			s := *srv
			s.Store = &failingList{Store: srv.Store, ok: tc.ok}
			mux := http.NewServeMux()
			s.Register(mux)
			hs := httptest.NewServer(mux)
			defer hs.Close()
			req, _ := http.NewRequest("GET", hs.URL+"/v1/sessions?page_size=25", nil)
			req.Header.Set("Authorization", "Bearer alice")
			resp, err := hs.Client().Do(req)
			if tc.status != 0 {
				if err != nil || resp.StatusCode != tc.status {
					t.Fatalf("status %v, %v; want %d", resp, err, tc.status)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				var p listPage
				err = json.NewDecoder(resp.Body).Decode(&p)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("a page cut by a store failure decoded as a complete page")
			}
		})
	}
}
