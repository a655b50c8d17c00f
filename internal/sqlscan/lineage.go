package sqlscan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-zetasql/resolved_ast"
	"github.com/goccy/go-zetasql/types"
)

// lineage is a graph over the resolved AST's column ids: an edge a -> b
// means column a is computed from column b; base maps the columns produced
// by table scans to the table column they read.
type lineage struct {
	edges map[int][]int
	base  map[int]ColumnRef
	names map[string]TableRef // zetasql table name -> ref
	// withs is a stack of WITH scopes (name -> entry output columns).
	withs []map[string][]*resolved_ast.Column
	// recursive is the stack of enclosing recursive scans' columns.
	recursive [][]*resolved_ast.Column
	scans     []TableRef // every table scanned, in order
	depth     int
	tooDeep   bool
}

func newLineage(names map[string]TableRef) *lineage {
	return &lineage{edges: map[int][]int{}, base: map[int]ColumnRef{}, names: names}
}

func (l *lineage) edge(from *resolved_ast.Column, to ...int) {
	if from == nil {
		return
	}
	id := from.ColumnID()
	l.edges[id] = append(l.edges[id], to...)
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

// refs returns the columns an expression reads. A subquery contributes its
// output columns (and the IN operand); its inner filters do not.
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
		l.edge(x.Column(), l.refs(x.Expr())...)
	case *resolved_ast.SetOperationScanNode:
		cols := x.ColumnList()
		for _, item := range x.InputItemList() {
			out := item.OutputColumnList()
			for i := range cols {
				if i < len(out) {
					l.edge(cols[i], out[i].ColumnID())
				}
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
					l.edge(cols[i], out[i].ColumnID())
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
					l.edge(c, outer[i].ColumnID())
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
						l.edge(c, entry[j].ColumnID())
					}
				}
				break
			}
		}
	case *resolved_ast.ArrayScanNode:
		l.edge(x.ElementColumn(), l.refs(x.ArrayExpr())...)
	case *resolved_ast.PivotScanNode:
		exprs := x.PivotExprList()
		forRefs := l.refs(x.ForExpr())
		for _, pc := range x.PivotColumnList() {
			var r []int
			if i := pc.PivotExprIndex(); i >= 0 && i < len(exprs) {
				r = l.refs(exprs[i])
			}
			l.edge(pc.Column(), append(r, forRefs...)...)
		}
	case *resolved_ast.UnpivotScanNode:
		args := x.UnpivotArgList()
		for i, vc := range x.ValueColumnList() {
			for _, a := range args {
				cl := a.ColumnList()
				if i < len(cl) {
					l.edge(vc, cl[i].Column().ColumnID())
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
			l.edge(c, in...)
		}
	}
	for _, c := range n.ChildNodes() {
		l.walk(c)
	}
}

// sources returns the table columns column id derives from.
func (l *lineage) sources(id int) []ColumnRef {
	seen := map[int]bool{id: true}
	queue := []int{id}
	set := map[ColumnRef]bool{}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if b, ok := l.base[c]; ok {
			set[b] = true
		}
		for _, d := range l.edges[c] {
			if !seen[d] {
				seen[d] = true
				queue = append(queue, d)
			}
		}
	}
	return sortedRefs(set)
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
		lin := l.sources(col.ColumnID())
		typ := col.Type()
		if valueTable && typ != nil && typ.IsStruct() {
			// SELECT AS STRUCT / AS VALUE struct: BigQuery returns the
			// struct's fields as columns, each carrying the whole value's
			// lineage.
			for _, f := range typ.AsStruct().Fields() {
				out = append(out, OutputColumn{Name: name(f.Name()), Lineage: lin})
				typs = append(typs, f.Type())
			}
			continue
		}
		out = append(out, OutputColumn{Name: name(c.Name()), Lineage: lin})
		typs = append(typs, typ)
	}
	for i := range out {
		out[i].Index = i
	}
	return out, typs
}
