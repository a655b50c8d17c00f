package sqlscan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-zetasql/resolved_ast"
	"github.com/goccy/go-zetasql/types"
)

// lineage is a graph over the resolved AST's column ids: an edge a -> b
// means column a's value comes from column b (see edgeKind); base maps the
// columns produced by table scans to the table column they read.
type lineage struct {
	edges map[int][]edge
	base  map[int]ColumnRef
	names map[string]TableRef // zetasql table name -> ref
	// withs is a stack of WITH scopes (name -> entry output columns).
	withs []map[string][]*resolved_ast.Column
	// recursive is the stack of enclosing recursive scans' columns.
	recursive [][]*resolved_ast.Column
	scans     []TableRef // every table scanned, in order
	// shapes are the column uses that shape the result without being
	// projected (see shaping.go).
	shapes []rawShape
	// constraints are the columns of each conjunct of a condition (see
	// finish).
	constraints []constraint
	// structs holds, for columns computed by a struct constructor, what
	// each field is made of.
	structs map[int][]fieldSource
	// hubs is the last synthetic column id (see computedFrom).
	hubs int
	// memo caches sources once the graph is complete (after finish).
	memo    map[int][2][]ColumnRef
	depth   int
	tooDeep bool
}

func newLineage(names map[string]TableRef) *lineage {
	return &lineage{edges: map[int][]edge{}, base: map[int]ColumnRef{}, names: names}
}

// refs returns the columns an expression reads. A subquery contributes its
// output columns, the outer columns it reads and the IN operand; its inner
// filters are recorded as shaping where the walk reaches them.
func (l *lineage) refs(n resolved_ast.Node) []int {
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
			if s := x.Subquery(); !isNil(s) {
				out = append(out, colIDs(s.ColumnList())...)
			}
			// A correlated subquery's value is computed from the outer
			// columns it reads, through its own filters too: (SELECT
			// COUNT(*) FROM UNNEST(SPLIT(ssn, '')) AS ch WHERE ch = '5').
			for _, p := range x.ParameterList() {
				if !isNil(p) {
					out = append(out, p.Column().ColumnID())
				}
			}
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

// walk records the edges of every node under n.
func (l *lineage) walk(n resolved_ast.Node) {
	if isNil(n) || l.tooDeep {
		return
	}
	l.depth++
	defer func() { l.depth-- }()
	if l.depth > maxTreeDepth {
		l.tooDeep = true
		return
	}
	switch x := n.(type) {
	case *resolved_ast.TableScanNode:
		ref, ok := l.names[x.Table().Name()]
		if !ok {
			ref = qualify([]string{x.Table().Name()}, "", "")
		}
		l.scans = append(l.scans, ref)
		for _, c := range x.ColumnList() {
			l.base[c.ColumnID()] = ColumnRef{Table: ref, Column: c.Name()}
		}
	case *resolved_ast.ComputedColumnNode:
		l.exprEdges(x.Column(), x.Expr())
	case *resolved_ast.SetOperationScanNode:
		cols := x.ColumnList()
		for _, item := range x.InputItemList() {
			out := item.OutputColumnList()
			for i := range cols {
				if i < len(out) {
					l.edge(cols[i], edgeCopy, out[i].ColumnID())
				}
			}
			if x.OpType() != resolved_ast.SetOperationTypeUnionAll {
				// INTERSECT, EXCEPT and UNION DISTINCT compare whole rows:
				// every input column decides which rows survive.
				l.shape(ClauseSetOperation, colIDs(out), nil)
			}
		}
	case *resolved_ast.RecursiveScanNode:
		cols := x.ColumnList()
		for _, item := range []*resolved_ast.SetOperationItemNode{x.NonRecursiveTerm(), x.RecursiveTerm()} {
			if item == nil {
				continue
			}
			out := item.OutputColumnList()
			for i := range cols {
				if i < len(out) {
					l.edge(cols[i], edgeCopy, out[i].ColumnID())
				}
			}
		}
		l.recursive = append(l.recursive, cols)
		defer func() { l.recursive = l.recursive[:len(l.recursive)-1] }()
	case *resolved_ast.RecursiveRefScanNode:
		if len(l.recursive) > 0 {
			outer := l.recursive[len(l.recursive)-1]
			for i, c := range x.ColumnList() {
				if i < len(outer) {
					l.edge(c, edgeCopy, outer[i].ColumnID())
				}
			}
		}
	case *resolved_ast.WithScanNode:
		scope := map[string][]*resolved_ast.Column{}
		l.withs = append(l.withs, scope)
		for _, e := range x.WithEntryList() {
			if x.Recursive() {
				scope[e.WithQueryName()] = nil
			}
			l.walk(e.WithSubquery())
			if s := e.WithSubquery(); !isNil(s) {
				scope[e.WithQueryName()] = s.ColumnList()
			}
		}
		l.walk(x.Query())
		l.withs = l.withs[:len(l.withs)-1]
		return
	case *resolved_ast.WithRefScanNode:
		for i := len(l.withs) - 1; i >= 0; i-- {
			if entry, ok := l.withs[i][x.WithQueryName()]; ok {
				for j, c := range x.ColumnList() {
					if j < len(entry) {
						l.edge(c, edgeCopy, entry[j].ColumnID())
					}
				}
				break
			}
		}
	case *resolved_ast.ArrayScanNode:
		if r, ok := x.ArrayExpr().(*resolved_ast.ColumnRefNode); ok && !isNil(r) {
			// UNNEST(array_column): each element is a value of the column.
			l.edge(x.ElementColumn(), edgeCopy, r.Column().ColumnID())
		} else {
			ids := l.refs(x.ArrayExpr())
			l.edge(x.ElementColumn(), edgeCompute, ids...)
			// The array's length is the number of rows each input row
			// becomes: UNNEST(GENERATE_ARRAY(1, <digit of ssn>)) then
			// COUNT(*) returns the digit.
			l.shapeComputed(ClauseUnnest, ids)
		}
		if off := x.ArrayOffsetColumn(); !isNil(off) && off.Column() != nil {
			// WITH OFFSET: with a filter on the element, the offsets of
			// the rows kept tell where in the array the matches are.
			l.edge(off.Column(), edgeCompute, l.refs(x.ArrayExpr())...)
		}
		if j := x.JoinExpr(); !isNil(j) {
			l.shapeExpr(ClauseJoinOn, j)
		}
	case *resolved_ast.FilterScanNode:
		l.shapeExpr(filterClause(x.InputScan()), x.FilterExpr())
	case *resolved_ast.JoinScanNode:
		if j := x.JoinExpr(); !isNil(j) {
			l.shapeExpr(ClauseJoinOn, j)
		}
	case *resolved_ast.AggregateScanNode:
		for _, g := range x.GroupByList() {
			if isNil(g) {
				continue
			}
			if r, ok := g.Expr().(*resolved_ast.ColumnRefNode); ok {
				l.shape(ClauseGroupBy, []int{r.Column().ColumnID()}, nil)
			} else {
				l.shapeComputed(ClauseGroupBy, l.refs(g.Expr()))
			}
		}
	case *resolved_ast.OrderByScanNode:
		l.shape(ClauseOrderBy, orderIDs(x.OrderByItemList()), nil)
	case *resolved_ast.AnalyticFunctionGroupNode:
		var window []int
		if p := x.PartitionBy(); !isNil(p) {
			var ids []int
			for _, r := range p.PartitionByList() {
				if !isNil(r) {
					ids = append(ids, r.Column().ColumnID())
				}
			}
			l.shape(ClauseWindowPartitionBy, ids, nil)
			window = append(window, ids...)
		}
		if o := x.OrderBy(); !isNil(o) {
			ids := orderIDs(o.OrderByItemList())
			l.shape(ClauseWindowOrderBy, ids, nil)
			window = append(window, ids...)
		}
		// ROW_NUMBER() OVER (ORDER BY ssn) is computed from ssn's order, and
		// FIRST_VALUE(city) OVER (PARTITION BY ssn ...) from its groups.
		var fns []int
		for _, fc := range x.AnalyticFunctionList() {
			if !isNil(fc) && fc.Column() != nil {
				fns = append(fns, fc.Column().ColumnID())
			}
		}
		l.computedFrom(fns, window)
	case *resolved_ast.PivotScanNode:
		exprs := x.PivotExprList()
		forRefs := l.refs(x.ForExpr())
		// FOR col IN (...) keeps only the rows whose col is listed.
		if r, ok := x.ForExpr().(*resolved_ast.ColumnRefNode); ok && !isNil(r) {
			l.shape(ClausePivot, forRefs, nil)
		} else {
			l.shapeComputed(ClausePivot, forRefs)
		}
		for _, pc := range x.PivotColumnList() {
			var r []int
			if i := pc.PivotExprIndex(); i >= 0 && i < len(exprs) {
				r = l.refs(exprs[i])
			}
			l.edge(pc.Column(), edgeCompute, append(r, forRefs...)...)
		}
	case *resolved_ast.UnpivotScanNode:
		args := x.UnpivotArgList()
		for i, vc := range x.ValueColumnList() {
			for _, a := range args {
				cl := a.ColumnList()
				if i < len(cl) {
					l.edge(vc, edgeCopy, cl[i].Column().ColumnID())
				}
			}
		}
	case *resolved_ast.TVFScanNode:
		// A table-valued function may combine its inputs freely.
		var in []int
		for _, a := range x.ArgumentList() {
			if s := a.Scan(); !isNil(s) {
				in = append(in, colIDs(s.ColumnList())...)
			}
			in = append(in, l.refs(a.Expr())...)
		}
		for _, c := range x.ColumnList() {
			l.edge(c, edgeCompute, in...)
		}
	}
	for _, c := range n.ChildNodes() {
		l.walk(c)
	}
}

// Modes of the search in sources: how the value reached so far relates to
// the column being visited.
const (
	modeCopy    = iota // unchanged
	modeDerived        // computed from it
	modeCounted        // a count of it: its values do not flow
)

// sources returns the table columns column id derives from, and the subset
// reached through a computation (derived). A column reached only through a
// count is not a source.
func (l *lineage) sources(id int) (all, derived []ColumnRef) {
	if r, ok := l.memo[id]; ok {
		return r[0], r[1]
	}
	defer func() {
		if l.memo == nil {
			l.memo = map[int][2][]ColumnRef{}
		}
		l.memo[id] = [2][]ColumnRef{all, derived}
	}()
	type state struct{ id, mode int }
	seen := map[state]bool{{id, modeCopy}: true}
	queue := []state{{id, modeCopy}}
	set := map[ColumnRef]bool{}
	der := map[ColumnRef]bool{}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if b, ok := l.base[s.id]; ok {
			switch s.mode {
			case modeCopy:
				set[b] = true
			case modeDerived:
				set[b], der[b] = true, true
			}
		}
		for _, e := range l.edges[s.id] {
			next := state{e.to, s.mode}
			switch e.kind {
			case edgeCompute:
				next.mode = modeDerived
			case edgeCount:
				next.mode = modeCounted
			}
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	return sortedRefs(set), sortedRefs(der)
}

func sortedRefs(set map[ColumnRef]bool) []ColumnRef {
	out := make([]ColumnRef, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// outputColumns returns the result columns of a resolved statement and the
// ZetaSQL type of each, named as BigQuery names them.
func (l *lineage) outputColumns(stmt resolved_ast.StatementNode) ([]OutputColumn, []types.Type) {
	var cols []*resolved_ast.OutputColumnNode
	valueTable := false
	switch s := stmt.(type) {
	case *resolved_ast.QueryStmtNode:
		cols, valueTable = s.OutputColumnList(), s.IsValueTable()
	default:
		return nil, nil
	}
	var out []OutputColumn
	var typs []types.Type
	anon := 0
	name := func(n string) string {
		if n == "" || strings.HasPrefix(n, "$") {
			n = fmt.Sprintf("f%d_", anon)
			anon++
		}
		return n
	}
	for _, c := range cols {
		col := c.Column()
		lin, der := l.sources(col.ColumnID())
		typ := col.Type()
		if valueTable && typ != nil && typ.IsStruct() {
			// SELECT AS STRUCT / AS VALUE struct: BigQuery returns the
			// struct's fields as columns. A field of a struct built right
			// there (SELECT AS STRUCT a, b) carries its own lineage; any
			// other carries the whole value's, derived (a field is not
			// known to be one column).
			fields := l.structFields(col.ColumnID())
			for i, f := range typ.AsStruct().Fields() {
				oc := OutputColumn{Name: name(f.Name()), Lineage: lin, Derived: lin}
				if fields != nil && i < len(fields) {
					oc.Lineage, oc.Derived = l.fieldLineage(fields[i])
				}
				out = append(out, oc)
				typs = append(typs, f.Type())
			}
			continue
		}
		out = append(out, OutputColumn{Name: name(c.Name()), Lineage: lin, Derived: der})
		typs = append(typs, typ)
	}
	for i := range out {
		out[i].Index = i
	}
	return out, typs
}
