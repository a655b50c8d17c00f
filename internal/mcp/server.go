// Package mcp serves querygate's tools to MCP hosts (Claude Code, Codex CLI,
// custom agents) over Streamable HTTP at /mcp. It is a thin front door onto
// intake: the same bearer tokens and verifier, the same policy, and one
// querygate session per run_query call. It also serves the OAuth protected
// resource metadata (RFC 9728) through which MCP clients discover which
// token issuers the gateway accepts.
package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// Paths the server is mounted on.
const (
	Path = "/mcp"
	// MetadataPath is RFC 9728's well-known location; MetadataPath+Path is
	// the path-specific one for the resource <base>/mcp, which the 401's
	// WWW-Authenticate header names.
	MetadataPath = "/.well-known/oauth-protected-resource"
)

// Policy decides a session as the workflow's policy step would
// (gateway.EnginePolicy): explain_policy, describe_table and list_datasets
// ask it, and never run anything.
type Policy interface {
	Evaluate(ctx context.Context, s *session.Session) (*session.Decision, error)
}

// Tables reads table schemas (catalog.BigQuery).
type Tables interface {
	Table(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error)
}

// Datasets lists the datasets of a project and their tables (BigQuery in
// bigquery.go).
type Datasets interface {
	ListDatasets(ctx context.Context, project string) ([]Dataset, error)
}

// Dataset is one dataset and the tables it holds.
type Dataset struct {
	Project string   `json:"project"`
	Dataset string   `json:"dataset"`
	Tables  []string `json:"tables"`
}

// Config configures a Server. Every member but Logger and Now is required.
type Config struct {
	Intake   *intake.Server
	Policy   Policy
	Tables   Tables
	Datasets Datasets
	// Projects are the projects the policy governs, the default first:
	// list_datasets lists these and describe_table qualifies names with the
	// first.
	Projects []string
	// HiddenDatasets are left out of list_datasets (querygate's own audit
	// dataset). Hiding is not access control: the policy still decides.
	HiddenDatasets []string
	// Issuers are the token issuers the gateway accepts, published as the
	// resource metadata's authorization_servers.
	Issuers []string
	// PublicURL is the gateway's external base URL.
	PublicURL string
	Version   string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Validate reports every missing member.
func (c *Config) Validate() error {
	var errs []error
	if c.Intake == nil {
		errs = append(errs, errors.New("mcp: Intake is required"))
	}
	if c.Policy == nil {
		errs = append(errs, errors.New("mcp: Policy is required"))
	}
	if c.Tables == nil {
		errs = append(errs, errors.New("mcp: Tables is required"))
	}
	if c.Datasets == nil {
		errs = append(errs, errors.New("mcp: Datasets is required"))
	}
	if len(c.Projects) == 0 {
		errs = append(errs, errors.New("mcp: Projects must name at least the default project"))
	}
	if len(c.Issuers) == 0 {
		errs = append(errs, errors.New("mcp: Issuers must name the accepted token issuers"))
	}
	if !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		errs = append(errs, errors.New("mcp: PublicURL must be an http(s) URL"))
	}
	return errors.Join(errs...)
}

// Projects returns the projects pol governs with first (the deployment's
// default project) first and no repeats, for Config.Projects.
func Projects(first string, pol *policy.Policy) []string {
	out := []string{}
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(first)
	if pol != nil {
		add(pol.Defaults.DefaultProject)
		for _, p := range pol.Defaults.Projects {
			add(p)
		}
	}
	return out
}

// Server is the MCP front door.
type Server struct {
	cfg Config
	srv *sdk.Server
}

// New builds the server and registers its tools.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg}
	s.srv = sdk.NewServer(&sdk.Implementation{Name: "querygate", Title: "querygate", Version: cfg.Version},
		&sdk.ServerOptions{Instructions: instructions, Logger: sdkLogger(cfg.Logger)})
	if err := s.addTools(); err != nil {
		return nil, err
	}
	return s, nil
}

const instructions = `querygate runs BigQuery SQL for you under a data-access policy.
Call explain_policy to learn whether a query would run, need a person's approval, or be denied, and why, without running it.
Call describe_table to see a table's columns and which of them come back masked, and list_datasets to find tables.
run_query runs one query and returns rows; columns derived from personal data are de-identified.
A query that needs approval returns status pending_approval with a session id: call get_session with that id (and a wait) to get the result once a person approves it.
Denials come back as tool errors whose reasons say what to change.`

// Register mounts /mcp and the resource metadata on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(Path, s.Handler())
	meta := s.MetadataHandler()
	mux.Handle("GET "+MetadataPath, meta)
	mux.Handle("GET "+MetadataPath+Path, meta)
}

// ResourceMetadataURL is the URL a 401 from /mcp points clients at.
func (s *Server) ResourceMetadataURL() string {
	return s.cfg.PublicURL + MetadataPath + Path
}

// Handler serves the Streamable HTTP transport. Every request must carry a
// bearer token that intake's verifier accepts; others get 401 with a
// WWW-Authenticate header naming the resource metadata. The transport is
// stateless, so any instance can serve any request and the principal is
// re-established from each request's own token.
func (s *Server) Handler() http.Handler {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.srv },
		&sdk.StreamableHTTPOptions{Stateless: true, Logger: sdkLogger(s.cfg.Logger), MaxRequestBodyBytes: intake.MaxBodyBytes})
	return sdkauth.RequireBearerToken(s.verify, &sdkauth.RequireBearerTokenOptions{
		ResourceMetadataURL: s.ResourceMetadataURL(),
		// The verifier behind Identify checks exp and the lifetime itself.
		AllowMissingExpiration: true,
	})(h)
}

const principalKey = "querygate_principal"

// verify adapts intake.Identify to the SDK's bearer middleware. Messages
// are intake's, never the verifier's reason.
func (s *Server) verify(ctx context.Context, token string, _ *http.Request) (*sdkauth.TokenInfo, error) {
	p, err := s.cfg.Intake.Identify(ctx, token)
	switch {
	case errors.Is(err, intake.ErrGroupsUnavailable):
		return nil, intake.ErrGroupsUnavailable
	case err != nil:
		return nil, fmt.Errorf("%w: %w", sdkauth.ErrInvalidToken, intake.ErrUnauthenticated)
	}
	return &sdkauth.TokenInfo{UserID: intake.ReaderKey(p), Extra: map[string]any{principalKey: p}}, nil
}

// principal returns the verified caller of a tool call.
func principal(req *sdk.CallToolRequest) (*session.Principal, error) {
	if req == nil || req.Extra == nil || req.Extra.TokenInfo == nil {
		return nil, errNoPrincipal
	}
	p, ok := req.Extra.TokenInfo.Extra[principalKey].(*session.Principal)
	if !ok || p == nil {
		return nil, errNoPrincipal
	}
	// Each call gets its own copy: tools must not share a mutable principal.
	c := *p
	c.Groups = append([]string(nil), p.Groups...)
	return &c, nil
}

var errNoPrincipal = errors.New("the request carries no verified identity; send an OIDC ID token as \"Authorization: Bearer <token>\"")

// MetadataHandler serves RFC 9728 protected resource metadata. The
// resource is <base>/mcp at the path-specific location and <base> at the
// root one, as §3.3 requires the resource to match the URL it was derived
// from; authorization_servers are the accepted token issuers.
func (s *Server) MetadataHandler() http.Handler {
	issuers := []string{}
	for _, iss := range s.cfg.Issuers {
		// Only URL issuers are authorization server identifiers (RFC 8414);
		// Google's bare "accounts.google.com" alias is not one.
		if strings.HasPrefix(iss, "https://") || strings.HasPrefix(iss, "http://") {
			issuers = append(issuers, iss)
		}
	}
	mk := func(resource string) http.Handler {
		return sdkauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:               resource,
			AuthorizationServers:   issuers,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "querygate",
			ResourceDocumentation:  s.cfg.PublicURL + "/openapi.json",
		})
	}
	root, mcpRes := mk(s.cfg.PublicURL), mk(s.cfg.PublicURL+Path)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		if strings.HasSuffix(r.URL.Path, Path) {
			mcpRes.ServeHTTP(w, r)
			return
		}
		root.ServeHTTP(w, r)
	})
}

// sdkLogger passes only the SDK's warnings and errors: it logs every
// stateless request's session start and end at Info, which is noise.
func sdkLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}
func (m minLevel) WithGroup(n string) slog.Handler { return minLevel{m.Handler.WithGroup(n), m.min} }
