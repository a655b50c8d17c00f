package steps

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// The bounded* types put Limits.CallTimeout on every call a step makes to
// a dependency, so that a dependency that hangs (a stalled connection, a
// locked database) fails the call with context.DeadlineExceeded, which the
// step answers as a retryable 503. The BigQuery job gets its job timeout
// plus CallTimeout for the API round trips around it.

type boundedStore struct {
	session.Store
	d time.Duration
}

func (b boundedStore) Get(ctx context.Context, id string) (*session.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Get(ctx, id)
}

func (b boundedStore) Update(ctx context.Context, id string, fn func(*session.Session) error) (*session.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Update(ctx, id, fn)
}

func (b boundedStore) PutPage(ctx context.Context, id string, p *session.Page) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.PutPage(ctx, id, p)
}

type boundedWarehouse struct {
	Warehouse
	d time.Duration
}

func (b boundedWarehouse) Run(ctx context.Context, q warehouse.Query) (*warehouse.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, q.Timeout+b.d)
	defer cancel()
	return b.Warehouse.Run(ctx, q)
}

func (b boundedWarehouse) Read(ctx context.Context, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Warehouse.Read(ctx, jobID, location, maxRows, fn)
}

// readResult reads the job's result: from its table in resultsDataset when
// there is one and the warehouse can (TableReader), else through the job.
func (b boundedWarehouse) readResult(ctx context.Context, resultsDataset, jobID, location string, maxRows int64, fn func(row []bigquery.Value) error) (bigquery.Schema, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	if tr, ok := b.Warehouse.(TableReader); ok && resultsDataset != "" {
		return tr.ReadTable(ctx, resultsDataset, jobID, location, maxRows, fn)
	}
	return b.Warehouse.Read(ctx, jobID, location, maxRows, fn)
}

type boundedDeid struct {
	deid.Deidentifier
	d time.Duration
}

func (b boundedDeid) Deidentify(ctx context.Context, req *deid.Request) (*deid.Table, *deid.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Deidentifier.Deidentify(ctx, req)
}

type boundedAudit struct {
	Auditor
	d time.Duration
}

func (b boundedAudit) WriteSession(ctx context.Context, s *session.Session) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Auditor.WriteSession(ctx, s)
}

// WriteRemaining keeps the retry path (RetryAuditor) of the auditor it
// bounds.
func (b boundedAudit) WriteRemaining(ctx context.Context, s *session.Session) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	if ra, ok := b.Auditor.(RetryAuditor); ok {
		return ra.WriteRemaining(ctx, s)
	}
	return b.Auditor.WriteSession(ctx, s)
}

type boundedPolicy struct {
	Policy
	d time.Duration
}

func (b boundedPolicy) Evaluate(ctx context.Context, s *session.Session) (*session.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Policy.Evaluate(ctx, s)
}

func (s *Steps) store() session.Store { return boundedStore{s.Store, s.limits().CallTimeout} }
func (s *Steps) warehouse() boundedWarehouse {
	return boundedWarehouse{s.Warehouse, s.limits().CallTimeout}
}
func (s *Steps) deid() deid.Deidentifier { return boundedDeid{s.Deid, s.limits().CallTimeout} }
func (s *Steps) audit() Auditor          { return boundedAudit{s.Audit, s.limits().CallTimeout} }
func (s *Steps) policy() Policy          { return boundedPolicy{s.Policy, s.limits().CallTimeout} }

// getSession reads the session a step works on. A missing session stays
// session.ErrNotFound (a permanent 404); any other store failure is a
// retryable "read session" error.
func (s *Steps) getSession(ctx context.Context, id string) (*session.Session, error) {
	sess, err := s.store().Get(ctx, id)
	if err != nil && !errors.Is(err, session.ErrNotFound) {
		return nil, transient("read session", err)
	}
	return sess, err
}
