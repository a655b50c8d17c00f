package sqlscan

import (
	"strings"

	"github.com/goccy/go-zetasql/resolved_ast"
)

// edgeKind says how a column's value relates to the column it comes from.
type edgeKind uint8

const (
	// edgeCopy: the value passes unchanged (a column reference, a CTE or
	// subquery column, a UNION branch).
	edgeCopy edgeKind = iota
	// edgeCompute: the value is computed from the other column (any
	// function, operator, cast, constructor, subquery or window).
	edgeCompute
	// edgeCount: the value counts the other column's non-null values
	// (COUNT(x), COUNT(DISTINCT x), COUNTIF(x), APPROX_COUNT_DISTINCT(x));
	// it carries none of its values, only of whatever decides its nullness.
	edgeCount
)

type edge struct {
	to   int
	kind edgeKind
}

func (l *lineage) edge(from *resolved_ast.Column, kind edgeKind, to ...int) {
	if from == nil {
		return
	}
	id := from.ColumnID()
	for _, t := range uniqueIDs(to) {
		l.edges[id] = append(l.edges[id], edge{to: t, kind: kind})
	}
}

// computedFrom records that every target column is computed from every
// source column. Many-to-many, it goes through one synthetic hub column
// (negative ids, never a table column), so the edges stay linear in the
// SQL: a window shared by thousands of functions, or a condition over
// thousands of columns, cannot make the graph quadratic.
func (l *lineage) computedFrom(targets, sources []int) {
	targets, sources = uniqueIDs(targets), uniqueIDs(sources)
	if len(targets) == 0 || len(sources) == 0 {
		return
	}
	if len(targets)*len(sources) <= 64 {
		for _, t := range targets {
			for _, src := range sources {
				if t != src {
					l.edges[t] = append(l.edges[t], edge{to: src, kind: edgeCompute})
				}
			}
		}
		return
	}
	l.hubs--
	hub := l.hubs
	for _, t := range targets {
		l.edges[t] = append(l.edges[t], edge{to: hub, kind: edgeCompute})
	}
	for _, src := range sources {
		l.edges[hub] = append(l.edges[hub], edge{to: src, kind: edgeCopy})
	}
}

func uniqueIDs(ids []int) []int {
	seen := make(map[int]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// fieldSource is what one field of a constructed struct reads.
type fieldSource struct {
	ids      []int
	computed bool
}

// fieldLineage returns the sources of one struct field.
func (l *lineage) fieldLineage(f fieldSource) (all, derived []ColumnRef) {
	set, der := map[ColumnRef]bool{}, map[ColumnRef]bool{}
	for _, id := range f.ids {
		a, d := l.sources(id)
		for _, r := range a {
			set[r] = true
			if f.computed {
				der[r] = true
			}
		}
		for _, r := range d {
			der[r] = true
		}
	}
	return sortedRefs(set), sortedRefs(der)
}

// countFunctions are the aggregates whose result is a number of non-null
// inputs, whatever the inputs hold.
var countFunctions = map[string]bool{
	"count": true, "countif": true, "approx_count_distinct": true, "$count_star": true,
}

// exprEdges records how column col's value comes from expr.
func (l *lineage) exprEdges(col *resolved_ast.Column, expr resolved_ast.ExprNode) {
	switch x := expr.(type) {
	case *resolved_ast.ColumnRefNode:
		l.edge(col, edgeCopy, x.Column().ColumnID())
		return
	case *resolved_ast.GetStructFieldNode:
		// home.zip: a field of a RECORD column is part of its value,
		// unchanged (lineage is per top-level column).
		if r := structFieldBase(x); r != nil {
			l.edge(col, edgeCopy, r.Column().ColumnID())
			return
		}
	case *resolved_ast.MakeStructNode:
		// Kept per field for SELECT AS STRUCT, whose fields BigQuery
		// returns as columns (outputColumns); the struct as a whole is
		// computed from every field.
		var fields []fieldSource
		for _, f := range x.FieldList() {
			if r, ok := f.(*resolved_ast.ColumnRefNode); ok && !isNil(r) {
				fields = append(fields, fieldSource{ids: []int{r.Column().ColumnID()}})
			} else {
				fields = append(fields, fieldSource{ids: l.refs(f), computed: true})
			}
		}
		if col != nil {
			if l.structs == nil {
				l.structs = map[int][]fieldSource{}
			}
			l.structs[col.ColumnID()] = fields
		}
	case *resolved_ast.AggregateFunctionCallNode:
		if f := x.Function(); f != nil && countFunctions[strings.ToLower(f.Name())] {
			l.countEdges(col, x.ArgumentList())
			if h := x.HavingModifier(); !isNil(h) {
				l.edge(col, edgeCompute, l.refs(h)...)
			}
			return
		}
	case *resolved_ast.AnalyticFunctionCallNode:
		if f := x.Function(); f != nil && countFunctions[strings.ToLower(f.Name())] {
			l.countEdges(col, x.ArgumentList())
			return
		}
	}
	l.edge(col, edgeCompute, l.refs(expr)...)
}

// structFieldBase returns the column under a chain of field accesses
// (a.b.c), or nil when something else is under it.
func structFieldBase(x *resolved_ast.GetStructFieldNode) *resolved_ast.ColumnRefNode {
	var e resolved_ast.ExprNode = x
	for i := 0; i < maxTreeDepth; i++ {
		switch y := e.(type) {
		case *resolved_ast.GetStructFieldNode:
			if isNil(y) {
				return nil
			}
			e = y.Expr()
		case *resolved_ast.ColumnRefNode:
			if isNil(y) {
				return nil
			}
			return y
		default:
			return nil
		}
	}
	return nil
}

// countEdges records the arguments of a count: a plain column is counted, an
// expression is computed (COUNT(IF(SUBSTR(ssn, 1, 1) = '5', 1, NULL)) counts
// a predicate over ssn).
func (l *lineage) countEdges(col *resolved_ast.Column, args []resolved_ast.ExprNode) {
	for _, a := range args {
		if r, ok := a.(*resolved_ast.ColumnRefNode); ok && !isNil(r) {
			l.edge(col, edgeCount, r.Column().ColumnID())
			continue
		}
		l.edge(col, edgeCompute, l.refs(a)...)
	}
}

func colIDs(cols []*resolved_ast.Column) []int {
	out := make([]int, 0, len(cols))
	for _, c := range cols {
		if c != nil {
			out = append(out, c.ColumnID())
		}
	}
	return out
}

// structFields returns the fields of the struct constructor that computes
// column id, following plain copies (the output column of SELECT AS STRUCT
// is a copy of the constructor's), or nil.
func (l *lineage) structFields(id int) []fieldSource {
	for i := 0; i < maxTreeDepth; i++ {
		if f, ok := l.structs[id]; ok {
			return f
		}
		es := l.edges[id]
		if len(es) != 1 || es[0].kind != edgeCopy {
			return nil
		}
		id = es[0].to
	}
	return nil
}
