package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/sqlscan"
)

// wildcard resolves a wildcard reference (`d.events_*`) as BigQuery does:
// the union of the dataset's tables whose names start with the prefix,
// with the schema of the most recently created one and the summed sizes.
// It lists the tables (tables.list) and reads each (tables.get), at most
// sqlscan.MaxWildcardTables of them; more is an error, so the request is
// denied rather than classified through part of the tables. A view, a
// materialized view or an external table among them is an error too: BigQuery
// refuses such a query, and tabledata.list cannot sample it. Every column
// carries the policy tags it has in any of the tables (a tag on one
// table's column makes the wildcard's column sensitive), and none matching
// is sqlscan.ErrTableNotFound.
func (b *BigQuery) wildcard(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	prefix := strings.TrimSuffix(ref.Table, "*")
	it := b.client.DatasetInProject(ref.Project, ref.Dataset).Tables(ctx)
	var names []string
	for {
		t, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			var ge *googleapi.Error
			if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
				return nil, fmt.Errorf("wildcard table %s: dataset: %w", ref, sqlscan.ErrTableNotFound)
			}
			return nil, fmt.Errorf("wildcard table %s: list tables: %w", ref, err)
		}
		if !strings.HasPrefix(t.TableID, prefix) {
			continue
		}
		if len(names) == sqlscan.MaxWildcardTables {
			return nil, fmt.Errorf("wildcard table %s matches more than %d tables, more than querygate classifies for one reference; name fewer tables (a longer prefix)", ref, sqlscan.MaxWildcardTables)
		}
		names = append(names, t.TableID)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("wildcard table %s matches no table: %w", ref, sqlscan.ErrTableNotFound)
	}
	slices.Sort(names)
	var newest *bigquery.TableMetadata
	var bytes, rows int64
	tags := map[string][]string{}
	for _, n := range names {
		md, err := b.client.DatasetInProject(ref.Project, ref.Dataset).Table(n).Metadata(ctx)
		if err != nil {
			return nil, fmt.Errorf("wildcard table %s: get table %s: %w", ref, n, err)
		}
		switch md.Type {
		case bigquery.RegularTable, bigquery.Snapshot, "":
		default:
			return nil, fmt.Errorf("wildcard table %s matches %s, a %s; BigQuery's wildcard tables read only tables", ref, n, md.Type)
		}
		bytes += md.NumBytes
		rows += int64(md.NumRows)
		for _, c := range columns(md.Schema) {
			tags[strings.ToLower(c.Name)] = append(tags[strings.ToLower(c.Name)], allTags(c)...)
		}
		if newest == nil || md.CreationTime.After(newest.CreationTime) {
			newest = md
		}
	}
	meta := tableMeta(ref, newest)
	meta.Type, meta.ViewSQL, meta.NumRows = "TABLE", "", rows
	meta.NumBytes = bytes
	if meta.NumBytes == 0 && meta.NumRows > 0 {
		meta.NumBytes = meta.NumRows * EstimatedRowBytes(meta.Columns)
	}
	for i := range meta.Columns {
		c := &meta.Columns[i]
		for _, t := range tags[strings.ToLower(c.Name)] {
			if !slices.Contains(allTags(*c), t) {
				c.PolicyTags = append(c.PolicyTags, t)
			}
		}
	}
	return meta, nil
}

// allTags returns the policy tags of c and its nested fields.
func allTags(c sqlscan.Column) []string {
	out := slices.Clone(c.PolicyTags)
	for _, f := range c.Fields {
		out = append(out, allTags(f)...)
	}
	return out
}
