package session

import (
	"context"
	"fmt"
	"time"
)

// TableProfile is the stored classification of one table by sampling (see
// package classify). It holds counts and infoType names, never a cell value.
// Every instance reads the same profiles from the store, so a cold instance
// does not sample a table again.
type TableProfile struct {
	// Table is project.dataset.table.
	Table string `json:"table"`
	// LastModified is the table's lastModifiedTime when it was sampled; a
	// profile whose table has changed since is stale.
	LastModified time.Time `json:"last_modified"`
	ProfiledAt   time.Time `json:"profiled_at"`
	// SampledRows and SampledBytes say how much was read (tabledata.list).
	SampledRows  int64 `json:"sampled_rows"`
	SampledBytes int64 `json:"sampled_bytes"`
	// Columns lists every top-level column of the table, sensitive or not.
	Columns []ColumnProfile `json:"columns"`
}

// ColumnProfile is what sampling found in one column.
type ColumnProfile struct {
	Name string `json:"name"`
	// InfoTypes are the infoTypes the column is sensitive as (empty: not
	// sensitive).
	InfoTypes []string `json:"info_types,omitempty"`
	// NonNull counts the sampled cells that were inspected (non-null text).
	NonNull int64 `json:"non_null"`
	// Matches counts, per infoType found at all, the cells in which it was
	// found.
	Matches map[string]int64 `json:"matches,omitempty"`
	// NameHint is the infoType the column's name suggests, if any; a hint
	// lowers the bar for that infoType but is never the only signal.
	NameHint string `json:"name_hint,omitempty"`
}

// ProfileStore persists table profiles, keyed by table. Both Store
// implementations provide it; the conformance suite checks it.
type ProfileStore interface {
	// GetProfile returns the profile of table (project.dataset.table) or
	// ErrNotFound.
	GetProfile(ctx context.Context, table string) (*TableProfile, error)
	// PutProfile stores p, replacing any profile of the same table.
	PutProfile(ctx context.Context, p *TableProfile) error
}

var (
	_ ProfileStore = (*SQLite)(nil)
	_ ProfileStore = (*Firestore)(nil)
)

// MaxProfileBytes bounds one stored profile by Firestore's document limit,
// in both stores. A column costs about 100 to 200 bytes, so a table of more
// than roughly 5,000 columns (BigQuery allows 10,000) cannot be stored, and
// profiling it fails closed (the request is denied).
const MaxProfileBytes = MaxDocumentBytes - docOverhead

func checkProfile(p *TableProfile) error {
	if p == nil || p.Table == "" {
		return fmt.Errorf("put profile: no table")
	}
	return nil
}
