package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
)

// DryRunInput is what a dry run needs.
type DryRunInput struct {
	SQL                            string
	DefaultProject, DefaultDataset string
	Parameters                     []session.Parameter
}

// DryRunResult is what BigQuery's dry run reports (JobStatistics2).
type DryRunResult struct {
	TotalBytesProcessed int64
	// StatementType is BigQuery's statementType: SELECT, INSERT, SCRIPT, ...
	StatementType string
	// ReferencedTables are the tables BigQuery resolved, views expanded.
	ReferencedTables []sqlscan.TableRef
}

// DryRunner is the consumer-side port for BigQuery's dry run. The cloud
// implementation calls jobs.insert with dryRun; the local gateway has none,
// because the emulator's dry run executes the query and always reports
// SELECT.
type DryRunner interface {
	DryRun(ctx context.Context, in DryRunInput) (*DryRunResult, error)
}

// bigQueryStatementType maps an analysis to the statementType BigQuery
// reports for it.
func bigQueryStatementType(a *sqlscan.Analysis) string {
	top := 0
	var kind string
	for _, st := range a.Statements {
		if st.Depth == 0 {
			top++
			kind = st.Kind
		}
	}
	if top != 1 {
		return "SCRIPT"
	}
	switch kind {
	case sqlscan.KindQuery:
		return "SELECT"
	case sqlscan.KindDrop:
		return "DROP_TABLE"
	}
	return kind
}

// CrossCheck compares a dry run with the analysis and returns every
// disagreement. The analysis must account for every table BigQuery
// resolved: a table the dry run names that the analysis missed means
// querygate misread the SQL, so the engine fails closed. Tables the analysis
// has and the dry run lacks are harmless over-approximation (an unused CTE,
// a view BigQuery reports only by its base tables) and are not reported.
func CrossCheck(a *sqlscan.Analysis, res *DryRunResult) []string {
	var problems []string
	if res == nil {
		return []string{"the dry run returned no result"}
	}
	want := bigQueryStatementType(a)
	if !strings.EqualFold(res.StatementType, want) {
		problems = append(problems, fmt.Sprintf("statement type is %s to BigQuery but %s to querygate", res.StatementType, want))
	}
	known := map[sqlscan.TableRef]bool{}
	var wildcards []sqlscan.TableRef
	for _, st := range a.Statements {
		for _, list := range [][]sqlscan.TableRef{st.Tables, st.ViaViews} {
			for _, t := range list {
				known[t] = true
				if t.IsWildcard() {
					wildcards = append(wildcards, t)
				}
			}
		}
	}
	var missed []string
	for _, t := range res.ReferencedTables {
		if known[t] || coveredByWildcard(t, wildcards) {
			continue
		}
		missed = append(missed, t.String())
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		problems = append(problems, "BigQuery references tables querygate did not find: "+strings.Join(missed, ", "))
	}
	return problems
}

func coveredByWildcard(t sqlscan.TableRef, wildcards []sqlscan.TableRef) bool {
	for _, w := range wildcards {
		if w.Project == t.Project && w.Dataset == t.Dataset && strings.HasPrefix(t.Table, strings.TrimSuffix(w.Table, "*")) {
			return true
		}
	}
	return false
}
