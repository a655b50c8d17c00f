package local

import (
	"context"
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/mail"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/steps"
	"github.com/querygate/querygate/internal/workflow"
)

// Ports wraps the gateway's components as Start builds them. It exists for
// the fault-matrix and crash-point tests (testing/faults, testing/crash),
// which put a failing, hanging or crashing layer in front of one
// dependency; `querygate dev` leaves it nil. Each nil field leaves that
// component as built.
type Ports struct {
	// Warehouse wraps the BigQuery job and result read.
	Warehouse func(steps.Warehouse) steps.Warehouse
	// Audit wraps the audit table writer used by the record step.
	Audit func(steps.Auditor) steps.Auditor
	// Deid wraps the de-identifier used by the deidentify step.
	Deid func(deid.Deidentifier) deid.Deidentifier
	// Store wraps the session store that intake, approval and the steps
	// share.
	Store func(session.Store) session.Store
	// WorkflowState wraps the local Workflows runtime's execution store.
	WorkflowState func(workflow.StateStore) workflow.StateStore
	// Mailer wraps the SMTP sender of approval mail.
	Mailer func(approval.Mailer) approval.Mailer
	// Handler wraps the whole HTTP handler (front doors and step
	// functions alike).
	Handler func(http.Handler) http.Handler
	// Sleep replaces the workflow runtime's backoff wait, so a test sees
	// each retry delay without waiting it out.
	Sleep func(ctx context.Context, d time.Duration) error

	// Secrets wraps where the mail sender reads its SMTP password (Secret
	// Manager in the cloud, the data dir here).
	Secrets func(mail.Secrets) mail.Secrets
	// Keys wraps the approval link keys (Secret Manager in the cloud, the
	// data dir here).
	Keys func(approval.Keys) approval.Keys
}

func wrap[T any](f func(T) T, v T) T {
	if f == nil {
		return v
	}
	return f(v)
}
