// Package approval implements just-in-time human approval of held queries:
// the notify step that mails signed Approve and Deny links to the members of
// the approver group, the server-rendered approval page those links open,
// and the decision that is recorded on the session and sent to the
// workflow's callback.
//
// Mail scanners follow links, so a GET only shows the page. Only the POST
// from that page decides, and only after checking the link's signature,
// expiry and single use, the CSRF token, that the session is still pending,
// that the approver is not the requester and that the SQL, the default
// dataset and the parameters are still the ones the link was signed for.
//
// The mail and the page show what will run (default dataset, parameters,
// SQL) first and what the agent wrote (its name, the prompt) last, quoted,
// with every control or format character shown as <U+XXXX>. The workflow
// acts on the decision recorded here (ReadDecision), never on the body of
// its callback.
package approval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
)

// Config holds the settings of the approval service.
type Config struct {
	// PublicBaseURL is where approvers reach the gateway, e.g.
	// "https://querygate.example.com". Links are
	// {PublicBaseURL}/approval?token=...
	PublicBaseURL string `env:"PUBLIC_BASE_URL"`
	// DefaultTTL applies when the policy decision names no approval TTL.
	DefaultTTL time.Duration `env:"APPROVAL_DEFAULT_TTL, default=1h"`
	// MaxTTL caps any TTL, so a misconfigured rule cannot mint links that
	// live for weeks.
	MaxTTL time.Duration `env:"APPROVAL_MAX_TTL, default=24h"`
	// CallbackURLPrefixes, when set, lists the only URL prefixes a callback
	// URL may start with. The decision is sent there with querygate's own
	// token, so this keeps the token from going anywhere else.
	CallbackURLPrefixes []string `env:"APPROVAL_CALLBACK_URL_PREFIXES"`
	// RequireIAP makes the decision also require a valid IAP assertion
	// whose email is the link's approver.
	RequireIAP bool `env:"APPROVAL_REQUIRE_IAP"`
	// IAPAudience is the expected audience of the IAP assertion:
	// /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID or
	// /projects/PROJECT_NUMBER/apps/PROJECT_ID.
	IAPAudience string `env:"APPROVAL_IAP_AUDIENCE"`
	// Actor is the name recorded as the actor of the approval.requested
	// event.
	Actor string `env:"APPROVAL_ACTOR, default=querygate-approval"`
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.PublicBaseURL)
	switch {
	case c.PublicBaseURL == "":
		errs = append(errs, errors.New("public base URL is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("public base URL %q must be an absolute http(s) URL without query", c.PublicBaseURL))
	}
	if c.DefaultTTL < 0 || c.MaxTTL < 0 {
		errs = append(errs, errors.New("approval TTLs must not be negative"))
	}
	if c.RequireIAP && c.IAPAudience == "" {
		errs = append(errs, errors.New("IAP audience is required when IAP is required"))
	}
	return errors.Join(errs...)
}

// Mailer sends one message. *mail.Sender implements it.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// IDTokenFunc returns a bearer token for calling audience: an OAuth access
// token or ID token in the cloud, the dev issuer's token locally.
type IDTokenFunc func(ctx context.Context, audience string) (string, error)

// Deps are the ports the service uses. Store, State, Keys, Groups, Mailer
// and IDToken are required; IAP is required when Config.RequireIAP.
type Deps struct {
	Store   session.Store
	State   StateStore
	Keys    Keys
	Groups  Groups
	Mailer  Mailer
	IDToken IDTokenFunc
	// IAP verifies IAP assertions; see auth.NewIAP.
	IAP IAPVerifier
	// HTTPClient posts to the callback URL; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service holds the approval logic shared by the notify and page handlers.
type Service struct {
	cfg  Config
	deps Deps
	base *url.URL
	now  func() time.Time
	iap  IAPVerifier // nil unless Config.RequireIAP
}

// New validates cfg and deps and returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = time.Hour
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = 24 * time.Hour
	}
	if cfg.Actor == "" {
		cfg.Actor = "querygate-approval"
	}
	errs := []error{cfg.Validate()}
	if deps.Store == nil {
		errs = append(errs, errors.New("session store is required"))
	}
	if deps.State == nil {
		errs = append(errs, errors.New("approval state store is required"))
	}
	if deps.Keys == nil {
		errs = append(errs, errors.New("link signing keys are required"))
	}
	if deps.Groups == nil {
		errs = append(errs, errors.New("groups port is required"))
	}
	if deps.Mailer == nil {
		errs = append(errs, errors.New("mailer is required"))
	}
	if deps.IDToken == nil {
		errs = append(errs, errors.New("callback token source is required"))
	}
	if cfg.RequireIAP && deps.IAP == nil {
		errs = append(errs, errors.New("IAP verifier is required when IAP is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	base, _ := url.Parse(strings.TrimRight(cfg.PublicBaseURL, "/"))
	s := &Service{cfg: cfg, deps: deps, base: base, now: now}
	if cfg.RequireIAP {
		s.iap = deps.IAP
	}
	return s, nil
}

// link returns the approval page URL for a token.
func (s *Service) link(token string) string {
	u := *s.base
	u.Path = s.base.Path + "/approval"
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// decidePath is the form action of the page, relative to the host.
func (s *Service) decidePath() string { return s.base.Path + "/approval/decide" }

// secureCookies reports whether cookies get the Secure attribute.
func (s *Service) secureCookies() bool { return s.base.Scheme == "https" }

// cookiePath scopes the CSRF cookie to the approval pages.
func (s *Service) cookiePath() string { return s.base.Path + "/approval" }

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// requester returns the identity approvers are compared with: the verified
// email, or the subject when the principal has none.
func requester(ss *session.Session) string {
	if ss.Principal.Email != "" {
		return normEmail(ss.Principal.Email)
	}
	return normEmail(ss.Principal.Subject)
}
