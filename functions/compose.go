package functions

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/setup"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/workflow"
)

// setupConfig is the composition's config from the cloud's environment.
// The policy engine dry-runs in BigQuery and profiles unlisted tables, and
// its default project is the data project (QUERYGATE_DATA_PROJECT).
func (c *cloud) setupConfig() (setup.Config, error) {
	pol, err := setup.LoadPolicy(c.cfg.PolicyFile)
	if err != nil {
		return setup.Config{}, err
	}
	issuers := append([]string(nil), auth.GoogleIssuers...)
	for _, p := range c.cfg.OIDCIssuers {
		iss, _, _ := strings.Cut(p, "|")
		issuers = append(issuers, iss)
	}
	analyzer, err := c.analyzer()
	if err != nil {
		return setup.Config{}, err
	}
	return setup.Config{
		Policy: pol, Analyzer: analyzer, Project: c.cfg.Project, DataProject: c.cfg.DataProject, ResultsDataset: c.cfg.ResultsDataset,
		AuditDataset: c.cfg.AuditDataset, AuditTable: c.cfg.AuditTable, PublicURL: c.cfg.PublicURL,
		Limits: steps.Limits{MaxRows: c.cfg.MaxRows, MaxBytes: c.cfg.MaxBytes, JobTimeout: c.cfg.JobTimeout, Retention: c.cfg.Retention},
		DryRun: true, Profile: true, CatalogTTL: 5 * time.Minute,
		AuditorsGroup: c.cfg.AuditorsGroup, ReidentifyGroup: c.cfg.ReidentifyGroup, Issuers: issuers,
		WorkflowCallers: []string{c.cfg.WorkflowServiceAccount}, Approval: c.cfg.Approval,
	}, nil
}

// basePorts are the ports every function has: the session store, the
// verifiers, the clock and the logger carried in ctx (cmd/functions puts
// its JSON logger there).
func (c *cloud) basePorts(ctx context.Context) setup.Ports {
	now := c.now
	if now == nil {
		now = time.Now
	}
	return setup.Ports{Store: c.store, External: c.external, Internal: c.internal, Now: now, Logger: logging.FromContext(ctx)}
}

// build runs the one composition over p.
func (c *cloud) build(ctx context.Context, p setup.Ports) (*setup.Components, error) {
	cfg, err := c.setupConfig()
	if err != nil {
		return nil, err
	}
	return setup.Build(ctx, cfg, p)
}

// warehousePorts add BigQuery and Cloud DLP (de-identifier, inspector of
// the profiler, re-identifier) to the base ports.
func (c *cloud) warehousePorts(ctx context.Context) (setup.Ports, error) {
	p := c.basePorts(ctx)
	dlp, err := c.dlp(ctx)
	if err != nil {
		return p, err
	}
	p.BigQuery, p.Deidentifier, p.Inspector, p.Reidentifier = c.bq, dlp, dlp, dlp
	return p, nil
}

// steps builds the workflow steps (policy, execute, deidentify, record).
func (c *cloud) steps(ctx context.Context) (*steps.Steps, error) {
	comps, err := c.stepComponents(ctx)
	if err != nil {
		return nil, err
	}
	return comps.Steps, nil
}

// stepComponents is the composition of the step functions.
func (c *cloud) stepComponents(ctx context.Context) (*setup.Components, error) {
	p, err := c.warehousePorts(ctx)
	if err != nil {
		return nil, err
	}
	comps, err := c.build(ctx, p)
	if err != nil {
		return nil, err
	}
	if comps.Steps == nil {
		return nil, fmt.Errorf("%w: the steps were not built", errConfig)
	}
	return comps, nil
}

func (c *cloud) dlp(ctx context.Context) (*deid.DLP, error) {
	maskCfg, err := setup.LoadMasking(c.cfg.MaskingFile)
	if err != nil {
		return nil, err
	}
	if maskCfg, err = deid.WithTemplates(maskCfg, c.cfg.DLPInspectTemplate, c.cfg.DLPDeidentifyTemplate); err != nil {
		return nil, err
	}
	return deid.NewDLP(ctx, maskCfg, "projects/"+c.cfg.Project+"/locations/"+c.cfg.Location, c.dlpOptions...)
}

// intakePorts add the workflow starter and the groups source.
func (c *cloud) intakePorts(ctx context.Context, p setup.Ports) (setup.Ports, error) {
	wfOpts, err := grpcOptions(c.cfg.Endpoints.Workflows)
	if err != nil {
		return p, err
	}
	starter, err := workflow.NewCloudStarter(ctx, "projects/"+c.cfg.Project+"/locations/"+c.cfg.Location+"/workflows/"+c.cfg.Workflow, wfOpts...)
	if err != nil {
		return p, err
	}
	p.Orchestrator = starter
	p.Groups = &auth.Static{TrustClaims: true}
	if c.cfg.GroupsSource == "cloudidentity" {
		aliases := map[string]string{}
		for _, a := range c.cfg.GroupAliases {
			n, e, _ := strings.Cut(a, "=")
			aliases[n] = e
		}
		ciOpts, err := restOptions(c.cfg.Endpoints.CloudIdentity)
		if err != nil {
			return p, err
		}
		if p.Groups, err = auth.NewCloudIdentity(ctx, aliases, 5*time.Minute, ciOpts...); err != nil {
			return p, err
		}
	}
	return p, nil
}

// frontDoors builds the Intake function's components: intake, the BigQuery
// API, MCP over the policy step's engine (so explain_policy and
// describe_table decide as the workflow will) and re-identification.
func (c *cloud) frontDoors(ctx context.Context) (*setup.Components, error) {
	p, err := c.warehousePorts(ctx)
	if err != nil {
		return nil, err
	}
	if p, err = c.intakePorts(ctx, p); err != nil {
		return nil, err
	}
	comps, err := c.build(ctx, p)
	if err != nil {
		return nil, err
	}
	if comps.Intake == nil || comps.MCP == nil || comps.Reidentify == nil {
		return nil, fmt.Errorf("%w: intake, MCP or re-identification was not built", errConfig)
	}
	return comps, nil
}

// sessionsAPI builds the Sessions function's intake, without BigQuery or
// DLP: it only reads the session store.
func (c *cloud) sessionsAPI(ctx context.Context) (*setup.Components, error) {
	p, err := c.intakePorts(ctx, c.basePorts(ctx))
	if err != nil {
		return nil, err
	}
	comps, err := c.build(ctx, p)
	if err != nil {
		return nil, err
	}
	if comps.Intake == nil {
		return nil, fmt.Errorf("%w: intake was not built", errConfig)
	}
	return comps, nil
}

// approvalService builds the approval service of the Notify and Approval
// functions: approval state in Firestore next to the sessions, link keys
// from Secret Manager, IAP keys when the decision requires IAP.
func (c *cloud) approvalService(ctx context.Context, keys approval.Keys, mailer approval.Mailer, groups approval.Groups) (*approval.Service, error) {
	state, err := approval.OpenFirestore(ctx, c.cfg.Project, c.cfg.FirestoreDatabase)
	if err != nil {
		return nil, err
	}
	p := c.basePorts(ctx)
	p.ApprovalState, p.Keys, p.Mailer, p.ApproverGroups = state, keys, mailer, groups
	if p.CallbackToken, err = callbackToken(ctx); err != nil {
		state.Close()
		return nil, err
	}
	if c.cfg.Approval.RequireIAP {
		if p.IAP, err = auth.NewIAP(ctx, c.cfg.Approval.IAPAudience, nil); err != nil {
			state.Close()
			return nil, err
		}
	}
	comps, err := c.build(ctx, p)
	if err != nil {
		state.Close()
		return nil, err
	}
	if comps.Approval == nil {
		state.Close()
		return nil, fmt.Errorf("%w: approval was not built", errConfig)
	}
	return comps.Approval, nil
}

// analyzer is the policy function's out-of-process SQL analyzer (one pool
// per instance, workers started on first use): go-zetasql never frees its
// native memory, and a runaway analysis must be killed, not waited for.
// cmd/functions runs analyzerproc.WorkerCommand. Nil analyzes in process.
func (c *cloud) analyzer() (policy.Analyzer, error) {
	if c.cfg.Analyzer != "process" {
		return nil, nil
	}
	c.analyzerOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			c.analyzerErr = fmt.Errorf("%w: find own executable for the analyzer workers: %w", errConfig, err)
			return
		}
		c.analyzerPool, c.analyzerErr = analyzerproc.New(analyzerproc.Options{Command: []string{exe, analyzerproc.WorkerCommand},
			Workers: c.cfg.AnalyzerWorkers, MaxAnalyses: c.cfg.AnalyzerMaxAnalyses,
			MaxRSS: c.cfg.AnalyzerMaxRSSMB << 20, Timeout: c.cfg.AnalyzerTimeout, Logger: slog.Default()})
		if c.analyzerErr != nil {
			c.analyzerErr = fmt.Errorf("%w: %w", errConfig, c.analyzerErr)
		}
	})
	if c.analyzerErr != nil {
		return nil, c.analyzerErr
	}
	return c.analyzerPool, nil
}
