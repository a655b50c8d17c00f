package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/session"
)

// fakeCloudIdentity serves the three Cloud Identity calls the resolver
// makes, paging the transitive memberships to exercise page tokens.
func fakeCloudIdentity(t *testing.T, calls *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/groups:lookup":
			if r.URL.Query().Get("groupKey.id") != "qg-approvers@example.com" {
				w.WriteHeader(404)
				w.Write([]byte(`{"error":{"code":404,"message":"not found"}}`))
				return
			}
			w.Write([]byte(`{"name":"groups/abc123"}`))
		case r.URL.Path == "/v1/groups/abc123/memberships:searchTransitiveMemberships":
			if r.URL.Query().Get("pageToken") == "" {
				w.Write([]byte(`{"memberships":[{"preferredMemberKey":[{"id":"Ann@Example.com"}]}],"nextPageToken":"p2"}`))
				return
			}
			w.Write([]byte(`{"memberships":[{"preferredMemberKey":[{"id":"bo@example.com"}]}]}`))
		case r.URL.Path == "/v1/groups/-/memberships:searchTransitiveGroups":
			q := r.URL.Query().Get("query")
			if !strings.Contains(q, "member_key_id == 'alice@example.com'") || !strings.Contains(q, discussionForum) {
				t.Errorf("query = %q", q)
			}
			json.NewEncoder(w).Encode(map[string]any{"memberships": []map[string]any{
				{"groupKey": map[string]string{"id": "qg-analysts@example.com"}},
				{"groupKey": map[string]string{"id": "other@example.com"}},
			}})
		default:
			t.Errorf("unexpected path %s", r.URL.Path)
			w.WriteHeader(404)
		}
	}))
}

func TestCloudIdentityGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var calls atomic.Int32
	srv := fakeCloudIdentity(t, &calls)
	defer srv.Close()
	ci, err := NewCloudIdentity(ctx, map[string]string{"approvers": "qg-approvers@example.com", "analysts": "qg-analysts@example.com"}, 0,
		option.WithEndpoint(srv.URL+"/"), option.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	members, err := ci.Members(ctx, "approvers")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ann@example.com", "bo@example.com"}, members); diff != "" {
		t.Errorf("Members (-want, +got):\n%s", diff)
	}
	groups, err := ci.GroupsOf(ctx, &session.Principal{Email: "alice@example.com", Groups: []string{"from-token"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"analysts", "from-token", "other@example.com"}, groups); diff != "" {
		t.Errorf("GroupsOf (-want, +got):\n%s", diff)
	}
	before := calls.Load()
	if _, err := ci.Members(ctx, "approvers"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before {
		t.Errorf("cached Members made %d more calls", calls.Load()-before)
	}
	if _, err := ci.Members(ctx, "nobody"); err == nil {
		t.Error("unknown group resolved")
	}
}
