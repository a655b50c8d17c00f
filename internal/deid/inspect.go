package deid

import (
	"context"
	"fmt"
	"sort"
)

// Inspector reports which infoTypes occur in text, without transforming it:
// the inspection half of de-identification, for classifying tables from a
// sample of their rows (package classify). Implementations: Local and DLP,
// with the same inspectConfig as masking, so a column is classified by the
// very detectors that would mask its values.
type Inspector interface {
	// Inspect returns, for each cell, the sorted infoTypes found in it (nil
	// when none). The result has len(cells) entries. Errors never quote a
	// cell.
	Inspect(ctx context.Context, cells []string) ([][]string, error)
}

var (
	_ Inspector = (*Local)(nil)
	_ Inspector = (*DLP)(nil)
)

// Inspect implements Inspector with the local detectors of the masking
// configuration (built-in and custom infoTypes).
func (l *Local) Inspect(ctx context.Context, cells []string) ([][]string, error) {
	out := make([][]string, len(cells))
	var spans []span
	for i, s := range cells {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		spans = l.builtins.scan(s, spans[:0])
		for _, c := range l.customs {
			spans = c.d.find(s, c.it, spans)
		}
		if len(spans) == 0 {
			continue
		}
		out[i] = l.names(spans)
	}
	return out, nil
}

// names returns the distinct, sorted infoType names of spans.
func (l *Local) names(spans []span) []string {
	seen := map[int]bool{}
	var names []string
	for _, sp := range spans {
		if sp.it < 0 || sp.it >= len(l.infoTypes) {
			continue
		}
		if !seen[sp.it] {
			seen[sp.it] = true
			names = append(names, l.infoTypes[sp.it])
		}
	}
	sort.Strings(names)
	return names
}

// collectFindings groups the findings of one inspection of n cells (row
// index and infoType of each) into the sorted infoTypes of each row; a
// finding outside the request's rows is an error. Used by the DLP adapter.
func collectFindings(n int, rows []int64, infoTypes []string) ([][]string, error) {
	out := make([][]string, n)
	sets := make([]map[string]bool, n)
	for k, r := range rows {
		if r < 0 || r >= int64(n) {
			return nil, fmt.Errorf("%w: inspection finding for row %d of %d", ErrTable, r, n)
		}
		if sets[r] == nil {
			sets[r] = map[string]bool{}
		}
		sets[r][infoTypes[k]] = true
	}
	for i, s := range sets {
		if len(s) == 0 {
			continue
		}
		for it := range s {
			out[i] = append(out[i], it)
		}
		sort.Strings(out[i])
	}
	return out, nil
}
