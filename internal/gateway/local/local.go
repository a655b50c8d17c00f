// Package local runs the whole gateway on one machine with embedded
// stand-ins for Google's services: the BigQuery emulator in process, SQLite
// sessions, the local Workflows runtime interpreting the deployed YAML, the
// local de-identification engine, a dev OIDC issuer and an SMTP sink. It is
// what `querygate dev` and the end-to-end tests start.
package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/analyzerproc"
	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/gateway/hostguard"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/setup"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/warehouse"
	"github.com/querygate/querygate/internal/workflow"
	"github.com/querygate/querygate/workflows"
)

// Identities of the local gateway's own callers, minted by the dev issuer.
const (
	WorkflowIdentity = "workflow@querygate.local"
	ApprovalIdentity = "approval@querygate.local"
)

// Audit dataset and table in the embedded BigQuery.
const (
	AuditDataset = "querygate_audit"
	AuditTable   = "session_events"
)

// ResultsDataset holds each job's result table between the execute and
// deidentify steps, as in the cloud (QUERYGATE_RESULTS_DATASET): the
// deidentify step reads the table itself instead of waiting on the job.
// Tables expire after ResultsTableExpiry if record could not delete them.
const (
	ResultsDataset     = "querygate_results"
	ResultsTableExpiry = 24 * time.Hour
)

// DefaultGroups is the local group config: two example approvers and one
// auditor. Members of analysts may also come from the token's groups claim.
func DefaultGroups() map[string][]string {
	return map[string][]string{
		"approvers": {"approver1@example.com", "approver2@example.com"},
		"auditors":  {"auditor@example.com"},
		// May reverse deterministic tokens (crypto_deterministic_config).
		"reidentifiers": {"privacy@example.com"},
	}
}

// Config configures Start.
type Config struct {
	Addr         string
	DataDir      string
	Project      string
	BigQueryAddr string
	// BigQueryChild, when set, runs the embedded BigQuery in a supervised
	// child process started with this command (querygate dev: its own
	// executable and "internal-bigquery"), recycled after BigQueryMaxQueries
	// query calls (0: 500) or once its RSS passes BigQueryMaxRSS bytes
	// (0: 1 GiB). Empty runs it in this process.
	BigQueryChild      []string
	BigQueryMaxQueries int
	BigQueryMaxRSS     int64
	// Analyzer, when its Command is set (querygate dev: its own executable
	// and "internal-analyzer"), runs the policy analyzer in recycled,
	// time-boxed worker processes; an empty Command analyzes in this process.
	Analyzer    analyzerproc.Options
	DataFiles   []string
	PolicyFile  string
	MaskingFile string
	// SMTPAddr is where the embedded SMTP sink listens.
	SMTPAddr string
	Groups   map[string][]string
	Limits   steps.Limits
	Logger   *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
	// SweepInterval is how often the approval sweep (reminders at half
	// the TTL, break-glass review mails) runs; 0 means DefaultSweepInterval,
	// negative turns the ticker off (tests that call Sweep themselves).
	SweepInterval time.Duration

	// Ports wraps components for fault and crash tests; nil in normal use.
	Ports *Ports
}

// DefaultSweepInterval is how often the local gateway runs the approval
// sweep.
const DefaultSweepInterval = 30 * time.Second

// Gateway is a running local gateway.
type Gateway struct {
	URL              string
	BigQueryEndpoint string
	SMTPAddr         string
	DevIssuer        *auth.DevIssuer
	Store            session.Store
	Sink             *mail.Sink
	Runtime          *workflow.Runtime
	// Components are what the one composition (internal/setup) built.
	Components *setup.Components

	// BigQueryToken is the bearer token the embedded BigQuery requires
	// (also in DataDir/BigQueryTokenFile).
	BigQueryToken string
	// Approvers are the members of the approvers group, whose mailbox
	// links `querygate dev` prints.
	Approvers []string

	srv     *http.Server
	closers []func() error
}

// Start starts every component and serves the gateway.
func Start(ctx context.Context, cfg Config) (_ *Gateway, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Groups == nil {
		cfg.Groups = DefaultGroups()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	ports := cfg.Ports
	if ports == nil {
		ports = &Ports{}
	}
	g := &Gateway{}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	g.closers = append(g.closers, func() error { ln.Close(); return nil })
	base := "http://" + ln.Addr().String()
	g.URL = base

	dev, err := auth.LoadOrCreateDevIssuer(cfg.DataDir, base+"/dev/oidc")
	if err != nil {
		return nil, err
	}
	g.DevIssuer = dev
	g.Approvers = cfg.Groups["approvers"]

	// Only the gateway holds the embedded BigQuery's token: agents reach
	// data through the gateway, never around it.
	bqToken, err := loadOrCreateSecret(cfg.DataDir, BigQueryTokenFile)
	if err != nil {
		return nil, err
	}
	g.BigQueryToken = bqToken
	bqAllow := hostguard.Loopback("http://" + cfg.BigQueryAddr)
	bqEndpoint, bqClose, err := startBigQuery(ctx, cfg, bqlocal.Options{
		Project: cfg.Project, DataDir: filepath.Join(cfg.DataDir, "bigquery"), Addr: cfg.BigQueryAddr,
		Projects: []*bqlocal.Project{bqlocal.DemoProject(cfg.Project)}, YAMLFiles: cfg.DataFiles, Logger: log, Debug: os.Getenv("QUERYGATE_BIGQUERY_DEBUG") != "",
		Token: bqToken, AllowHost: bqAllow,
	}, bqAllow)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, bqClose)
	g.BigQueryEndpoint = bqEndpoint
	client, err := bqlocal.ClientWithToken(ctx, bqEndpoint, cfg.Project, bqToken)
	if err != nil {
		return nil, fmt.Errorf("bigquery client: %w", err)
	}
	g.closers = append(g.closers, client.Close)

	store, err := session.OpenSQLite(filepath.Join(cfg.DataDir, "sessions.db"))
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, store.Close)
	g.Store = wrap(ports.Store, session.Store(store))

	pol, err := setup.LoadPolicy(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	maskCfg, err := setup.LoadMasking(cfg.MaskingFile)
	if err != nil {
		return nil, err
	}
	deider, err := deid.NewLocal(maskCfg)
	if err != nil {
		return nil, fmt.Errorf("de-identifier: %w", err)
	}
	analyzer, closeAnalyzer, err := analyzerOption(cfg)
	if err != nil {
		return nil, fmt.Errorf("policy analyzer: %w", err)
	}
	g.closers = append(g.closers, closeAnalyzer)

	external, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: dev.Issuer, Audience: auth.DevAudience,
		JWKSURL: base + auth.JWKSPath, GroupsClaim: "groups", RequireVerifiedEmail: true})
	if err != nil {
		return nil, err
	}
	internalV, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: dev.Issuer, Audience: base, JWKSURL: base + auth.JWKSPath,
		RequireVerifiedEmail: true, AcceptAudience: func(auds []string) bool {
			for _, a := range auds {
				if a == base || strings.HasPrefix(a, base+"/") {
					return true
				}
			}
			return false
		}})
	if err != nil {
		return nil, err
	}
	mint := func(subject string) func(ctx context.Context, audience string) (string, error) {
		return func(_ context.Context, audience string) (string, error) {
			return dev.Mint(auth.MintOptions{Subject: subject, Audience: audience, TTL: 10 * time.Minute})
		}
	}
	groups := &auth.Static{Map: cfg.Groups, TrustClaims: true}

	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:0"
	}
	// The sink takes mail only from the gateway's own sender, so nobody can
	// plant a forged approval mail in an approver's mailbox.
	smtpSecret, err := loadOrCreateSecret(cfg.DataDir, SMTPSecretFile)
	if err != nil {
		return nil, err
	}
	sink, err := mail.NewSink(cfg.SMTPAddr, mail.WithSinkAuth(SMTPUser, smtpSecret),
		mail.WithSinkFile(filepath.Join(cfg.DataDir, MailboxFile)))
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	g.Sink = sink
	g.SMTPAddr = sink.Addr()
	g.closers = append(g.closers, sink.Close)
	host, port, _ := net.SplitHostPort(sink.Addr())
	var portN int
	fmt.Sscanf(port, "%d", &portN)
	// AUTH in clear is acceptable on loopback only, which is where the sink
	// listens for this sender.
	sender, err := mail.NewSender(mail.SMTPConfig{Host: host, Port: portN, TLS: mail.TLSNone, From: "querygate <querygate@querygate.local>",
		Username: SMTPUser, PasswordSecret: "smtp", AllowInsecureAuth: true}, mail.WithSecrets(wrap(ports.Secrets, mail.Secrets(mail.StaticSecrets{"smtp": smtpSecret}))))
	if err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	keys, err := approval.OpenFileKeys(filepath.Join(cfg.DataDir, "keys"))
	if err != nil {
		return nil, err
	}
	apState, err := approval.OpenSQLite(filepath.Join(cfg.DataDir, "approval.db"))
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, apState.Close)
	wf, err := workflow.Load(workflows.QuerySession, workflows.QuerySessionFile)
	if err != nil {
		return nil, err
	}
	wfState, err := workflow.NewSQLiteStateStore(filepath.Join(cfg.DataDir, "workflows.db"))
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, wfState.Close)
	rt, err := workflow.NewRuntime(workflow.Options{
		Workflow: wf, Store: wrap(ports.WorkflowState, workflow.StateStore(wfState)), HTTPClient: &http.Client{Timeout: 10 * time.Minute},
		IDToken: mint(WorkflowIdentity),
		Env: map[string]string{
			"QUERYGATE_POLICY_URL":     base + "/fn/policy",
			"QUERYGATE_NOTIFY_URL":     base + "/fn/notify",
			"QUERYGATE_EXECUTE_URL":    base + "/fn/execute",
			"QUERYGATE_DEIDENTIFY_URL": base + "/fn/deidentify",
			"QUERYGATE_RECORD_URL":     base + "/fn/record",
		},
		CallbackBase: base, Project: cfg.Project, Location: "local", Name: "query-session",
		VerifyCaller: func(ctx context.Context, bearer string) (string, error) {
			p, err := internalV.Verify(ctx, bearer)
			if err != nil {
				return "", err
			}
			return p.Email, nil
		},
		AllowedCallers: []string{ApprovalIdentity}, Logger: log, Now: cfg.Now, Sleep: ports.Sleep,
	})
	if err != nil {
		return nil, err
	}
	g.Runtime = rt
	// Closed first (closers run in reverse): executions stop before the
	// stores they write go away.
	g.closers = append(g.closers, rt.Close)

	comps, err := setup.Build(ctx, setup.Config{
		// The emulator keeps each job's result in its job record too, so
		// record deletes the record with the result table
		// (TestResultDatasetsDeleted).
		ResultsDataset: ResultsDataset, DeleteJobRecords: true,
		Policy: pol, Analyzer: analyzer, Project: cfg.Project,
		AuditDataset: AuditDataset, AuditTable: AuditTable, PublicURL: base, Limits: cfg.Limits,
		// No dry run: the emulator's "dry run" executes the query a
		// second time and reports SELECT with no referenced tables, so it
		// would cross-check nothing (catalog.DryRunner).
		DryRun: false, Profile: true, CatalogTTL: time.Minute,
		AuditorsGroup: "auditors", ReidentifyGroup: "reidentifiers", Issuers: []string{dev.Issuer},
		WorkflowCallers: []string{WorkflowIdentity},
		Approval:        approval.Config{PublicBaseURL: base, CallbackURLPrefixes: []string{base + "/v1/projects/"}},
	}, setup.Ports{
		BigQuery: client, Store: g.Store, Deidentifier: wrap(ports.Deid, deid.Deidentifier(deider)), Inspector: deider, Reidentifier: deider,
		Orchestrator: rt, External: external, Internal: internalV, Groups: groups,
		ApprovalState: apState, Keys: wrap(ports.Keys, approval.Keys(keys)), ApproverGroups: approval.StaticGroups(cfg.Groups), Mailer: wrap(ports.Mailer, approval.Mailer(sender)),
		CallbackToken: mint(ApprovalIdentity), Now: cfg.Now, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = comps.Audit.EnsureTable(ectx)
	if err == nil {
		if err = warehouse.New(client).EnsureDataset(ectx, ResultsDataset, ResultsTableExpiry); err != nil {
			err = fmt.Errorf("results dataset: %w", err)
		}
	} else {
		err = fmt.Errorf("audit table: %w", err)
	}
	cancel()
	if err != nil {
		return nil, err
	}
	g.Components = comps
	// The fault-matrix and crash tests' layers (ports.go) in front of the
	// warehouse and the audit writer the steps use.
	comps.Steps.Warehouse = wrap(ports.Warehouse, comps.Steps.Warehouse)
	comps.Steps.Audit = wrap(ports.Audit, comps.Steps.Audit)
	routes := comps.Routes
	routes.Extra = map[string]http.Handler{
		"/v1/projects/":    rt.CallbackHandler(),
		"GET /dev/mailbox": sink.MailboxHandler(mailboxAuth(external)),
		"GET /dev/oidc/":   dev.Handler(),
	}
	g.srv = &http.Server{Handler: hostguard.Handler(hostguard.Loopback(base), wrap(ports.Handler, routes.Handler())), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("gateway server stopped", "error", err.Error())
		}
	}()
	// Retention: purge expired sessions now and hourly (Firestore's TTL
	// policy does this in the cloud); then end sessions whose execution
	// ended without ending them (reconcile.go).
	purgeCtx, stopPurge := context.WithCancel(context.Background())
	g.closers = append(g.closers, func() error { stopPurge(); return nil })
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := store.PurgeExpired(purgeCtx, cfg.Now()); err != nil {
				log.Warn("purge expired sessions failed", "error", err.Error())
			} else if n > 0 {
				log.Info("purged expired sessions", "count", n)
			}
			if _, err := g.Reconcile(purgeCtx); err != nil {
				log.Warn("reconcile sessions failed", "error", err.Error())
			}
			select {
			case <-purgeCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	// Issue 15: the approval sweep; in the cloud a scheduler posts
	// {"sweep": true} to the notify function instead.
	if every := cmp.Or(cfg.SweepInterval, DefaultSweepInterval); every > 0 && comps.Approval != nil {
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-purgeCtx.Done():
					return
				case <-t.C:
				}
				if _, err := comps.Approval.Sweep(purgeCtx); err != nil {
					log.Warn("approval sweep failed", "error", err.Error())
				}
			}
		}()
	}
	if err := rt.Resume(ctx); err != nil {
		return nil, fmt.Errorf("resume workflow executions: %w", err)
	}
	return g, nil
}

// Close stops the server and every component, newest first.
func (g *Gateway) Close() error {
	var errs []error
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, g.srv.Shutdown(ctx))
		cancel()
	}
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}
