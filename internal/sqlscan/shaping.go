package sqlscan

import (
	"sort"
	"strings"

	"github.com/goccy/go-zetasql/resolved_ast"
)

// Clauses in which a column can shape a result without being projected
// (ShapingUse.Clause).
const (
	ClauseWhere             = "where"
	ClauseJoinOn            = "join_on"
	ClauseHaving            = "having"
	ClauseQualify           = "qualify"
	ClauseGroupBy           = "group_by"
	ClauseOrderBy           = "order_by"
	ClauseWindowPartitionBy = "window_partition_by"
	ClauseWindowOrderBy     = "window_order_by"
	// ClauseInSubquery, ClauseExistsSubquery and ClauseScalarSubquery mark
	// a subquery's result used inside one of the clauses above
	// (x IN (SELECT ...), EXISTS (...), x = (SELECT ...)). The filters
	// inside the subquery are reported under their own clause.
	ClauseInSubquery     = "in_subquery"
	ClauseExistsSubquery = "exists_subquery"
	ClauseScalarSubquery = "scalar_subquery"
	// ClauseUnnest: the columns an UNNEST's array is computed from
	// (UNNEST(SPLIT(email, '@'))), which decide how many rows each input
	// row becomes. UNNEST of an array column itself is not recorded.
	ClauseUnnest = "unnest"
	// ClausePivot: the FOR column of a PIVOT the analyzer kept as such.
	// (go-zetasql's analyzer rewrites PIVOT into an aggregation of
	// IF(col = value, ...), whose outputs are derived from col.)
	ClausePivot = "pivot"
	// ClauseSetOperation: INTERSECT, EXCEPT or UNION DISTINCT compares
	// whole rows, so every column of every input decides which survive.
	ClauseSetOperation = "set_operation"
	// ClauseUnanalyzed: the analyzer could not resolve the statement, so
	// every column of every table it reaches is assumed to shape it.
	ClauseUnanalyzed = "unanalyzed"
)

// ShapingUse is one column that decides which rows a statement returns, how
// many, or in which order, without (necessarily) being projected: a filter
// (WHERE SUBSTR(ssn, pos, 1) = d), a join condition, a grouping, an
// ordering, a window specification or a subquery predicate, at any depth of
// the statement (CTEs, subqueries). Filters inside a view's definition are
// the view's, not the request's, and are not reported.
type ShapingUse struct {
	Clause string
	Column ColumnRef
	// Derived reports that the clause reads a value computed from Column
	// (SUBSTR(ssn, 1, 1)), not Column itself.
	Derived bool
	// Lookup reports an equality test of Column itself against constants
	// or query parameters: col = 42, 42 = col, col IN (1, 2). Such a use
	// probes one guessed value per constant; policy can allow it on key
	// columns an administrator names.
	Lookup bool
}

// rawShape is a shaping use before the lineage graph is complete.
type rawShape struct {
	clause string
	id     int
	lookup bool
	// computed: the clause reads a function of the column (SUBSTR(ssn, 1,
	// 1) = d), not the column itself (ssn LIKE '5%').
	computed bool
	// nullTest: the clause only tests whether the column is NULL, which
	// tells nothing of a value (as COUNT(col) does not).
	nullTest bool
}

// shape records ids as used in clause; lookup holds the ids used as
// equality lookups.
func (l *lineage) shape(clause string, ids []int, lookup map[int]bool) {
	for _, id := range ids {
		l.shapes = append(l.shapes, rawShape{clause: clause, id: id, lookup: lookup[id]})
	}
}

// shapeComputed records ids as read through a computation in clause.
func (l *lineage) shapeComputed(clause string, ids []int) {
	for _, id := range ids {
		l.shapes = append(l.shapes, rawShape{clause: clause, id: id, computed: true})
	}
}

// shapeExpr records a filter or join condition, conjunct by conjunct, and
// each conjunct's columns as constrained by one another.
func (l *lineage) shapeExpr(clause string, e resolved_ast.ExprNode) {
	for _, c := range conjuncts(e, 0) {
		lookup := map[int]bool{}
		if id, ok := equalityLookup(c); ok {
			lookup[id] = true
		}
		l.shapeRefs(clause, c, lookup)
		if ids := l.refs(c); len(ids) > 1 {
			// A subquery's own columns are no output of this query: only
			// the columns the conjunct reads directly can be constrained.
			l.constraints = append(l.constraints, constraint{targets: l.directRefs(c), sources: ids})
		}
	}
}

// constraint is one conjunct's columns (see finish).
type constraint struct {
	targets, sources []int
}

// directRefs returns the columns an expression reads outside subqueries,
// and the left side of IN (subquery).
func (l *lineage) directRefs(n resolved_ast.Node) []int {
	var out []int
	depth := 0
	var visit func(resolved_ast.Node)
	visit = func(n resolved_ast.Node) {
		if isNil(n) || l.tooDeep {
			return
		}
		depth++
		defer func() { depth-- }()
		if depth > maxTreeDepth {
			l.tooDeep = true
			return
		}
		switch x := n.(type) {
		case *resolved_ast.ColumnRefNode:
			out = append(out, x.Column().ColumnID())
			return
		case *resolved_ast.SubqueryExprNode:
			visit(x.InExpr())
			return
		}
		for _, c := range n.ChildNodes() {
			visit(c)
		}
	}
	visit(n)
	return out
}

// finish adds what a condition tells about the rows it keeps: in a row that
// passes SUBSTR(ssn, pos, 1) = d, the value of d (an UNNEST element, a
// subquery or CTE column: anything not read straight from a table) is
// computed from ssn and pos. So every such column of a conjunct derives
// from the conjunct's other columns, and a digit table's outputs carry the
// lineage of what they reconstruct. Columns read straight from a table keep
// their own values whatever the condition (a join on customer_id does not
// make either side derived).
func (l *lineage) finish() {
	for _, c := range l.constraints {
		var targets []int
		for _, id := range c.targets {
			if _, ok := l.base[id]; !ok {
				targets = append(targets, id)
			}
		}
		l.computedFrom(targets, c.sources)
	}
	l.constraints = nil
}

// shapeRefs records every column a condition reads. A column is read
// itself when only AND, OR and NOT, and at most one other operator, stand
// between it and the condition (ssn LIKE '5%', id = 1 OR id = 2), else
// through a computation (SUBSTR(ssn, pos, 1) = d). A subquery's result (and
// the left side of IN) is recorded under the subquery's clause.
func (l *lineage) shapeRefs(clause string, n resolved_ast.Node, lookup map[int]bool) {
	depth := 0
	var visit func(n resolved_ast.Node, ops int)
	visit = func(n resolved_ast.Node, ops int) {
		if isNil(n) || l.tooDeep {
			return
		}
		depth++
		defer func() { depth-- }()
		if depth > maxTreeDepth {
			l.tooDeep = true
			return
		}
		switch x := n.(type) {
		case *resolved_ast.ColumnRefNode:
			if ops <= 1 {
				l.shape(clause, []int{x.Column().ColumnID()}, lookup)
			} else {
				l.shapeComputed(clause, []int{x.Column().ColumnID()})
			}
			return
		case *resolved_ast.SubqueryExprNode:
			sub := subqueryClause(x.SubqueryType())
			if s := x.Subquery(); !isNil(s) {
				l.shape(sub, colIDs(s.ColumnList()), nil)
			}
			if in := x.InExpr(); !isNil(in) {
				l.shape(sub, l.refs(in), nil)
			}
			return
		case *resolved_ast.FunctionCallNode:
			if fn := x.Function(); fn != nil {
				switch fn.Name() {
				case "$and", "$or", "$not":
					for _, c := range n.ChildNodes() {
						visit(c, ops)
					}
					return
				case "$is_null":
					if args := x.ArgumentList(); len(args) == 1 {
						if r, ok := args[0].(*resolved_ast.ColumnRefNode); ok && !isNil(r) {
							l.shapes = append(l.shapes, rawShape{clause: clause, id: r.Column().ColumnID(), nullTest: true})
							return
						}
					}
				}
			}
		}
		for _, c := range n.ChildNodes() {
			visit(c, ops+1)
		}
	}
	visit(n, 0)
}

func subqueryClause(t resolved_ast.SubqueryType) string {
	switch t {
	case resolved_ast.SubqueryTypeIn:
		return ClauseInSubquery
	case resolved_ast.SubqueryTypeExists:
		return ClauseExistsSubquery
	}
	return ClauseScalarSubquery
}

// conjuncts splits a condition at its top-level ANDs.
func conjuncts(e resolved_ast.ExprNode, depth int) []resolved_ast.ExprNode {
	if f, ok := e.(*resolved_ast.FunctionCallNode); ok && !isNil(f) && depth < maxTreeDepth {
		if fn := f.Function(); fn != nil && fn.Name() == "$and" {
			var out []resolved_ast.ExprNode
			for _, a := range f.ArgumentList() {
				out = append(out, conjuncts(a, depth+1)...)
			}
			return out
		}
	}
	return []resolved_ast.ExprNode{e}
}

// equalityLookup recognises col = constant, constant = col and
// col IN (constant, ...), and returns col's id.
func equalityLookup(e resolved_ast.ExprNode) (int, bool) {
	f, ok := e.(*resolved_ast.FunctionCallNode)
	if !ok || isNil(f) {
		return 0, false
	}
	fn := f.Function()
	if fn == nil {
		return 0, false
	}
	args := f.ArgumentList()
	switch fn.Name() {
	case "$equal":
		if len(args) != 2 {
			return 0, false
		}
		if r, ok := args[0].(*resolved_ast.ColumnRefNode); ok && constant(args[1]) {
			return r.Column().ColumnID(), true
		}
		if r, ok := args[1].(*resolved_ast.ColumnRefNode); ok && constant(args[0]) {
			return r.Column().ColumnID(), true
		}
	case "$in":
		if len(args) < 2 {
			return 0, false
		}
		r, ok := args[0].(*resolved_ast.ColumnRefNode)
		if !ok {
			return 0, false
		}
		for _, a := range args[1:] {
			if !constant(a) {
				return 0, false
			}
		}
		return r.Column().ColumnID(), true
	}
	return 0, false
}

// constant reports an expression that reads no column and holds no
// subquery: literals, parameters and functions of them.
func constant(e resolved_ast.Node) bool {
	ok := true
	depth := 0
	var visit func(resolved_ast.Node)
	visit = func(n resolved_ast.Node) {
		if !ok || isNil(n) {
			return
		}
		depth++
		defer func() { depth-- }()
		if depth > maxTreeDepth {
			ok = false
			return
		}
		switch n.(type) {
		case *resolved_ast.ColumnRefNode, *resolved_ast.SubqueryExprNode:
			ok = false
			return
		}
		for _, c := range n.ChildNodes() {
			visit(c)
		}
	}
	visit(e)
	return ok
}

// filterClause names the clause a FilterScan comes from: HAVING filters an
// aggregation, QUALIFY a window computation, WHERE anything else.
func filterClause(in resolved_ast.ScanNode) string {
	for i := 0; i < 4 && !isNil(in); i++ {
		switch x := in.(type) {
		case *resolved_ast.AggregateScanNode:
			return ClauseHaving
		case *resolved_ast.AnalyticScanNode:
			return ClauseQualify
		case *resolved_ast.ProjectScanNode:
			in = x.InputScan()
			continue
		}
		break
	}
	return ClauseWhere
}

func orderIDs(items []*resolved_ast.OrderByItemNode) []int {
	var ids []int
	for _, it := range items {
		if isNil(it) {
			continue
		}
		if r := it.ColumnRef(); !isNil(r) {
			ids = append(ids, r.Column().ColumnID())
		}
	}
	return ids
}

// shaping resolves the recorded uses to table columns, deduplicated and
// sorted by clause, then column.
func (l *lineage) shaping() []ShapingUse {
	set := map[ShapingUse]bool{}
	for _, s := range l.shapes {
		all, derived := l.sources(s.id)
		der := map[ColumnRef]bool{}
		for _, d := range derived {
			der[d] = true
		}
		for _, c := range all {
			if s.nullTest && !der[c] {
				// col IS NULL over a plain copy of c.
				continue
			}
			u := ShapingUse{Clause: s.clause, Column: c, Derived: der[c] || s.computed}
			u.Lookup = s.lookup && !u.Derived
			set[u] = true
		}
	}
	return sortShaping(set)
}

func sortShaping(set map[ShapingUse]bool) []ShapingUse {
	out := make([]ShapingUse, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Clause != b.Clause {
			return a.Clause < b.Clause
		}
		if c := strings.Compare(a.Column.String(), b.Column.String()); c != 0 {
			return c < 0
		}
		if a.Derived != b.Derived {
			return !a.Derived
		}
		return !a.Lookup && b.Lookup
	})
	return out
}
