package policy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestWildcardClassifiedThroughItsTables: a wildcard reference is
// classified (the profiler is asked for it, and classifies it through the
// tables it matches), lineage masks what derives from its sensitive
// columns, a star over it waits for approval, a filter on a sensitive
// column of it waits too, and a filter on _TABLE_SUFFIX does not.
func TestWildcardClassifiedThroughItsTables(t *testing.T) {
	t.Parallel()
	shard := func(name string) *sqlscan.TableMeta {
		return &sqlscan.TableMeta{Ref: sqlscan.TableRef{Project: "querygate-local", Dataset: "log", Table: name}, Type: "TABLE",
			Columns: []sqlscan.Column{{Name: "who", Type: "STRING"}, {Name: "what", Type: "STRING"}}, NumRows: 10, NumBytes: 1000}
	}
	cat := sqlscan.NewMemoryCatalog(shard("events_2025"), shard("events_2026"))
	var asked atomic.Value
	prof := func(_ context.Context, ref sqlscan.TableRef) (map[string]policy.ProfiledColumn, error) {
		asked.Store(ref.String())
		if ref.Table == "events_*" {
			return map[string]policy.ProfiledColumn{"who": {InfoTypes: []string{"EMAIL_ADDRESS"}, SampledRows: 20, NonNull: 20, Matches: 10}}, nil
		}
		return nil, nil
	}
	e := policy.NewEngine(nil, cat, policy.WithColumnProfiler(prof, 0))
	for _, tc := range []struct {
		sql, action string
		masked      map[string][]string
	}{
		{"SELECT who, what FROM `log.events_*` WHERE _TABLE_SUFFIX = '2026'", policy.ActionAllow, map[string][]string{"who": {"EMAIL_ADDRESS"}}},
		{"SELECT SUBSTR(who, 2) AS w, _TABLE_SUFFIX AS yr FROM `log.events_*`", policy.ActionAllow, map[string][]string{"w": {"EMAIL_ADDRESS", policy.DerivedInfoType}}},
		{"SELECT what FROM `log.events_*` WHERE who LIKE 'a%'", policy.ActionRequireApproval, map[string][]string{}},
		{"SELECT * FROM `log.events_*`", policy.ActionRequireApproval, map[string][]string{"who": {"EMAIL_ADDRESS"}}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			d, err := e.Evaluate(context.Background(), analyst(tc.sql))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action {
				t.Errorf("action %s %v %v, want %s", d.Action, d.RuleIDs, d.Reasons, tc.action)
			}
			if diff := cmp.Diff(tc.masked, d.ColumnInfoTypes); diff != "" {
				t.Errorf("ColumnInfoTypes (-want, +got):\n%s", diff)
			}
			if got := asked.Load(); got != "querygate-local.log.events_*" {
				t.Errorf("profiler asked for %v, want the wildcard", got)
			}
		})
	}
	d, err := e.Evaluate(context.Background(), analyst("SELECT who FROM `log.events_*`"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Columns) != 1 || len(d.Columns[0].Classes) != 1 || !slices.Equal(d.Columns[0].Classes[0].Sources, []string{policy.ClassProfile}) || d.Columns[0].Classes[0].SampledRows != 20 {
		t.Errorf("facts of a wildcard column = %+v, want one profile class over 20 sampled rows", d.Columns)
	}
}

// refusingCatalog answers a wildcard as catalog.BigQuery does over the cap.
type refusingCatalog struct{ sqlscan.Catalog }

func (c refusingCatalog) Table(ctx context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	if ref.IsWildcard() {
		return nil, fmt.Errorf("wildcard table %s matches more than %d tables, more than querygate classifies for one reference; name fewer tables (a longer prefix)", ref, sqlscan.MaxWildcardTables)
	}
	return c.Catalog.Table(ctx, ref)
}

// TestWildcardOverTheCapIsDenied: a wildcard the catalog refuses (over
// MaxWildcardTables, or matching a view) is denied with the reason.
func TestWildcardOverTheCapIsDenied(t *testing.T) {
	t.Parallel()
	e := policy.NewEngine(nil, refusingCatalog{sqlscan.NewMemoryCatalog()})
	d, err := e.Evaluate(context.Background(), analyst("SELECT what FROM `log.shard_*`"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != policy.ActionDeny || len(d.RuleIDs) != 1 || d.RuleIDs[0] != "builtin.analysis_error" || !strings.Contains(d.Reasons[0], "matches more than 50 tables") {
		t.Errorf("decision %s %v %q, want deny builtin.analysis_error naming the cap", d.Action, d.RuleIDs, d.Reasons)
	}
}
