package functions

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/config"
	"github.com/querygate/querygate/internal/mail"
)

// baseEnv is the configuration every function needs.
func baseEnv() map[string]string {
	return map[string]string{"QUERYGATE_PROJECT": "p", "QUERYGATE_PUBLIC_URL": "https://qg.example", "QUERYGATE_AUDIENCE": "https://qg.example",
		"QUERYGATE_SELF_URL": "https://notify.run.app", "QUERYGATE_WORKFLOW_SA": "wf@p.iam.gserviceaccount.com", "QUERYGATE_APPROVAL_SA": "ap@p.iam.gserviceaccount.com"}
}

// TestConfigReadsApprovalEnv checks that the names terraform/services.tf
// sets for notify and approval land in Config.
func TestConfigReadsApprovalEnv(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	for k, v := range map[string]string{
		"PUBLIC_BASE_URL": "https://approvals.example", "APPROVAL_DEFAULT_TTL": "30m", "APPROVAL_MAX_TTL": "4h",
		"APPROVAL_CALLBACK_URL_PREFIXES": "https://workflowexecutions.googleapis.com/v1/projects/p/,https://x/",
		"APPROVAL_REQUIRE_IAP":           "true", "APPROVAL_IAP_AUDIENCE": "/projects/1/global/backendServices/2",
		"APPROVAL_KEY_SECRET": "projects/p/secrets/link", "SMTP_HOST": "smtp.example", "SMTP_PORT": "2525", "SMTP_TLS": "implicit",
		"SMTP_USERNAME": "qg", "SMTP_PASSWORD_SECRET": "projects/p/secrets/smtp/versions/latest", "SMTP_FROM": "querygate <qg@example.com>",
	} {
		env[k] = v
	}
	var c Config
	if err := config.Process(config.MapLookuper(env), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	wantApproval := approval.Config{PublicBaseURL: "https://approvals.example", DefaultTTL: 30 * time.Minute, MaxTTL: 4 * time.Hour,
		CallbackURLPrefixes: []string{"https://workflowexecutions.googleapis.com/v1/projects/p/", "https://x/"},
		RequireIAP:          true, IAPAudience: "/projects/1/global/backendServices/2", Actor: "querygate-approval"}
	if diff := cmp.Diff(wantApproval, c.Approval); diff != "" {
		t.Errorf("Approval (-want, +got):\n%s", diff)
	}
	wantSMTP := mail.SMTPConfig{Host: "smtp.example", Port: 2525, TLS: mail.TLSImplicit, Username: "qg",
		PasswordSecret: "projects/p/secrets/smtp/versions/latest", From: "querygate <qg@example.com>", Timeout: 30 * time.Second}
	if diff := cmp.Diff(wantSMTP, c.SMTP); diff != "" {
		t.Errorf("SMTP (-want, +got):\n%s", diff)
	}
	if c.ApprovalKeySecret != "projects/p/secrets/link" {
		t.Errorf("ApprovalKeySecret = %q", c.ApprovalKeySecret)
	}
}

func TestConfigValidateApproval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // substrings of the error; none means valid
	}{
		{"unset", nil, nil},
		{"secret names", map[string]string{"APPROVAL_KEY_SECRET": "projects/p/secrets/link", "SMTP_PASSWORD_SECRET": "projects/p/secrets/smtp/versions/3"}, nil},
		{"key secret is a version", map[string]string{"APPROVAL_KEY_SECRET": "projects/p/secrets/link/versions/latest"}, []string{"APPROVAL_KEY_SECRET"}},
		{"bare names", map[string]string{"APPROVAL_KEY_SECRET": "link", "SMTP_PASSWORD_SECRET": "smtp"}, []string{"APPROVAL_KEY_SECRET", "SMTP_PASSWORD_SECRET"}},
		{"password secret without version", map[string]string{"SMTP_PASSWORD_SECRET": "projects/p/secrets/smtp"}, []string{"SMTP_PASSWORD_SECRET"}},
		{"IAP without audience", map[string]string{"APPROVAL_REQUIRE_IAP": "true"}, []string{"APPROVAL_IAP_AUDIENCE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			var c Config
			if err := config.Process(config.MapLookuper(env), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if len(tc.want) == 0 && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if len(tc.want) > 0 && err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %s", err, w)
				}
			}
		})
	}
}

func TestApproverGroupsNeedCloudIdentity(t *testing.T) {
	t.Parallel()
	c := &cloud{cfg: Config{GroupsSource: "claims"}}
	if _, err := c.approverGroups(context.Background()); err == nil || !strings.Contains(err.Error(), "QUERYGATE_GROUPS_SOURCE=cloudidentity") {
		t.Errorf("approverGroups with claims = %v, want an error naming QUERYGATE_GROUPS_SOURCE=cloudidentity", err)
	}
}

// TestCloudIdentityGroups checks the adapter against a fake Cloud Identity
// API: members of a known group, ErrUnknownGroup for a 404, and a plain
// fault for a 403.
func TestCloudIdentityGroups(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/groups:lookup" && r.URL.Query().Get("groupKey.id") == "qg-approvers@example.com":
			w.Write([]byte(`{"name":"groups/abc"}`))
		case r.URL.Path == "/v1/groups:lookup" && r.URL.Query().Get("groupKey.id") == "hidden@example.com":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":403,"message":"permission denied"}}`))
		case r.URL.Path == "/v1/groups:lookup":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":404,"message":"not found"}}`))
		case r.URL.Path == "/v1/groups/abc/memberships:searchTransitiveMemberships":
			w.Write([]byte(`{"memberships":[{"preferredMemberKey":[{"id":"Ann@Example.com"}]},{"preferredMemberKey":[{"id":"bo@example.com"}]}]}`))
		default:
			t.Errorf("unexpected request %s", r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ci, err := auth.NewCloudIdentity(context.Background(), map[string]string{"approvers": "qg-approvers@example.com", "hidden": "hidden@example.com"}, 0,
		option.WithEndpoint(srv.URL), option.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	var g approval.Groups = cloudIdentityGroups{ci}
	got, err := g.Members(context.Background(), "approvers")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ann@example.com", "bo@example.com"}, got); diff != "" {
		t.Errorf("Members(approvers) (-want, +got):\n%s", diff)
	}
	if _, err := g.Members(context.Background(), "nobody"); !errors.Is(err, approval.ErrUnknownGroup) {
		t.Errorf("Members(nobody) err = %v, want ErrUnknownGroup", err)
	}
	if _, err := g.Members(context.Background(), "hidden"); err == nil || errors.Is(err, approval.ErrUnknownGroup) {
		t.Errorf("Members(hidden, 403) err = %v, want a fault, not ErrUnknownGroup", err)
	}
}

func TestApprovalMux(t *testing.T) {
	t.Parallel()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page " + r.URL.Path)) })
	for _, tc := range []struct {
		base, path string
		wantCode   int
	}{
		{"https://approvals.example", "/approval", 200},
		{"https://approvals.example", "/approval/decide", 200},
		{"https://approvals.example/", "/approval", 200},
		{"https://approvals.example", "/other", 404},
		{"https://gw.example/qg/", "/qg/approval", 200},
		{"https://gw.example/qg", "/qg/approval/decide", 200},
		{"https://gw.example/qg", "/approval", 404},
	} {
		rec := httptest.NewRecorder()
		approvalMux(tc.base, page).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.wantCode {
			t.Errorf("base %s, GET %s = %d, want %d", tc.base, tc.path, rec.Code, tc.wantCode)
		}
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	h := readOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for method, want := range map[string]int{http.MethodGet: 200, http.MethodHead: 200, http.MethodPost: 405, http.MethodDelete: 405} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/v1/queries", nil))
		if rec.Code != want {
			t.Errorf("%s = %d, want %d", method, rec.Code, want)
		}
		if want == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", method, rec.Header().Get("Allow"))
		}
	}
}

// TestPageOnlyRefuses checks that the approval function's stand-ins for
// mail and groups fail rather than pretend.
func TestPageOnlyRefuses(t *testing.T) {
	t.Parallel()
	if err := (pageOnly{}).Send(context.Background(), mail.Message{To: "a@x", Text: "t"}); !errors.Is(err, errPageOnly) {
		t.Errorf("Send = %v, want errPageOnly", err)
	}
	if m, err := (pageOnly{}).Members(context.Background(), "g"); m != nil || !errors.Is(err, errPageOnly) {
		t.Errorf("Members = %v, %v; want nil, errPageOnly", m, err)
	}
}
