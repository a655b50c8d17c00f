package setup_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/setup"
)

// plainStore hides the Counters of the store it wraps.
type plainStore struct{ session.Store }

// TestBuildLimits: a policy with limits gives intake the composition's
// enforcer; without limits there is none; and a session store that keeps
// no counters is a configuration error rather than limits that silently
// do not hold.
func TestBuildLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	pol, err := policy.Load([]byte("version: 1\ndefaults:\n  limits:\n    requests_per_minute: 8\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ports := setup.Ports{Store: store, External: verifier{}, Orchestrator: orchestrator{}}
	c, err := setup.Build(ctx, setup.Config{Policy: pol}, ports)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits == nil || c.Intake == nil || c.Intake.Limits != c.Limits {
		t.Errorf("limits %v, intake limits %v; want the composition's enforcer in intake", c.Limits, c.Intake.Limits)
	}
	if c, err := setup.Build(ctx, setup.Config{}, ports); err != nil || c.Limits != nil || c.Intake.Limits != nil {
		t.Errorf("default policy: limits %v, err %v; want none", c.Limits, err)
	}
	ports.Store = plainStore{store}
	if _, err := setup.Build(ctx, setup.Config{Policy: pol}, ports); !errors.Is(err, setup.ErrConfig) {
		t.Errorf("store without counters: err = %v, want ErrConfig", err)
	}
}
