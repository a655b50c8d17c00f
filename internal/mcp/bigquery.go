package mcp

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
)

// BigQuery lists datasets and tables with datasets.list and tables.list.
type BigQuery struct {
	client *bigquery.Client
}

var _ Datasets = (*BigQuery)(nil)

// NewBigQuery returns a dataset lister over client.
func NewBigQuery(client *bigquery.Client) *BigQuery { return &BigQuery{client: client} }

// ListDatasets implements Datasets, sorted by name, at most maxDatasets
// datasets of at most maxTables tables each.
func (b *BigQuery) ListDatasets(ctx context.Context, project string) ([]Dataset, error) {
	it := b.client.Datasets(ctx)
	it.ProjectID = project
	var out []Dataset
	for len(out) < maxDatasets {
		ds, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list datasets of %s: %w", project, err)
		}
		d := Dataset{Project: project, Dataset: ds.DatasetID, Tables: []string{}}
		tit := b.client.DatasetInProject(project, ds.DatasetID).Tables(ctx)
		for len(d.Tables) < maxTables {
			t, err := tit.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("list tables of %s.%s: %w", project, ds.DatasetID, err)
			}
			d.Tables = append(d.Tables, t.TableID)
		}
		sort.Strings(d.Tables)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset < out[j].Dataset })
	return out, nil
}
