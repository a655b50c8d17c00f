// Package check holds the invariants the zetafuzz targets assert, run in
// the worker process against the real analyzer and policy engine. The
// policy tests use FailClosed too (TestMutatedRequests).
package check

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// Checker runs the checks against the test catalog of testing/sql and the
// default policy over the demo tables.
type Checker struct {
	opts   sqlscan.Options
	engine *policy.Engine
}

// New loads the catalog from repoRoot/testing/sql/catalog.yaml plus the
// demo tables, as the sqlscan corpus tests do.
func New(repoRoot string) (*Checker, error) {
	cat, cf, err := sqlscantest.LoadCatalog(filepath.Join(repoRoot, "testing", "sql", "catalog.yaml"))
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	for _, m := range sqlscantest.DemoTables() {
		cat.Put(m)
	}
	return &Checker{
		opts:   sqlscan.Options{DefaultProject: cf.DefaultProject, DefaultDataset: cf.DefaultDataset, Catalog: cat},
		engine: policy.NewEngine(nil, sqlscantest.Demo()),
	}, nil
}

// Analyze checks that sqlscan.Analyze either fails with an error or
// returns a well-formed analysis: spans inside the text, a class per kind,
// derived sources inside the lineage, shaping only over reached tables.
func (c *Checker) Analyze(ctx context.Context, sql string) error {
	a, err := sqlscan.Analyze(ctx, sql, c.opts)
	if err != nil {
		var pe *sqlscan.ParseError
		if !errors.As(err, &pe) && !errors.Is(err, sqlscan.ErrNoStatements) && a != nil {
			// View expansion errors can happen; they must still be errors.
			return fmt.Errorf("error %v with a non-nil analysis", err)
		}
		return nil
	}
	if len(a.Statements) == 0 {
		return errors.New("no statements and no error")
	}
	switch a.Path {
	case sqlscan.PathAnalyzer, sqlscan.PathParserFallback:
	default:
		return fmt.Errorf("path %q", a.Path)
	}
	for _, st := range a.Statements {
		if st.Kind == "" || st.Class != sqlscan.ClassOf(st.Kind) {
			return fmt.Errorf("statement kind %q class %q", st.Kind, st.Class)
		}
		if st.Start < 0 || st.End > len(sql) || st.Start > st.End || st.Text != sql[st.Start:st.End] {
			return fmt.Errorf("span %d-%d of %d bytes", st.Start, st.End, len(sql))
		}
		if st.Path == sqlscan.PathParserFallback && st.AnalyzerError == "" {
			return errors.New("fallback without an analyzer error")
		}
	}
	for _, col := range a.OutputColumns {
		if col.Name == "" || !utf8.ValidString(col.Name) && utf8.ValidString(sql) {
			return fmt.Errorf("output column name %q", col.Name)
		}
		lin := map[sqlscan.ColumnRef]bool{}
		for _, r := range col.Lineage {
			lin[r] = true
		}
		for _, r := range col.Derived {
			if !lin[r] {
				return fmt.Errorf("column %q: derived source %s is not in its lineage %v", col.Name, r, col.Lineage)
			}
		}
	}
	for _, st := range a.Statements {
		reached := map[sqlscan.TableRef]bool{}
		for _, r := range append(append([]sqlscan.TableRef(nil), st.Tables...), st.ViaViews...) {
			reached[r] = true
		}
		for _, u := range st.Shaping {
			if u.Clause == "" || !reached[u.Column.Table] {
				return fmt.Errorf("shaping use %+v outside the tables %v", u, st.Tables)
			}
			if u.Lookup && u.Derived {
				return fmt.Errorf("shaping use %+v is a derived lookup", u)
			}
		}
	}
	return nil
}

// Limits builds SQL around the resource limits that keep ZetaSQL, which
// recurses on the C++ stack, from crashing the process: bracket nesting,
// statement count and table references. Over a limit, Analyze must refuse
// with a ParseError and no analysis; under it, it must return without
// crashing. filler goes in front of the nesting shapes, whose limit is
// textual.
func (c *Checker) Limits(ctx context.Context, shape uint8, n uint16, filler string) error {
	var sql string
	over := false
	switch shape % 4 {
	case 0: // nested subqueries
		d := int(n) % (4 * sqlscan.MaxNesting)
		sql = filler + "\n" + strings.Repeat("SELECT * FROM (", d) + "SELECT 1 AS x" + strings.Repeat(")", d)
		over = d > sqlscan.MaxNesting
	case 1: // nested arrays
		d := int(n) % (4 * sqlscan.MaxNesting)
		sql = filler + "\n" + "SELECT " + strings.Repeat("[", d) + "1" + strings.Repeat("]", d)
		over = d > sqlscan.MaxNesting
	case 2: // many statements
		k := int(n)%(2*sqlscan.MaxStatements) + 1
		sql = strings.Repeat("SELECT 1;\n", k)
		over = k > sqlscan.MaxStatements
	case 3: // many table references
		k := int(n)%(2*sqlscan.MaxTableReferences) + 1
		sql = "SELECT 1 FROM demo.customers" + strings.Repeat(", demo.customers", k-1)
		over = k > sqlscan.MaxTableReferences
	}
	a, err := sqlscan.Analyze(ctx, sql, c.opts)
	if !over {
		return nil
	}
	var pe *sqlscan.ParseError
	if !errors.As(err, &pe) || a != nil {
		return fmt.Errorf("shape %d, n %d over the limit: Analyze = %v, %v; want a ParseError and no analysis", shape%4, n, a != nil, err)
	}
	return nil
}

// Evaluate is FailClosed on the default policy over the demo tables.
func (c *Checker) Evaluate(ctx context.Context, sql string) error {
	return FailClosed(ctx, c.engine, sql)
}

// demoSensitive are the sensitive columns of the default policy, written
// out independently of the policy file.
var demoSensitive = map[string]bool{
	"email": true, "phone": true, "ssn": true, "card_number": true, "full_name": true, "street_address": true,
}

// FailClosed evaluates sql for an analyst and reports how the decision
// breaks the fail-closed contract: Evaluate never errors, a deny has a
// reason, and whatever is allowed is a read-only query understood by the
// analyzer whose every output column derived from a sensitive
// demo.customers column is marked for masking.
func FailClosed(ctx context.Context, e *policy.Engine, sql string) error {
	d, err := e.Evaluate(ctx, policy.Input{SQL: sql, Groups: []string{"analysts"}, Email: "ana@example.com"})
	if err != nil {
		return fmt.Errorf("Evaluate(%q) returned an error: %v", sql, err)
	}
	switch d.Action {
	case policy.ActionDeny:
		if len(d.Reasons) == 0 {
			return fmt.Errorf("deny without a reason for %q", sql)
		}
		return nil
	case policy.ActionAllow, policy.ActionRequireApproval:
	default:
		return fmt.Errorf("action %q for %q", d.Action, sql)
	}
	a := d.Analysis
	if a == nil || a.Path != sqlscan.PathAnalyzer {
		return fmt.Errorf("%s without an analyzer analysis for %q", d.Action, sql)
	}
	for _, st := range a.Statements {
		if st.Kind != sqlscan.KindQuery {
			return fmt.Errorf("%s a script with a %s statement: %q", d.Action, st.Kind, sql)
		}
	}
	isSensitive := func(l sqlscan.ColumnRef) bool {
		return strings.EqualFold(l.Table.Dataset, "demo") && strings.EqualFold(l.Table.Table, "customers") && (demoSensitive[strings.ToLower(l.Column)] || l.Column == sqlscan.AllColumns)
	}
	for _, col := range a.OutputColumns {
		for _, l := range col.Lineage {
			if isSensitive(l) && len(d.ColumnInfoTypesByIndex[col.Index]) == 0 {
				return fmt.Errorf("%s output column %q derived from %s without masking: %q", d.Action, col.Name, l, sql)
			}
		}
		for _, l := range col.Derived {
			if isSensitive(l) && !slices.Contains(d.ColumnInfoTypesByIndex[col.Index], policy.DerivedInfoType) {
				return fmt.Errorf("%s output column %q computed from %s is not marked derived: %q", d.Action, col.Name, l, sql)
			}
		}
	}
	// The default policy holds every request a sensitive column shapes.
	if d.Action == policy.ActionAllow {
		for _, st := range a.Statements {
			for _, u := range st.Shaping {
				if isSensitive(u.Column) {
					return fmt.Errorf("allowed although %s shapes it in %s: %q", u.Column, u.Clause, sql)
				}
			}
		}
	}
	return nil
}

// Load checks that policy.Load on arbitrary YAML names the file in its
// errors and accepts only rules with an id and a known action.
func Load(src string) error {
	p, err := policy.Load([]byte(src), "fuzz.yaml")
	if err != nil {
		if !strings.Contains(err.Error(), "fuzz.yaml") {
			return fmt.Errorf("error does not name the file: %v", err)
		}
		return nil
	}
	for _, r := range p.Rules {
		if r.ID == "" || (r.Action != policy.ActionAllow && r.Action != policy.ActionDeny && r.Action != policy.ActionRequireApproval) {
			return fmt.Errorf("accepted rule %+v", r)
		}
	}
	return nil
}
