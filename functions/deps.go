package functions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/config"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/secrets"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/setup"
)

// cloud holds the cloud components. cmd/functions builds the selected
// function's at start (Prepare), so a misconfigured instance exits instead
// of serving; only a success is kept, so a transient failure never poisons
// an instance.
type cloud struct {
	cfg      Config
	store    session.Store
	bq       *bigquery.Client
	external auth.Verifier
	internal auth.Verifier
	// now is the clock of every component; nil is time.Now (tests set it).
	now func() time.Time
	// dlpOptions are extra DLP client options (tests: an in-process fake).
	dlpOptions []option.ClientOption

	// The policy analyzer's worker pool, made once (compose.go).
	analyzerOnce sync.Once
	analyzerPool *analyzerproc.Pool
	analyzerErr  error
}

var (
	cloudMu   sync.Mutex
	cloudDeps *cloud

	buildersMu sync.Mutex
	builders   = map[string]*builtHandler{}
)

func getCloud(ctx context.Context) (*cloud, error) {
	cloudMu.Lock()
	defer cloudMu.Unlock()
	if cloudDeps != nil {
		return cloudDeps, nil
	}
	c, err := newCloud(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	cloudDeps = c
	return c, nil
}

// errConfig marks construction failures that a retry cannot mend; it is
// setup's, so that the composition's configuration errors count too.
var errConfig = setup.ErrConfig

func newCloud(ctx context.Context) (*cloud, error) {
	c := &cloud{}
	if err := config.Process(config.OSLookuper(), &c.cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := c.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	var err error
	if c.store, err = session.OpenFirestore(ctx, c.cfg.Project, c.cfg.FirestoreDatabase); err != nil {
		return nil, err
	}
	// Emulator and test endpoints (endpoints.go); production sets none.
	bqOpts, err := restOptions(c.cfg.Endpoints.BigQuery)
	if err != nil {
		return nil, err
	}
	dlpOpts, err := grpcOptions(c.cfg.Endpoints.DLP)
	if err != nil {
		return nil, err
	}
	c.dlpOptions = append(c.dlpOptions, dlpOpts...)
	certs, err := c.cfg.Endpoints.googleCertsClient()
	if err != nil {
		return nil, err
	}
	if c.bq, err = bigquery.NewClient(ctx, c.cfg.Project, bqOpts...); err != nil {
		return nil, fmt.Errorf("bigquery client: %w", err)
	}
	g, err := auth.NewGoogle(ctx, c.cfg.Audience, certs)
	if err != nil {
		return nil, err
	}
	rules, err := auth.ParseIssuerRules(c.cfg.IssuerRules)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	privileged := append(slices.Clone(auth.DefaultPrivilegedGroups), c.cfg.AuditorsGroup, c.cfg.ReidentifyGroup)
	routes := map[string]auth.Verifier{}
	for _, iss := range auth.GoogleIssuers {
		routes[iss] = auth.AllowOnly(g, iss, rules[auth.GoogleIssuers[0]].Principals)
	}
	for _, p := range c.cfg.OIDCIssuers {
		iss, aud, _ := strings.Cut(p, "|")
		r, configured := rules[iss]
		oc := auth.OIDCConfig{Issuer: iss, Audience: aud, RequireVerifiedEmail: true,
			Groups: auth.ClaimGroups{Map: r.Groups.Map, Privileged: privileged, AllowPrivileged: r.Groups.AllowPrivileged}}
		if configured {
			oc.GroupsClaim = cmp.Or(r.GroupsClaim, c.cfg.GroupsClaim)
		}
		v, err := auth.NewOIDC(ctx, oc)
		if err != nil {
			return nil, err
		}
		routes[iss] = auth.AllowOnly(v, iss, r.Principals)
	}
	c.external = auth.NewMulti(routes)
	self, err := auth.NewGoogle(ctx, c.cfg.SelfURL, certs)
	if err != nil {
		return nil, err
	}
	c.internal = auth.NewMulti(map[string]auth.Verifier{auth.GoogleIssuers[0]: self, auth.GoogleIssuers[1]: self})
	return c, nil
}

// builtHandler is one registered function's handler, built once it can be.
type builtHandler struct {
	build func(ctx context.Context, c *cloud) (http.Handler, error)
	mu    sync.Mutex
	h     http.Handler
}

func (b *builtHandler) get(ctx context.Context) (http.Handler, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.h != nil {
		return b.h, nil
	}
	c, err := getCloud(ctx)
	if err != nil {
		return nil, err
	}
	h, err := b.build(context.WithoutCancel(ctx), c)
	if err != nil {
		return nil, err
	}
	b.h = h
	return h, nil
}

// lazy registers the builder of the function name and returns its handler.
// A request before a successful build tries again; a failure answers 503
// and is logged, never exposing details to the caller.
func lazy(name string, build func(ctx context.Context, c *cloud) (http.Handler, error)) http.Handler {
	b := &builtHandler{build: build}
	buildersMu.Lock()
	builders[name] = b
	buildersMu.Unlock()
	return logging.Middleware(os.Getenv("QUERYGATE_PROJECT"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := b.get(r.Context())
		if err != nil {
			logging.FromContext(r.Context()).ErrorContext(r.Context(), "function not configured", "error", err.Error())
			http.Error(w, `{"error":"service unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// Targets lists the registered function names (FUNCTION_TARGET values).
func Targets() []string {
	buildersMu.Lock()
	defer buildersMu.Unlock()
	out := make([]string, 0, len(builders))
	for n := range builders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Prepare builds the handler of function target eagerly, as Cloud Run's
// start-up should: configuration problems fail at once, naming every one;
// other failures (OIDC discovery, a client's first call) are retried with
// backoff, attempts times in all, before giving up.
func Prepare(ctx context.Context, target string, attempts int, backoff time.Duration) error {
	buildersMu.Lock()
	b, ok := builders[target]
	buildersMu.Unlock()
	if !ok {
		return fmt.Errorf("%w: FUNCTION_TARGET %q is not a querygate function; one of %s", errConfig, target, strings.Join(Targets(), ", "))
	}
	var err error
	for i := 0; i < max(attempts, 1); i++ {
		if i > 0 {
			logging.FromContext(ctx).WarnContext(ctx, "function start failed; retrying", "target", target, "attempt", i, "error", err.Error())
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			case <-time.After(backoff << (i - 1)):
			}
		}
		if _, err = b.get(ctx); err == nil || errors.Is(err, errConfig) {
			return err
		}
	}
	return err
}

// secretManager reads the SMTP password and the approval link keys.
func (c *cloud) secretManager(ctx context.Context) (*secrets.SecretManager, error) {
	if c.cfg.ApprovalKeySecret == "" {
		return nil, fmt.Errorf("%w: APPROVAL_KEY_SECRET is required for approval links", errConfig)
	}
	opts, err := grpcOptions(c.cfg.Endpoints.SecretManager)
	if err != nil {
		return nil, err
	}
	return secrets.NewSecretManager(ctx, secrets.Config{LinkKeySecret: c.cfg.ApprovalKeySecret}, opts...)
}

// approverGroups lists the members of approver groups for Notify. Only
// Cloud Identity can: a token's groups claim says which groups its bearer
// is in, not who else is. CloudIdentity.Members has approval.Groups'
// signature; the adapter adds the mapping of a group Cloud Identity
// answers 404 for to approval.ErrUnknownGroup, so notify answers 422
// unknown_group instead of a retryable 502.
func (c *cloud) approverGroups(ctx context.Context) (approval.Groups, error) {
	if c.cfg.GroupsSource != "cloudidentity" {
		return nil, fmt.Errorf("%w: approver groups need QUERYGATE_GROUPS_SOURCE=cloudidentity (with QUERYGATE_GROUP_ALIASES), not %q: token claims cannot list a group's members", errConfig, c.cfg.GroupsSource)
	}
	aliases := map[string]string{}
	for _, a := range c.cfg.GroupAliases {
		n, e, _ := strings.Cut(a, "=")
		aliases[n] = e
	}
	opts, err := restOptions(c.cfg.Endpoints.CloudIdentity)
	if err != nil {
		return nil, err
	}
	ci, err := auth.NewCloudIdentity(ctx, aliases, 5*time.Minute, opts...)
	if err != nil {
		return nil, err
	}
	return cloudIdentityGroups{ci}, nil
}

// cloudIdentityGroups adapts auth.CloudIdentity to approval.Groups.
type cloudIdentityGroups struct{ ci *auth.CloudIdentity }

func (g cloudIdentityGroups) Members(ctx context.Context, group string) ([]string, error) {
	m, err := g.ci.Members(ctx, group)
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusNotFound {
		// Only a 404 is a verdict on the group. A 403 may mean the
		// service account lacks Cloud Identity rights, an operator's
		// problem that must stay a fault (logged, 5xx) rather than become
		// the agent's unknown_group.
		return nil, fmt.Errorf("%w: %w", approval.ErrUnknownGroup, err)
	}
	return m, err
}

// callbackToken returns the token the Approval function sends with the
// decision to the workflow's callback URL. Workflows callback endpoints
// (events.create_callback_endpoint) accept an OAuth 2.0 access token of a
// caller holding workflows.callbacks.send, not an ID token, so the audience
// approval asks for is ignored and the access token of the service's own
// account (the approval SA, from the metadata server) is returned. The
// token source caches the token until shortly before it expires.
func callbackToken(ctx context.Context) (approval.IDTokenFunc, error) {
	ts, err := google.DefaultTokenSource(ctx, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		return nil, fmt.Errorf("callback token source: %w", err)
	}
	ts = oauth2.ReuseTokenSource(nil, ts)
	return func(context.Context, string) (string, error) {
		tok, err := ts.Token()
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}, nil
}
