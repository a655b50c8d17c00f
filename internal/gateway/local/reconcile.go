package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/workflow"
)

// reconcileError is recorded on a session whose workflow execution ended
// before its record step could end it.
const reconcileError = "record: the session flow ended before the session was recorded"

// reconciler ends sessions left open by a workflow execution that has
// ended: the record step spent its retries (the audit table or the
// session store was down), so the execution failed while the session
// still says running. It runs the record step again, outcome failed; the
// record step keeps its fail-closed order (status last, after the audit
// write), and reuses closing events an earlier attempt appended.
type reconciler struct {
	store session.Store
	rt    *workflow.Runtime
	steps *steps.Steps
	log   *slog.Logger
}

// run makes one pass over the store and returns how many sessions it
// ended.
func (r *reconciler) run(ctx context.Context) (int, error) {
	ended := 0
	var errs []error
	q := session.ListQuery{PageSize: 200}
	for {
		res, err := r.store.List(ctx, q)
		if err != nil {
			return ended, fmt.Errorf("reconcile: list sessions: %w", err)
		}
		for _, s := range res.Sessions {
			if s.Status.Terminal() || s.ExecutionName == "" {
				continue
			}
			st, err := r.rt.Execution(ctx, s.ExecutionName)
			if err != nil {
				if !errors.Is(err, workflow.ErrNotFound) {
					errs = append(errs, fmt.Errorf("reconcile %s: %w", s.ID, err))
				}
				continue
			}
			if st.State == workflow.StateActive {
				continue
			}
			if _, err := r.steps.Record(ctx, steps.RecordInput{SessionID: s.ID, Outcome: session.StatusFailed, Error: reconcileError}); err != nil {
				errs = append(errs, fmt.Errorf("reconcile %s: %w", s.ID, err))
				continue
			}
			r.log.WarnContext(ctx, "ended a session whose workflow execution had ended", "session_id", s.ID, "execution_state", string(st.State))
			ended++
		}
		if res.NextPageToken == "" {
			return ended, errors.Join(errs...)
		}
		q.PageToken = res.NextPageToken
	}
}

// Reconcile ends sessions whose workflow execution ended without ending
// them (see reconciler). Start runs it once and then hourly; tests call it.
func (g *Gateway) Reconcile(ctx context.Context) (int, error) {
	if g.reconcile == nil {
		return 0, nil
	}
	return g.reconcile.run(ctx)
}
