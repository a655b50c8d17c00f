// Package setup is querygate's one composition: from a set of ports (the
// warehouse, the session store, the orchestrator, the de-identifier, the
// verifiers, groups, mailer, keys, clock and logger) and one Config it
// builds the policy engine (catalog, profiler, dry run), the workflow
// steps, intake, approval, the MCP and BigQuery front doors and the
// gateway's routes. `querygate dev` (internal/gateway/local) fills the ports
// with the embedded stand-ins, the Cloud Run functions with Google clients;
// neither constructs these components itself, so no option is wired in one
// mode only.
package setup

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/catalog"
	"github.com/querygate/querygate/internal/classify"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/gateway"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/limits"
	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/reconcile"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/warehouse"
)

// DefaultCatalogTTL is how long table schemas are cached when Config names
// no CatalogTTL.
const DefaultCatalogTTL = 5 * time.Minute

// Config is every option of the composition, the same in both modes.
type Config struct {
	// Policy is the loaded policy (LoadPolicy); nil is the default policy.
	Policy *policy.Policy
	// Analyzer, when set, runs the SQL analysis out of process (recycled,
	// time-boxed workers, internal/analyzerproc); nil analyzes in process.
	Analyzer policy.Analyzer
	// Project runs the BigQuery jobs; DataProject holds the datasets agents
	// query: the policy engine's and the steps' default project for
	// unqualified table names, and the project MCP lists first. Empty
	// DataProject is Project.
	Project, DataProject string
	// ResultsDataset receives each job's result table (steps.Steps);
	// empty uses the warehouse's anonymous result.
	ResultsDataset string
	// DeleteJobRecords makes the record step delete each job's record with
	// its result (warehouse.WithJobRecordDeletion): for a warehouse that
	// keeps a copy of the rows there (the embedded BigQuery), not BigQuery.
	DeleteJobRecords bool
	// AuditDataset and AuditTable hold the audit events; both hidden from
	// MCP's list_datasets, as is ResultsDataset.
	AuditDataset, AuditTable string
	// PublicURL is the gateway's external base URL.
	PublicURL string
	Limits    steps.Limits
	// DryRun makes the policy engine dry-run every request in BigQuery and
	// cross-check it (catalog.DryRunner). Only for real BigQuery: the
	// emulator's dry run executes the query and reports neither the
	// referenced tables nor the bytes, so it checks nothing.
	DryRun bool
	// Profile wires the profiler (internal/classify) into the policy
	// engine; it samples only when the policy's profiling section enables
	// it, and keeps profiles for the policy's profiling.ttl.
	Profile bool
	// CatalogTTL caches table schemas; 0 is DefaultCatalogTTL.
	CatalogTTL time.Duration
	// AuditorsGroup may read every session; ReidentifyGroup may reverse
	// deterministic tokens.
	AuditorsGroup, ReidentifyGroup string
	// Issuers are published as MCP's authorization servers.
	Issuers []string
	// WorkflowCallers may call the step endpoints of the routes.
	WorkflowCallers []string
	// Approval configures the approval service.
	Approval approval.Config
}

// Ports are the outside services the composition runs on. A nil port
// leaves out the components that need it (see Build), so that a Cloud Run
// function holds only the clients its own service account may use.
type Ports struct {
	// BigQuery is the warehouse: jobs, schemas, dry runs, audit inserts,
	// the dataset listing of MCP. Needed by the engine, steps and MCP.
	BigQuery *bigquery.Client
	// Store holds sessions and table profiles.
	Store session.Store
	// Deidentifier masks results; Inspector samples tables for the
	// profiler; Reidentifier reverses deterministic tokens (optional).
	Deidentifier deid.Deidentifier
	Inspector    deid.Inspector
	Reidentifier intake.Reidentifier
	// Orchestrator starts the query-session workflow; with External it
	// enables intake and the front doors.
	Orchestrator intake.Orchestrator
	// External verifies agents', approvers' and auditors' tokens;
	// Internal verifies the workflow's and approval's tokens.
	External, Internal auth.Verifier
	// Groups resolves the groups of a verified caller.
	Groups auth.Groups
	// ApprovalState enables the approval service, with Keys (link keys),
	// ApproverGroups (members of approver groups), Mailer, CallbackToken
	// (the token sent with a decision to the workflow's callback) and the
	// optional IAP verifier.
	ApprovalState  approval.StateStore
	Keys           approval.Keys
	ApproverGroups approval.Groups
	Mailer         approval.Mailer
	CallbackToken  approval.IDTokenFunc
	IAP            approval.IAPVerifier
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives application logs (never cell values); nil discards.
	Logger *slog.Logger
}

// Components are what Build constructed. A component whose ports were
// missing is nil.
type Components struct {
	Engine *policy.Engine
	// Limits enforces the policy's per-principal limits in intake and the
	// steps; nil when the policy sets none (limits.go).
	Limits *limits.Enforcer
	// Profiler and DryRunner are what the engine was given (nil when
	// off), so callers and tests can see the wiring.
	Profiler  *classify.Profiler
	DryRunner policy.DryRunner
	Catalog   *catalog.BigQuery
	Audit     *audit.Writer
	Steps     *steps.Steps
	Intake    *intake.Server
	// Reidentify is set when the Reidentifier port and the audit writer
	// are.
	Reidentify  *intake.ReidentifyConfig
	MCP         *mcp.Server
	BigQueryAPI *bqapi.Server
	Approval    *approval.Service
	// Reconciler ends sessions their workflow execution left open; built
	// when the steps are and the Orchestrator port reads executions.
	Reconciler *reconcile.Reconciler
	// Routes mount every built component; the caller adds Extra handlers
	// and wraps it (host checks, logging middleware).
	Routes *gateway.Routes
	// Logger and Now are the resolved logger and clock every component got.
	Logger *slog.Logger
	Now    func() time.Time
}

// Build constructs every component whose ports are set:
//   - the engine, catalog and audit writer need BigQuery; steps need them,
//     Store and Deidentifier; the profiler needs Inspector and Store;
//   - intake needs External, Store and Orchestrator; MCP needs intake and
//     the engine, the BigQuery API intake;
//   - approval needs ApprovalState and Store.
//
// A caller that needs a component checks that it is not nil (Require).
func Build(ctx context.Context, cfg Config, p Ports) (*Components, error) {
	c := &Components{Logger: p.Logger, Now: p.Now}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	pol := cfg.Policy
	if pol == nil {
		pol = policy.Default()
	}
	dataProject := cmp.Or(cfg.DataProject, cfg.Project)
	enf, err := buildLimits(pol, cfg, p, c)
	if err != nil {
		return nil, err
	}
	var ep *gateway.EnginePolicy
	if p.BigQuery != nil {
		c.Catalog = catalog.New(p.BigQuery, cmp.Or(cfg.CatalogTTL, DefaultCatalogTTL))
		// querygate's own datasets are out of every agent's reach, under
		// whatever names they are configured (besides the querygate_ prefix).
		opts := []policy.EngineOption{policy.WithClock(c.Now), policy.WithReservedDatasets(cfg.AuditDataset, cfg.ResultsDataset)}
		if cfg.DryRun {
			c.DryRunner = catalog.NewDryRunner(p.BigQuery)
			opts = append(opts, policy.WithDryRunner(c.DryRunner))
		}
		if cfg.Profile {
			if p.Inspector == nil || p.Store == nil {
				return nil, fmt.Errorf("%w: the profiler needs an inspector and a session store", ErrConfig)
			}
			c.Profiler = classify.ForPolicy(pol, warehouse.New(p.BigQuery), p.Inspector, p.Store)
			opts = append(opts, c.Profiler.EngineOption())
		}
		if cfg.Analyzer != nil {
			opts = append(opts, policy.WithAnalyzer(cfg.Analyzer))
		}
		c.Engine = policy.NewEngine(pol, c.Catalog, opts...)
		ep = &gateway.EnginePolicy{Engine: c.Engine, DefaultProject: dataProject}
		if cfg.AuditDataset != "" && cfg.AuditTable != "" {
			c.Audit = audit.NewWriter(p.BigQuery, cfg.AuditDataset, cfg.AuditTable)
		}
		if p.Store != nil && p.Deidentifier != nil && c.Audit != nil {
			var whOpts []warehouse.Option
			if cfg.DeleteJobRecords {
				whOpts = append(whOpts, warehouse.WithJobRecordDeletion())
			}
			c.Steps = &steps.Steps{Store: p.Store, Policy: ep, Warehouse: warehouse.New(p.BigQuery, whOpts...), Deid: p.Deidentifier,
				Audit: c.Audit, Project: dataProject, ResultsDataset: cfg.ResultsDataset, Limits: cfg.Limits, Now: c.Now, Logger: c.Logger}
			if enf != nil {
				c.Steps.Policy, c.Steps.Settler = &limits.Policy{Next: ep, Enforcer: enf}, enf
			}
		}
	}
	if p.External != nil && p.Store != nil && p.Orchestrator != nil {
		groups := p.Groups
		if groups == nil {
			groups = &auth.Static{TrustClaims: true}
		}
		c.Intake = &intake.Server{Verifier: p.External, Groups: groups, Store: p.Store, Orchestrator: p.Orchestrator,
			AuditorsGroup: cfg.AuditorsGroup, PublicURL: cfg.PublicURL, Retention: cfg.Limits.WithDefaults().Retention, Now: c.Now, Logger: c.Logger}
		if enf != nil {
			c.Intake.Limits = enf
		}
		c.BigQueryAPI = &bqapi.Server{Intake: c.Intake, Logger: c.Logger}
		if p.Reidentifier != nil && c.Audit != nil {
			c.Reidentify = &intake.ReidentifyConfig{Reidentifier: p.Reidentifier, Audit: c.Audit, Group: cfg.ReidentifyGroup}
		}
		if ep != nil {
			var hidden []string
			for _, d := range []string{cfg.AuditDataset, cfg.ResultsDataset} {
				if d != "" {
					hidden = append(hidden, d)
				}
			}
			m, err := mcp.New(mcp.Config{Intake: c.Intake, Policy: ep, Tables: c.Catalog, Datasets: mcp.NewBigQuery(p.BigQuery),
				Projects: mcp.Projects(dataProject, pol), HiddenDatasets: hidden, Issuers: cfg.Issuers,
				PublicURL: cfg.PublicURL, Logger: c.Logger, Now: c.Now})
			if err != nil {
				return nil, fmt.Errorf("%w: mcp: %w", ErrConfig, err)
			}
			c.MCP = m
		}
	}
	if p.ApprovalState != nil && p.Store != nil {
		// Secret Manager and SMTP calls get the steps' CallTimeout (bounded.go).
		callTimeout := cfg.Limits.CallTimeout
		if callTimeout <= 0 {
			callTimeout = steps.DefaultLimits.CallTimeout
		}
		keys, mailer := boundApproval(p.Keys, p.Mailer, callTimeout)
		svc, err := approval.New(cfg.Approval, approval.Deps{Store: p.Store, State: p.ApprovalState, Keys: keys,
			Groups: p.ApproverGroups, Mailer: mailer, IDToken: p.CallbackToken, IAP: p.IAP, Now: c.Now})
		if err != nil {
			return nil, fmt.Errorf("approval: %w", err)
		}
		c.Approval = svc
	}
	// The reconciler (internal/reconcile): the record step, and an
	// orchestrator that reads executions (the local runtime, the cloud's
	// Executions API client).
	if ex, ok := p.Orchestrator.(reconcile.Executions); ok && c.Steps != nil {
		r, err := reconcile.New(reconcile.Config{Store: p.Store, Executions: ex, Recorder: c.Steps, Now: p.Now, Logger: c.Logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		c.Reconciler = r
	}
	// The BigQuery front door describes source tables with MCP's
	// describe_table logic, and its jobs.cancel withdraws a held query
	// through approval, in whichever process has them (issue 14).
	if c.BigQueryAPI != nil {
		if c.MCP != nil {
			c.BigQueryAPI.Sources = c.MCP
		}
		if c.Approval != nil {
			c.BigQueryAPI.Withdraw = c.Approval
		} else {
			// Without the approval service (the cloud's Intake function may
			// not send workflow callbacks) the withdrawal is recorded and the
			// workflow reads it when the approval window closes.
			c.BigQueryAPI.Withdraw = approval.RecordWithdrawal{Store: p.Store, Now: c.Now}
		}
	}
	c.Routes = &gateway.Routes{Intake: c.Intake, Steps: c.Steps, MCP: c.MCP, Approval: c.Approval, Internal: p.Internal,
		WorkflowCallers: cfg.WorkflowCallers, Reidentify: c.Reidentify, BigQuery: c.BigQueryAPI}
	return c, nil
}
