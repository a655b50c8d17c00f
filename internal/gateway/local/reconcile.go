package local

import "context"

// Reconcile makes one pass of the composition's reconciler
// (internal/reconcile): it ends sessions whose workflow execution ended,
// or is gone past the session's deadline, without ending them, and
// returns how many it ended. Start runs it once and then hourly; tests
// call it.
func (g *Gateway) Reconcile(ctx context.Context) (int, error) {
	if g.Components == nil || g.Components.Reconciler == nil {
		return 0, nil
	}
	res, err := g.Components.Reconciler.Run(ctx)
	return res.Ended, err
}
