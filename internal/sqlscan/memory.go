package sqlscan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MemoryCatalog is an in-memory Catalog, for tests and for local runs
// without a warehouse. It answers wildcard references (table names ending
// in '*') with the schema of the last matching table (views excluded), in
// name order, and the summed sizes, as BigQuery does.
type MemoryCatalog struct {
	mu     sync.RWMutex
	tables map[TableRef]*TableMeta
}

var _ Catalog = (*MemoryCatalog)(nil)

// NewMemoryCatalog returns a catalog holding tables.
func NewMemoryCatalog(tables ...*TableMeta) *MemoryCatalog {
	c := &MemoryCatalog{tables: map[TableRef]*TableMeta{}}
	for _, t := range tables {
		c.Put(t)
	}
	return c
}

// Put adds or replaces a table.
func (c *MemoryCatalog) Put(t *TableMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables[t.Ref] = t
}

// Table implements Catalog.
func (c *MemoryCatalog) Table(ctx context.Context, ref TableRef) (*TableMeta, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if t, ok := c.tables[ref]; ok {
		return t, nil
	}
	if ref.IsWildcard() {
		prefix := strings.TrimSuffix(ref.Table, "*")
		var last *TableMeta
		var bytes, rows int64
		tags := map[string][]string{}
		for r, t := range c.tables {
			if r.Project == ref.Project && r.Dataset == ref.Dataset && strings.HasPrefix(r.Table, prefix) && !strings.EqualFold(t.Type, "VIEW") {
				bytes += t.NumBytes
				rows += t.NumRows
				if last == nil || r.Table > last.Ref.Table {
					last = t
				}
				for _, col := range t.Columns {
					tags[strings.ToLower(col.Name)] = append(tags[strings.ToLower(col.Name)], col.PolicyTags...)
				}
			}
		}
		if last != nil {
			// A policy tag on a column of any matching table tags the
			// wildcard's column, as catalog.BigQuery answers.
			cols := make([]Column, len(last.Columns))
			copy(cols, last.Columns)
			for i := range cols {
				for _, tag := range tags[strings.ToLower(cols[i].Name)] {
					if !slices.Contains(cols[i].PolicyTags, tag) {
						cols[i].PolicyTags = append(slices.Clone(cols[i].PolicyTags), tag)
					}
				}
			}
			return &TableMeta{Ref: ref, Columns: cols, Type: "TABLE", NumBytes: bytes, NumRows: rows}, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", ref, ErrTableNotFound)
}
