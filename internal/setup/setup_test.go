package setup_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/gateway"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/setup"
	"github.com/querygate/querygate/internal/steps"
)

func TestLoadPolicyAndMasking(t *testing.T) {
	t.Parallel()
	pol, err := setup.LoadPolicy("")
	if err != nil || pol == nil || len(pol.Rules) != len(policy.Default().Rules) {
		t.Errorf("LoadPolicy(\"\") = %v, %v; want the default policy", pol, err)
	}
	mask, err := setup.LoadMasking("")
	if err != nil || mask == nil {
		t.Errorf("LoadMasking(\"\") = %v, %v; want the default config", mask, err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("no_such_field: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		load func(string) error
		path string
		want string
	}{
		{"policy_missing", func(p string) error { _, err := setup.LoadPolicy(p); return err }, filepath.Join(dir, "none.yaml"), "read policy"},
		{"policy_unknown_field", func(p string) error { _, err := setup.LoadPolicy(p); return err }, bad, "no_such_field"},
		{"masking_missing", func(p string) error { _, err := setup.LoadMasking(p); return err }, filepath.Join(dir, "none.yaml"), "read masking config"},
		{"masking_unknown_field", func(p string) error { _, err := setup.LoadMasking(p); return err }, bad, "no_such_field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load(tc.path)
			if !errors.Is(err, setup.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

// orchestrator is an intake.Orchestrator that starts nothing.
type orchestrator struct{}

func (orchestrator) Start(context.Context, map[string]any) (string, error) {
	return "", errors.New("not started")
}

// verifier is an auth.Verifier that verifies nothing.
type verifier struct{}

func (verifier) Verify(context.Context, string) (*session.Principal, error) {
	return nil, errors.New("no tokens here")
}

// TestBuildPartialPorts: a component is built exactly when its ports are
// set, so a Cloud Run function holds only its own clients, and the
// profiler without an inspector is a configuration error, not a silently
// unprofiled engine.
func TestBuildPartialPorts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	logger := slog.New(slog.DiscardHandler)
	c, err := setup.Build(ctx, setup.Config{AuditorsGroup: "auditors", PublicURL: "https://qg.example"},
		setup.Ports{Store: store, External: verifier{}, Orchestrator: orchestrator{}, Now: func() time.Time { return at }, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if c.Intake == nil || c.BigQueryAPI == nil || c.Routes == nil || c.Routes.Intake != c.Intake {
		t.Fatalf("intake not built or not routed: %+v", c)
	}
	if c.Engine != nil || c.Steps != nil || c.MCP != nil || c.Approval != nil || c.Reidentify != nil {
		t.Errorf("components without their ports were built: engine %v steps %v mcp %v approval %v reidentify %v", c.Engine, c.Steps, c.MCP, c.Approval, c.Reidentify)
	}
	if c.Intake.Logger != logger || c.Intake.Now == nil || !c.Intake.Now().Equal(at) || c.Intake.AuditorsGroup != "auditors" || c.Intake.PublicURL != "https://qg.example" {
		t.Errorf("intake = %+v, want the config's groups and URL, the ports' logger and clock", c.Intake)
	}
	// Without the approval service (the cloud's Intake function), jobs.cancel
	// records a withdrawal in the store; without MCP no source table is
	// described.
	if w, ok := c.BigQueryAPI.Withdraw.(approval.RecordWithdrawal); !ok || w.Store != store || c.BigQueryAPI.Sources != nil {
		t.Errorf("BigQuery API withdraw %#v sources %#v; want a store-only withdrawal and no sources", c.BigQueryAPI.Withdraw, c.BigQueryAPI.Sources)
	}
}

// TestLocalComposition starts `querygate dev`'s gateway and checks that the
// one composition wired it: the profiler (a demo table the policy does not
// list gets a stored profile), no dry run (documented: the emulator's dry
// run checks nothing; the estimate comes from table sizes), and the
// configured logger, clock and limits on the steps, intake and engine.
func TestLocalComposition(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	logger := slog.New(slog.DiscardHandler)
	limits := steps.Limits{MaxRows: 7, MaxBytes: 1 << 20, Retention: 48 * time.Hour}
	g, err := local.Start(ctx, local.Config{Addr: "127.0.0.1:0", BigQueryAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), Project: "querygate-local", Limits: limits, Logger: logger, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	c := g.Components
	if c == nil || c.Engine == nil || c.Steps == nil || c.Intake == nil || c.MCP == nil || c.Approval == nil || c.Reidentify == nil || c.BigQueryAPI == nil {
		t.Fatalf("local components missing: %+v", c)
	}
	if c.Profiler == nil {
		t.Error("local engine has no profiler")
	}
	if c.DryRunner != nil {
		t.Errorf("local engine has dry runner %T; the emulator's dry run checks nothing", c.DryRunner)
	}
	if c.Steps.Logger != logger || c.Intake.Logger != logger || c.BigQueryAPI.Logger != logger {
		t.Error("a component does not log to the configured logger")
	}
	if c.BigQueryAPI.Withdraw != bqapi.Withdrawer(c.Approval) || c.BigQueryAPI.Sources != bqapi.SourceTables(c.MCP) {
		t.Errorf("BigQuery API withdraw %T sources %T; want the approval service and MCP", c.BigQueryAPI.Withdraw, c.BigQueryAPI.Sources)
	}
	for name, now := range map[string]func() time.Time{"steps": c.Steps.Now, "intake": c.Intake.Now} {
		if now == nil || !now().Equal(at) {
			t.Errorf("%s does not use the configured clock", name)
		}
	}
	if c.Steps.Limits != limits || c.Steps.Project != "querygate-local" || c.Steps.ResultsDataset != "querygate_results" {
		t.Errorf("steps limits %+v project %q results %q; want %+v, querygate-local, querygate_results", c.Steps.Limits, c.Steps.Project, c.Steps.ResultsDataset, limits)
	}
	ep, ok := c.Steps.Policy.(*gateway.EnginePolicy)
	if !ok || ep.Engine != c.Engine {
		t.Fatalf("steps policy = %#v, want the composition's engine", c.Steps.Policy)
	}
	d, err := c.Engine.Evaluate(ctx, policy.Input{SQL: "SELECT * FROM demo.orders LIMIT 1", DefaultProject: ep.DefaultProject,
		Groups: []string{"analysts"}, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if d.EstimateSource != policy.EstimateTableSizes {
		t.Errorf("estimate from %q, want %q (no dry run locally)", d.EstimateSource, policy.EstimateTableSizes)
	}
	if _, err := g.Store.GetProfile(ctx, "querygate-local.demo.orders"); err != nil {
		t.Errorf("no stored profile of demo.orders, so the profiler did not run: %v (decision %s %v)", err, d.Action, d.Reasons)
	}
}
