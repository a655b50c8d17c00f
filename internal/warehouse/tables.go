package warehouse

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// ErrTableNotFound means tables.get answered 404.
var ErrTableNotFound = errors.New("table not found")

// TableInfo is what tables.get says about a table: enough to classify it
// without reading data.
type TableInfo struct {
	Project, Dataset, Table string
	// Type is TABLE, VIEW, MATERIALIZED_VIEW, EXTERNAL or SNAPSHOT.
	Type string
	// LastModified is the table's lastModifiedTime: it changes with every
	// write and schema change, so a classification keyed on it is current.
	LastModified time.Time
	NumRows      uint64
	NumBytes     int64
	Columns      []ColumnInfo
}

// ColumnInfo is one top-level column, with the policy tags of the column and
// of any nested field (a tag on a field marks its top-level column).
type ColumnInfo struct {
	Name, Type string
	Repeated   bool
	PolicyTags []string
}

// TableInfo reads a table's metadata (tables.get; no data, no cost).
func (b *BigQuery) TableInfo(ctx context.Context, project, dataset, table string) (*TableInfo, error) {
	md, err := b.client.DatasetInProject(project, dataset).Table(table).Metadata(ctx)
	if err != nil {
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return nil, fmt.Errorf("table %s.%s.%s: %w", project, dataset, table, ErrTableNotFound)
		}
		return nil, fmt.Errorf("get table %s.%s.%s: %s", project, dataset, table, SafeMessage(err.Error()))
	}
	info := &TableInfo{Project: project, Dataset: dataset, Table: table, Type: string(md.Type),
		LastModified: md.LastModifiedTime, NumRows: md.NumRows, NumBytes: md.NumBytes}
	if info.Type == "" {
		info.Type = "TABLE"
	}
	for _, f := range md.Schema {
		info.Columns = append(info.Columns, ColumnInfo{Name: f.Name, Type: string(f.Type), Repeated: f.Repeated, PolicyTags: fieldTags(f)})
	}
	return info, nil
}

func fieldTags(f *bigquery.FieldSchema) []string {
	var out []string
	if f.PolicyTags != nil {
		out = append(out, f.PolicyTags.Names...)
	}
	for _, sub := range f.Schema {
		out = append(out, fieldTags(sub)...)
	}
	return out
}

// ListTables returns the names of the dataset's tables that start with
// prefix (tables.list), at most limit of them; more is an error, so a
// caller never classifies a wildcard through a partial list.
func (b *BigQuery) ListTables(ctx context.Context, project, dataset, prefix string, limit int) ([]string, error) {
	it := b.client.DatasetInProject(project, dataset).Tables(ctx)
	var out []string
	for {
		t, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list tables of %s.%s: %s", project, dataset, SafeMessage(err.Error()))
		}
		if !strings.HasPrefix(t.TableID, prefix) {
			continue
		}
		if len(out) >= limit {
			return nil, fmt.Errorf("list tables of %s.%s: more than %d tables start with %q", project, dataset, limit, prefix)
		}
		out = append(out, t.TableID)
	}
}

// SampleLimits bound a sample.
type SampleLimits struct {
	MaxRows  int
	MaxBytes int64
	// PageRows is the page size asked of tabledata.list (maxResults), so
	// that a sample of wide rows stops near MaxBytes instead of fetching
	// MaxRows rows first. 0 means 100.
	PageRows int
}

// Sample is the first rows of a table. Its cells are raw values: they must
// stay in memory, never reach a log, an error or a store.
type Sample struct {
	Columns []string
	Rows    [][]bigquery.Value
	// Bytes is the sample's size by BigQuery's data sizes (see ValueBytes).
	Bytes int64
}

// SampleRows reads up to lim.MaxRows rows or lim.MaxBytes bytes, whichever
// comes first, from the start of the table through tabledata.list, which
// BigQuery does not bill (it runs no query). The row that crosses MaxBytes is
// not kept.
func (b *BigQuery) SampleRows(ctx context.Context, project, dataset, table string, lim SampleLimits) (*Sample, error) {
	if lim.PageRows <= 0 {
		lim.PageRows = 100
	}
	it := b.client.DatasetInProject(project, dataset).Table(table).Read(ctx)
	it.PageInfo().MaxSize = min(lim.PageRows, max(lim.MaxRows, 1))
	s := &Sample{}
	for len(s.Rows) < lim.MaxRows {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			// The client's errors here are about the request, never a
			// cell; SafeMessage keeps them so.
			return nil, fmt.Errorf("sample %s.%s.%s: %s", project, dataset, table, SafeMessage(err.Error()))
		}
		var n int64
		for _, v := range row {
			n += ValueBytes(v)
		}
		if lim.MaxBytes > 0 && s.Bytes+n > lim.MaxBytes {
			break
		}
		s.Bytes += n
		s.Rows = append(s.Rows, row)
	}
	for _, f := range it.Schema {
		s.Columns = append(s.Columns, f.Name)
	}
	return s, nil
}

// ValueBytes is the size of one cell by BigQuery's documented data sizes:
// STRING and BYTES 2 bytes plus their length, BOOL 1, NUMERIC and
// BIGNUMERIC 16 (the client decodes both alike), other scalars 8, NULL 0, arrays and structs the sum of
// their parts.
func ValueBytes(v bigquery.Value) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return 2 + int64(len(x))
	case []byte:
		return 2 + int64(len(x))
	case bool:
		return 1
	case []bigquery.Value:
		var n int64
		for _, e := range x {
			n += ValueBytes(e)
		}
		return n
	case map[string]bigquery.Value:
		var n int64
		for _, e := range x {
			n += ValueBytes(e)
		}
		return n
	case *big.Rat: // NUMERIC (BIGNUMERIC decodes to the same type)
		return 16
	}
	return 8
}
