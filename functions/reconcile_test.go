package functions

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestReconcileNeedsSchedulerAccount: the Reconcile function refuses to
// start without the one caller it accepts, before it builds any client.
func TestReconcileNeedsSchedulerAccount(t *testing.T) {
	buildersMu.Lock()
	b := builders["Reconcile"]
	buildersMu.Unlock()
	if b == nil {
		t.Fatal("Reconcile is not a registered function target")
	}
	_, err := b.build(context.Background(), &cloud{})
	if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), "QUERYGATE_SCHEDULER_SA") {
		t.Errorf("build without QUERYGATE_SCHEDULER_SA = %v, want a config error naming it", err)
	}
}
