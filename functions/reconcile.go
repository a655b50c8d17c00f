package functions

import (
	"context"
	"fmt"
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/workflow"
)

// Reconcile ends sessions their workflow execution left open
// (internal/reconcile): Cloud Scheduler POSTs to it (terraform/reconcile.tf)
// with an OIDC token of its own service account, the only caller allowed.
func init() {
	functions.HTTP("Reconcile", lazy("Reconcile", func(ctx context.Context, c *cloud) (http.Handler, error) {
		if c.cfg.SchedulerServiceAccount == "" {
			return nil, fmt.Errorf("%w: QUERYGATE_SCHEDULER_SA is required by Reconcile", errConfig)
		}
		p, err := c.warehousePorts(ctx)
		if err != nil {
			return nil, err
		}
		// The record step, and the Executions API to read executions; no
		// front door (External stays unset, so no intake is built).
		p.External = nil
		if p.Orchestrator, err = workflow.NewCloudStarter(ctx, "projects/"+c.cfg.Project+"/locations/"+c.cfg.Location+"/workflows/"+c.cfg.Workflow); err != nil {
			return nil, err
		}
		comps, err := c.build(ctx, p)
		if err != nil {
			return nil, err
		}
		if comps.Reconciler == nil {
			return nil, fmt.Errorf("%w: the reconciler was not built", errConfig)
		}
		return auth.RequireCaller(c.internal, []string{c.cfg.SchedulerServiceAccount}, comps.Reconciler.Handler()), nil
	}).ServeHTTP)
}
