// Package functions holds querygate's Cloud Run functions. Each file
// registers one function with functions-framework-go in init() and is a thin
// HTTP adapter over internal/: decode, authorize, call, encode. The
// functions share one image; FUNCTION_TARGET selects which one a service
// runs (cmd/functions).
package functions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/mail"
)

// Config is the cloud configuration, from environment variables set by
// Terraform.
type Config struct {
	Project string `env:"QUERYGATE_PROJECT"`
	// DataProject holds the datasets agents query: the policy engine's
	// default project for unqualified table names and the catalog's
	// project. Empty is Project.
	DataProject string `env:"QUERYGATE_DATA_PROJECT"`
	Location    string `env:"QUERYGATE_LOCATION, default=us-central1"`
	// PublicURL is the external base URL of the gateway (load balancer /
	// IAP), used in session and approval links.
	PublicURL string `env:"QUERYGATE_PUBLIC_URL"`
	// Audience is the audience agents' ID tokens must carry.
	Audience string `env:"QUERYGATE_AUDIENCE"`
	// SelfURL is this service's URL: the audience of the workflow's and
	// the approval function's tokens.
	SelfURL string `env:"QUERYGATE_SELF_URL"`
	// OIDCIssuers lists extra trusted issuers as issuer|audience pairs,
	// comma-separated (GitHub Actions, Okta).
	OIDCIssuers []string `env:"QUERYGATE_OIDC_ISSUERS"`
	// GroupsClaim is the claim name for issuers whose rules name none.
	GroupsClaim string `env:"QUERYGATE_GROUPS_CLAIM, default=groups"`
	// IssuerRules gives, per trusted issuer, which claim lists groups,
	// how claim values map to groups, which privileged groups (approvers,
	// auditors, re-identifiers) claims may grant, and an optional
	// allow-list of principals (auth.ParseIssuerRules):
	// issuer|claim=NAME|map=value:group;...|privileged=group;...|principals=email;...
	// An issuer without an entry grants no group from its claims, and no
	// claim grants a privileged group unless privileged= names it.
	IssuerRules []string `env:"QUERYGATE_ISSUER_RULES"`
	// GroupsSource is "claims" (groups from the verified token only) or
	// "cloudidentity" (transitive Cloud Identity membership plus claims).
	GroupsSource string `env:"QUERYGATE_GROUPS_SOURCE, default=claims"`
	// GroupAliases maps policy group names to group emails: name=email,
	// comma-separated.
	GroupAliases []string `env:"QUERYGATE_GROUP_ALIASES"`
	// WorkflowServiceAccount may call policy, notify, execute, deidentify
	// and record; ApprovalServiceAccount may call workflow callbacks.
	WorkflowServiceAccount string `env:"QUERYGATE_WORKFLOW_SA"`
	ApprovalServiceAccount string `env:"QUERYGATE_APPROVAL_SA"`
	AuditorsGroup          string `env:"QUERYGATE_AUDITORS_GROUP, default=auditors"`
	// ReidentifyGroup may reverse deterministic tokens of sessions it can
	// read; each use is an audit event.
	ReidentifyGroup   string `env:"QUERYGATE_REIDENTIFY_GROUP, default=reidentifiers"`
	FirestoreDatabase string `env:"QUERYGATE_FIRESTORE_DATABASE, default=(default)"`
	AuditDataset      string `env:"QUERYGATE_AUDIT_DATASET, default=querygate_audit"`
	AuditTable        string `env:"QUERYGATE_AUDIT_TABLE, default=session_events"`
	Workflow          string `env:"QUERYGATE_WORKFLOW, default=query-session"`
	// ResultsDataset receives query results so that the deidentify
	// function's account can read what the execute function's job wrote.
	ResultsDataset string `env:"QUERYGATE_RESULTS_DATASET, default=querygate_results"`
	// DLPInspectTemplate and DLPDeidentifyTemplate are the full names of the
	// DLP templates terraform/dlp.tf builds from the masking file; when set,
	// DLP requests name them (deid.WithTemplates). Empty sends the masking
	// file's config inline.
	DLPInspectTemplate    string `env:"QUERYGATE_DLP_INSPECT_TEMPLATE"`
	DLPDeidentifyTemplate string `env:"QUERYGATE_DLP_DEIDENTIFY_TEMPLATE"`
	// PolicyFile and MaskingFile are paths inside the image or a mounted
	// secret volume; empty uses the built-in defaults.
	PolicyFile  string        `env:"QUERYGATE_POLICY_FILE"`
	MaskingFile string        `env:"QUERYGATE_MASKING_FILE"`
	MaxRows     int64         `env:"QUERYGATE_MAX_ROWS, default=10000"`
	MaxBytes    int64         `env:"QUERYGATE_MAX_BYTES, default=8388608"`
	JobTimeout  time.Duration `env:"QUERYGATE_JOB_TIMEOUT, default=5m"`
	Retention   time.Duration `env:"QUERYGATE_RETENTION, default=9600h"`

	// Analyzer is where the policy function runs the SQL analyzer:
	// "process" (recycled, time-boxed worker processes of this binary,
	// internal/analyzerproc) or "in-process". The worker settings bound
	// each worker's analyses, its memory and one analysis's time.
	Analyzer            string        `env:"QUERYGATE_ANALYZER, default=process"`
	AnalyzerWorkers     int           `env:"QUERYGATE_ANALYZER_WORKERS, default=1"`
	AnalyzerMaxAnalyses int           `env:"QUERYGATE_ANALYZER_MAX_ANALYSES, default=1000"`
	AnalyzerMaxRSSMB    int64         `env:"QUERYGATE_ANALYZER_MAX_RSS_MB, default=512"`
	AnalyzerTimeout     time.Duration `env:"QUERYGATE_ANALYZER_TIMEOUT, default=10s"`

	// Approval is the approval settings of the Notify and Approval
	// functions, under the names internal/approval.Config gives them:
	// PUBLIC_BASE_URL (where approvers open links), APPROVAL_DEFAULT_TTL,
	// APPROVAL_MAX_TTL, APPROVAL_CALLBACK_URL_PREFIXES, and
	// APPROVAL_REQUIRE_IAP with APPROVAL_IAP_AUDIENCE (the decision also
	// needs an IAP assertion for the link's approver; set both on the
	// Approval function once IAP fronts it). Only those two functions read
	// it; approval.New checks it in full when they start.
	Approval approval.Config
	// SMTP is how Notify mails approvers, under the names
	// internal/mail.SMTPConfig gives them: SMTP_HOST, SMTP_PORT (0 picks
	// 25, 587 or 465 by SMTP_TLS), SMTP_TLS (none, starttls or implicit),
	// SMTP_USERNAME, SMTP_PASSWORD_SECRET (a Secret Manager version,
	// projects/P/secrets/S/versions/latest, read at send time) and
	// SMTP_FROM. Only Notify reads it; mail.NewSender checks it in full.
	SMTP mail.SMTPConfig
	// ApprovalKeySecret is the Secret Manager secret whose versions are the
	// HMAC keys of approval links, projects/P/secrets/S: Notify signs with
	// the latest version, Approval verifies with the version a link names
	// (internal/secrets).
	ApprovalKeySecret string `env:"APPROVAL_KEY_SECRET"`

	// SchedulerServiceAccount is the only caller of Reconcile (Cloud
	// Scheduler's OIDC token, terraform/reconcile.tf); only Reconcile
	// reads it, and requires it.
	SchedulerServiceAccount string `env:"QUERYGATE_SCHEDULER_SA"`
	// Endpoints holds emulator and test endpoints (endpoints.go). Terraform
	// sets none of them; production reaches Google's own endpoints.
	Endpoints Endpoints
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	req := map[string]string{"QUERYGATE_PROJECT": c.Project, "QUERYGATE_PUBLIC_URL": c.PublicURL, "QUERYGATE_AUDIENCE": c.Audience,
		"QUERYGATE_SELF_URL": c.SelfURL, "QUERYGATE_WORKFLOW_SA": c.WorkflowServiceAccount, "QUERYGATE_APPROVAL_SA": c.ApprovalServiceAccount}
	for _, k := range []string{"QUERYGATE_PROJECT", "QUERYGATE_PUBLIC_URL", "QUERYGATE_AUDIENCE", "QUERYGATE_SELF_URL", "QUERYGATE_WORKFLOW_SA", "QUERYGATE_APPROVAL_SA"} {
		if req[k] == "" {
			errs = append(errs, fmt.Errorf("%s is required", k))
		}
	}
	for _, p := range c.OIDCIssuers {
		if iss, aud, ok := strings.Cut(p, "|"); !ok || !strings.HasPrefix(iss, "https://") || aud == "" {
			errs = append(errs, fmt.Errorf("QUERYGATE_OIDC_ISSUERS entry %q must be https-issuer|audience", p))
		}
	}
	if _, err := auth.ParseIssuerRules(c.IssuerRules); err != nil {
		errs = append(errs, fmt.Errorf("QUERYGATE_ISSUER_RULES: %w", err))
	}
	if c.GroupsSource != "claims" && c.GroupsSource != "cloudidentity" {
		errs = append(errs, fmt.Errorf("QUERYGATE_GROUPS_SOURCE must be claims or cloudidentity, not %q", c.GroupsSource))
	}
	for _, a := range c.GroupAliases {
		if n, e, ok := strings.Cut(a, "="); !ok || n == "" || !strings.Contains(e, "@") {
			errs = append(errs, fmt.Errorf("QUERYGATE_GROUP_ALIASES entry %q must be name=group-email", a))
		}
	}
	if c.MaxRows <= 0 || c.MaxBytes <= 0 {
		errs = append(errs, errors.New("QUERYGATE_MAX_ROWS and QUERYGATE_MAX_BYTES must be positive"))
	}
	if c.Analyzer != "process" && c.Analyzer != "in-process" {
		errs = append(errs, fmt.Errorf("QUERYGATE_ANALYZER must be process or in-process, not %q", c.Analyzer))
	}
	if c.AnalyzerWorkers <= 0 || c.AnalyzerMaxAnalyses <= 0 || c.AnalyzerMaxRSSMB <= 0 || c.AnalyzerTimeout <= 0 {
		errs = append(errs, errors.New("QUERYGATE_ANALYZER_WORKERS, QUERYGATE_ANALYZER_MAX_ANALYSES, QUERYGATE_ANALYZER_MAX_RSS_MB and QUERYGATE_ANALYZER_TIMEOUT must be positive"))
	}
	errs = append(errs, c.validateApproval()...)
	errs = append(errs, c.Endpoints.validate()...)
	return errors.Join(errs...)
}

var (
	secretNameRE  = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+$`)
	versionNameRE = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+/versions/[^/]+$`)
)

// validateApproval checks the approval and mail settings that are set.
// Whether they are required depends on the function, so the Notify and
// Approval builders check presence (deps.go).
func (c *Config) validateApproval() []error {
	var errs []error
	if c.ApprovalKeySecret != "" && !secretNameRE.MatchString(c.ApprovalKeySecret) {
		errs = append(errs, fmt.Errorf("APPROVAL_KEY_SECRET %q must be a secret, projects/P/secrets/S, not a version", c.ApprovalKeySecret))
	}
	if c.SMTP.PasswordSecret != "" && !versionNameRE.MatchString(c.SMTP.PasswordSecret) {
		errs = append(errs, fmt.Errorf("SMTP_PASSWORD_SECRET %q must be a secret version, projects/P/secrets/S/versions/latest", c.SMTP.PasswordSecret))
	}
	if c.Approval.RequireIAP && c.Approval.IAPAudience == "" {
		errs = append(errs, errors.New("APPROVAL_REQUIRE_IAP needs APPROVAL_IAP_AUDIENCE"))
	}
	return errs
}
