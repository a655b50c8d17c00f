// Package catalog gives the SQL analyzer table schemas from BigQuery
// (tables.get), with policy tags and descriptions, cached with a TTL.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/querygate/querygate/internal/sqlscan"
)

// BigQuery implements sqlscan.Catalog over tables.get.
type BigQuery struct {
	client *bigquery.Client
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[sqlscan.TableRef]entry
}

type entry struct {
	meta *sqlscan.TableMeta
	err  error
	at   time.Time
}

var _ sqlscan.Catalog = (*BigQuery)(nil)

// New returns a catalog caching each schema for ttl (0 means 5 minutes).
func New(client *bigquery.Client, ttl time.Duration) *BigQuery {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &BigQuery{client: client, ttl: ttl, now: time.Now, cache: map[sqlscan.TableRef]entry{}}
}

// Table implements sqlscan.Catalog. Not-found answers are cached too, so a
// query naming many missing tables cannot hammer the API.
func (b *BigQuery) Table(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	b.mu.Lock()
	e, ok := b.cache[ref]
	b.mu.Unlock()
	if ok && b.now().Sub(e.at) < b.ttl {
		return e.meta, e.err
	}
	var meta *sqlscan.TableMeta
	var err error
	if ref.IsWildcard() {
		meta, err = b.wildcard(ctx, ref)
	} else {
		meta, err = b.table(ctx, ref)
	}
	if err != nil && !errors.Is(err, sqlscan.ErrTableNotFound) {
		return nil, err
	}
	b.mu.Lock()
	b.cache[ref] = entry{meta: meta, err: err, at: b.now()}
	b.mu.Unlock()
	return meta, err
}

// table reads one table's metadata (tables.get).
func (b *BigQuery) table(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	md, err := b.client.DatasetInProject(ref.Project, ref.Dataset).Table(ref.Table).Metadata(ctx)
	if err != nil {
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return nil, fmt.Errorf("table %s: %w", ref, sqlscan.ErrTableNotFound)
		}
		return nil, fmt.Errorf("get table %s: %w", ref, err)
	}
	return tableMeta(ref, md), nil
}

func tableMeta(ref sqlscan.TableRef, md *bigquery.TableMetadata) *sqlscan.TableMeta {
	meta := &sqlscan.TableMeta{Ref: ref, Columns: columns(md.Schema), Type: string(md.Type), ViewSQL: md.ViewQuery,
		NumBytes: md.NumBytes, NumRows: int64(md.NumRows)}
	if meta.Type == "" {
		meta.Type = "TABLE"
	}
	if meta.NumBytes == 0 && meta.NumRows > 0 {
		// The emulator reports no table size: estimate it from the row
		// count and BigQuery's per-type data sizes, so the local byte
		// estimate and max-bytes rules have something to work with.
		// This is an estimate, never a billed figure.
		meta.NumBytes = meta.NumRows * EstimatedRowBytes(meta.Columns)
	}
	return meta
}

func columns(s bigquery.Schema) []sqlscan.Column {
	out := make([]sqlscan.Column, 0, len(s))
	for _, f := range s {
		mode := "NULLABLE"
		if f.Repeated {
			mode = "REPEATED"
		} else if f.Required {
			mode = "REQUIRED"
		}
		c := sqlscan.Column{Name: f.Name, Type: string(f.Type), Mode: mode, Description: f.Description}
		if f.PolicyTags != nil {
			c.PolicyTags = append(c.PolicyTags, f.PolicyTags.Names...)
		}
		if len(f.Schema) > 0 {
			c.Fields = columns(f.Schema)
		}
		out = append(out, c)
	}
	return out
}

// EstimatedRowBytes estimates one row's size from BigQuery's documented
// data sizes per type (INT64, FLOAT64, TIMESTAMP, DATE: 8 bytes; BOOL: 1;
// NUMERIC: 16; STRING and BYTES: 2 + length, taken here as 32 bytes of
// content). It is an estimate for local mode, where the emulator reports no
// table size.
func EstimatedRowBytes(cols []sqlscan.Column) int64 {
	var n int64
	for _, c := range cols {
		var w int64
		switch strings.ToUpper(c.Type) {
		case "BOOL", "BOOLEAN":
			w = 1
		case "NUMERIC":
			w = 16
		case "BIGNUMERIC":
			w = 32
		case "STRING", "BYTES", "JSON":
			w = 2 + 32
		case "RECORD", "STRUCT":
			w = EstimatedRowBytes(c.Fields)
		default:
			w = 8
		}
		if c.Mode == "REPEATED" {
			w *= 4
		}
		n += w
	}
	return n
}
