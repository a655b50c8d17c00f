package catalog

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/bigquery"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/warehouse"
)

// DryRunner runs BigQuery dry runs (jobs.insert with dryRun) for the policy
// engine's cost check and its cross-check of statement type and referenced
// tables. Only for real BigQuery: the emulator's dry run executes the query
// and always reports SELECT.
type DryRunner struct {
	client *bigquery.Client
}

var _ policy.DryRunner = (*DryRunner)(nil)

// NewDryRunner wraps a client.
func NewDryRunner(client *bigquery.Client) *DryRunner { return &DryRunner{client: client} }

// DryRun implements policy.DryRunner.
func (d *DryRunner) DryRun(ctx context.Context, in policy.DryRunInput) (*policy.DryRunResult, error) {
	q := d.client.Query(in.SQL)
	q.DryRun = true
	q.DefaultProjectID, q.DefaultDatasetID = in.DefaultProject, in.DefaultDataset
	// The same conversion the execute step uses, so the dry run sees the
	// query as it will run (issue 12, finding 7).
	params, err := warehouse.Parameters(in.Parameters)
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	q.Parameters = params
	job, err := q.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	st := job.LastStatus()
	if st == nil || st.Statistics == nil {
		return nil, errors.New("dry run: no statistics returned")
	}
	if err := st.Err(); err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics)
	if !ok {
		return nil, errors.New("dry run: no query statistics returned")
	}
	out := &policy.DryRunResult{TotalBytesProcessed: qs.TotalBytesProcessed, StatementType: qs.StatementType}
	for _, t := range qs.ReferencedTables {
		out.ReferencedTables = append(out.ReferencedTables, sqlscan.TableRef{Project: t.ProjectID, Dataset: t.DatasetID, Table: t.TableID})
	}
	return out, nil
}
