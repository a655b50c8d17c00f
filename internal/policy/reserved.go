package policy

import (
	"fmt"
	"strings"

	"github.com/querygate/querygate/internal/sqlscan"
)

// ReservedDatasetPrefix starts the name of every dataset querygate keeps
// for itself: the audit dataset, the results dataset that holds query
// results before masking, and (locally) the emulator's per-job result
// datasets. No agent query may read or write them, whatever the rules say.
const ReservedDatasetPrefix = "querygate_"

// WithReservedDatasets adds dataset names (dataset or project.dataset) that
// no request may touch, besides those starting with ReservedDatasetPrefix:
// an audit or results dataset configured under another name.
func WithReservedDatasets(names ...string) EngineOption {
	return func(e *Engine) {
		for _, n := range names {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
				e.reserved = append(e.reserved, n)
			}
		}
	}
}

// reservedTable reports whether t lies in one of querygate's own datasets.
func (e *Engine) reservedTable(t sqlscan.TableRef) bool {
	ds := strings.ToLower(t.Dataset)
	if strings.HasPrefix(ds, ReservedDatasetPrefix) {
		return true
	}
	full := strings.ToLower(t.Project) + "." + ds
	for _, r := range e.reserved {
		if r == ds || r == full {
			return true
		}
	}
	return false
}

func reservedReason(t sqlscan.TableRef) string {
	return fmt.Sprintf("%s is in a dataset querygate keeps for itself (audit records or unmasked results); agents cannot query it.", t)
}
