package sqlscan

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-zetasql/ast"
)

// present reports whether an AST node is there: go-zetasql returns typed nil
// pointers inside interfaces for absent children.
func present(n ast.Node) bool {
	if n == nil {
		return false
	}
	v := reflect.ValueOf(n)
	return !(v.Kind() == reflect.Pointer && v.IsNil())
}

// refSet is an ordered set of table references.
type refSet []TableRef

func (s *refSet) add(refs ...TableRef) {
	for _, r := range refs {
		if !s.has(r) {
			*s = append(*s, r)
		}
	}
}

func (s refSet) has(r TableRef) bool {
	for _, x := range s {
		if x == r {
			return true
		}
	}
	return false
}

// scope holds the names visible at a point of the parse tree: CTE names of
// enclosing WITH clauses and the range variables of enclosing FROM clauses.
// GoogleSQL resolves both case-insensitively.
type scope struct {
	parent  *scope
	ctes    map[string]refSet
	aliases map[string]refSet
}

func (s *scope) child() *scope { return &scope{parent: s} }

func (s *scope) cte(name string) (refSet, bool) {
	name = strings.ToLower(name)
	for ; s != nil; s = s.parent {
		if r, ok := s.ctes[name]; ok {
			return r, true
		}
	}
	return nil, false
}

func (s *scope) alias(name string) (refSet, bool) {
	name = strings.ToLower(name)
	for ; s != nil; s = s.parent {
		if r, ok := s.aliases[name]; ok {
			return r, true
		}
	}
	return nil, false
}

func (s *scope) setCTE(name string, r refSet) {
	if s.ctes == nil {
		s.ctes = map[string]refSet{}
	}
	s.ctes[strings.ToLower(name)] = r
}

func (s *scope) setAlias(name string, r refSet) {
	if name == "" {
		return
	}
	if s.aliases == nil {
		s.aliases = map[string]refSet{}
	}
	s.aliases[strings.ToLower(name)] = r
}

// qualify turns a parsed path into a table reference. BigQuery lets one
// backticked identifier hold a dotted path (`p.d.t`), so identifiers are split
// on dots first.
func qualify(names []string, defProject, defDataset string) TableRef {
	var parts []string
	for _, n := range names {
		parts = append(parts, strings.Split(n, ".")...)
	}
	for i, p := range parts {
		if strings.EqualFold(p, "INFORMATION_SCHEMA") {
			ref := TableRef{Project: defProject, Table: "INFORMATION_SCHEMA." + strings.Join(parts[i+1:], ".")}
			switch i {
			case 0:
			case 1:
				ref.Dataset = parts[0]
			default:
				ref.Project = strings.Join(parts[:i-1], ".")
				ref.Dataset = parts[i-1]
			}
			return ref
		}
	}
	switch len(parts) {
	case 0:
		return TableRef{}
	case 1:
		return TableRef{Project: defProject, Dataset: defDataset, Table: parts[0]}
	case 2:
		return TableRef{Project: defProject, Dataset: parts[0], Table: parts[1]}
	default:
		return TableRef{Project: parts[0], Dataset: parts[1], Table: strings.Join(parts[2:], ".")}
	}
}

func pathNames(p *ast.PathExpressionNode) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, id := range p.Names() {
		out = append(out, id.Name())
	}
	return out
}

// stmtWalker collects the facts of one statement from its parse tree.
type stmtWalker struct {
	defProject, defDataset string
	tables                 refSet
	stars                  []StarUse
	functions              []string
	nested                 []ast.Node // statements in statement lists, analyzed separately
	depth                  int
	tooDeep                bool
	refs                   int // FROM items walked
}

// maxTreeDepth bounds the recursion over parse and resolved trees. A flat
// chain such as 1+1+...+1 parses into a tree as deep as it is long, and a
// Go stack frame per level would overflow long before BigQuery's 1 MB limit.
const maxTreeDepth = 4000

func (w *stmtWalker) table(names []string) TableRef {
	ref := qualify(names, w.defProject, w.defDataset)
	w.tables.add(ref)
	return ref
}

// children walks every child of n in the same scope and unions the tables
// they reach.
func (w *stmtWalker) children(n ast.Node, sc *scope) refSet {
	var reach refSet
	for i := 0; i < n.NumChildren(); i++ {
		reach.add(w.walk(n.Child(i), sc)...)
	}
	return reach
}

// walk visits n and returns the tables reachable from it: the tables whose
// columns rows produced under n can carry. It records every table reference
// and star use on the way.
func (w *stmtWalker) walk(n ast.Node, sc *scope) refSet {
	if !present(n) || w.tooDeep {
		return nil
	}
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxTreeDepth {
		w.tooDeep = true
		return nil
	}
	switch x := n.(type) {
	case *ast.StatementListNode:
		for i := 0; i < x.NumChildren(); i++ {
			if c := x.Child(i); present(c) {
				w.nested = append(w.nested, c)
			}
		}
		return nil
	case *ast.FunctionCallNode:
		w.function(x)
		return w.children(n, sc)
	case *ast.QueryNode:
		return w.query(x, sc)
	case *ast.SelectNode:
		return w.selectNode(x, sc)
	case *ast.TablePathExpressionNode:
		w.refs++
		return w.tablePath(x, sc)
	case *ast.TableSubqueryNode:
		w.refs++
		reach := w.walk(x.Subquery(), sc)
		reach.add(w.walk(x.PivotClause(), sc)...)
		reach.add(w.walk(x.UnpivotClause(), sc)...)
		w.walk(x.SampleClause(), sc)
		if a := x.Alias(); a != nil {
			sc.setAlias(a.Name(), reach)
		}
		w.pivotAliases(x.PivotClause(), x.UnpivotClause(), sc, reach)
		return reach
	case *ast.TVFNode:
		w.refs++
		var reach refSet
		for _, arg := range x.ArgumentEntries() {
			reach.add(w.walk(arg, sc)...)
		}
		reach.add(w.walk(x.PivotClause(), sc)...)
		reach.add(w.walk(x.UnpivotClause(), sc)...)
		w.walk(x.SampleClause(), sc) // for the function calls in it
		if a := x.Alias(); a != nil {
			sc.setAlias(a.Name(), reach)
		}
		return reach
	case *ast.TableClauseNode:
		if p := x.TablePath(); p != nil {
			names := pathNames(p)
			if len(names) == 1 {
				if r, ok := sc.cte(names[0]); ok {
					return r
				}
			}
			return refSet{w.table(names)}
		}
		return w.walk(x.TVF(), sc)
	case *ast.ModelClauseNode:
		// Models are not tables; BigQuery ML functions read the model, and
		// the tables in the other arguments are walked separately.
		return nil
	case *ast.PathExpressionNode:
		// A path inside an expression is a column or field reference, never a
		// table; it carries the rows of the range variable it starts with.
		if names := pathNames(x); len(names) > 0 {
			if r, ok := sc.alias(names[0]); ok {
				return r
			}
		}
		return nil
	case *ast.CloneDataSourceNode, *ast.CopyDataSourceNode:
		var reach refSet
		for i := 0; i < n.NumChildren(); i++ {
			c := n.Child(i)
			if p, ok := c.(*ast.PathExpressionNode); ok && present(p) {
				reach.add(w.table(pathNames(p)))
				continue
			}
			reach.add(w.walk(c, sc)...)
		}
		return reach
	}
	return w.children(n, sc)
}

// function records the name of a called function, upper-cased, once.
func (w *stmtWalker) function(c *ast.FunctionCallNode) {
	names := pathNames(c.Function())
	if len(names) == 0 {
		return
	}
	name := strings.ToUpper(strings.Join(names, "."))
	for _, f := range w.functions {
		if f == name {
			return
		}
	}
	w.functions = append(w.functions, name)
}

func (w *stmtWalker) query(q *ast.QueryNode, outer *scope) refSet {
	sc := outer.child()
	var reach refSet
	if wc := q.WithClause(); wc != nil {
		recursive := wc.Recursive()
		for _, e := range wc.With() {
			name := e.Alias().Name()
			if recursive {
				// A recursive CTE sees itself; its reach is completed below.
				sc.setCTE(name, nil)
			}
			r := w.walk(e.Query(), sc)
			sc.setCTE(name, r)
			reach.add(r...)
		}
	}
	reach.add(w.walk(q.QueryExpr(), sc)...)
	reach.add(w.walk(q.OrderBy(), sc)...)
	reach.add(w.walk(q.LimitOffset(), sc)...)
	return reach
}

func (w *stmtWalker) selectNode(s *ast.SelectNode, outer *scope) refSet {
	sc := outer.child()
	var reach refSet
	// FROM first: it defines the range variables the rest can use.
	from := s.FromClause()
	fromReach := w.walk(from, sc)
	reach.add(fromReach...)
	for i := 0; i < s.NumChildren(); i++ {
		c := s.Child(i)
		if !present(c) || c.Kind() == ast.FromClause {
			continue
		}
		if sl, ok := c.(*ast.SelectListNode); ok {
			for _, col := range sl.Columns() {
				w.star(col.Expression(), sc, fromReach)
			}
		}
		reach.add(w.walk(c, sc)...)
	}
	return reach
}

// star records a star form at the top of a select column.
func (w *stmtWalker) star(e ast.Node, sc *scope, fromReach refSet) {
	if !present(e) {
		return
	}
	var use StarUse
	var mods *ast.StarModifiersNode
	switch x := e.(type) {
	case *ast.StarNode:
		use.Form = StarPlain
	case *ast.StarWithModifiersNode:
		mods = x.Modifiers()
		use.Form = StarExcept
	case *ast.DotStarNode:
		use.Form = StarDot
		use.Qualifier = exprName(x.Expr())
	case *ast.DotStarWithModifiersNode:
		mods = x.Modifiers()
		use.Form = StarDotExcept
		use.Qualifier = exprName(x.Expr())
	default:
		return
	}
	if mods != nil {
		if el := mods.ExceptList(); el != nil {
			for _, id := range el.Identifiers() {
				use.Except = append(use.Except, id.Name())
			}
		}
		if len(mods.ReplaceItems()) > 0 && len(use.Except) == 0 {
			if use.Form == StarExcept {
				use.Form = StarReplace
			} else {
				use.Form = StarDotReplace
			}
		}
	}
	use.Tables = append([]TableRef(nil), fromReach...)
	if use.Qualifier != "" {
		// t.* over a range variable expands only that variable; over a
		// struct-valued expression it is conservatively the whole FROM.
		if r, ok := sc.alias(use.Qualifier); ok {
			use.Tables = append([]TableRef(nil), r...)
		}
	}
	w.stars = append(w.stars, use)
}

func exprName(e ast.Node) string {
	if p, ok := e.(*ast.PathExpressionNode); ok && present(p) {
		return strings.Join(pathNames(p), ".")
	}
	if present(e) {
		return "(expression)"
	}
	return ""
}

func (w *stmtWalker) tablePath(t *ast.TablePathExpressionNode, sc *scope) refSet {
	var reach refSet
	implicit := ""
	if p := t.PathExpr(); p != nil {
		names := pathNames(p)
		switch {
		case len(names) == 0:
		case len(names) == 1 && cteHas(sc, names[0]):
			r, _ := sc.cte(names[0])
			reach.add(r...)
			implicit = names[0]
		case len(names) > 1 && aliasHas(sc, names[0]):
			// FROM t, t.array_column: an implicit UNNEST of a range variable.
			r, _ := sc.alias(names[0])
			reach.add(r...)
			implicit = names[len(names)-1]
		default:
			reach.add(w.table(names))
			parts := strings.Split(names[len(names)-1], ".")
			implicit = parts[len(parts)-1]
		}
	}
	if u := t.UnnestExpr(); u != nil {
		reach.add(w.walk(u, sc)...)
	}
	reach.add(w.walk(t.ForSystemTime(), sc)...)
	w.walk(t.SampleClause(), sc)
	reach.add(w.walk(t.PivotClause(), sc)...)
	reach.add(w.walk(t.UnpivotClause(), sc)...)
	if a := t.Alias(); a != nil {
		sc.setAlias(a.Name(), reach)
	} else {
		sc.setAlias(implicit, reach)
	}
	if wo := t.WithOffset(); wo != nil {
		if a := wo.Alias(); a != nil {
			sc.setAlias(a.Name(), nil)
		}
	}
	w.pivotAliases(t.PivotClause(), t.UnpivotClause(), sc, reach)
	return reach
}

func (w *stmtWalker) pivotAliases(p *ast.PivotClauseNode, u *ast.UnpivotClauseNode, sc *scope, reach refSet) {
	if p != nil {
		if a := p.OutputAlias(); a != nil {
			sc.setAlias(a.Name(), reach)
		}
	}
	if u != nil {
		if a := u.OutputAlias(); a != nil {
			sc.setAlias(a.Name(), reach)
		}
	}
}

func cteHas(sc *scope, name string) bool   { _, ok := sc.cte(name); return ok }
func aliasHas(sc *scope, name string) bool { _, ok := sc.alias(name); return ok }

// target returns the object a DML or DDL statement writes, and whether that
// object is a table or view (and so belongs in Tables).
func (w *stmtWalker) target(n ast.Node) (*TableRef, bool) {
	q := func(p *ast.PathExpressionNode) *TableRef {
		if p == nil {
			return nil
		}
		r := qualify(pathNames(p), w.defProject, w.defDataset)
		return &r
	}
	switch x := n.(type) {
	case *ast.InsertStatementNode:
		p, _ := x.TargetPath().(*ast.PathExpressionNode)
		return q(p), true
	case *ast.UpdateStatementNode:
		p, _ := x.TargetPath().(*ast.PathExpressionNode)
		return q(p), true
	case *ast.DeleteStatementNode:
		p, _ := x.TargetPath().(*ast.PathExpressionNode)
		return q(p), true
	case *ast.MergeStatementNode:
		return q(x.TargetPath()), true
	case *ast.TrucateStatementNode:
		return q(x.TargetPath()), true
	case *ast.CallStatementNode:
		return q(x.ProcedureName()), false
	case *ast.DropStatementNode:
		switch x.SchemaObjectKind() {
		case ast.TableKind, ast.ViewKind, ast.MaterializedViewKind, ast.SnapshotTableKind, ast.ExternalTableKind:
			return q(x.Name()), true
		}
		return q(x.Name()), false
	case *ast.RenameStatementNode:
		return q(x.OldName()), true
	case *ast.CreateTableStatementNode, *ast.CreateExternalTableStatementNode,
		*ast.CreateSnapshotTableStatementNode, *ast.CreateViewStatementNode,
		*ast.CreateMaterializedViewStatementNode, *ast.AuxLoadDataStatementNode,
		*ast.DropMaterializedViewStatementNode, *ast.DropSnapshotTableStatementNode:
		if nm, ok := n.(interface {
			Name() *ast.PathExpressionNode
		}); ok {
			return q(nm.Name()), true
		}
	case *ast.AlterTableStatementNode:
		return q(x.Path()), true
	case *ast.AlterViewStatementNode:
		return q(x.Path()), true
	case *ast.AlterMaterializedViewStatementNode:
		return q(x.Path()), true
	case *ast.CreateIndexStatementNode:
		return q(x.TableName()), true
	case *ast.CreateRowAccessPolicyStatementNode:
		for i := 0; i < x.NumChildren(); i++ {
			if p, ok := x.Child(i).(*ast.PathExpressionNode); ok && present(p) {
				return q(p), true
			}
		}
	}
	if fd, ok := n.(interface {
		FunctionDeclaration() *ast.FunctionDeclarationNode
	}); ok && fd.FunctionDeclaration() != nil {
		return q(fd.FunctionDeclaration().Name()), false
	}
	if nm, ok := n.(interface {
		Name() *ast.PathExpressionNode
	}); ok {
		return q(nm.Name()), false
	}
	if al, ok := n.(interface {
		Path() *ast.PathExpressionNode
	}); ok {
		return q(al.Path()), false
	}
	return nil, false
}

// hasLimit reports a LIMIT on the outermost query of a query statement.
func hasLimit(n ast.Node) bool {
	qs, ok := n.(*ast.QueryStatementNode)
	if !ok {
		return false
	}
	q := qs.Query()
	for q != nil {
		if q.LimitOffset() != nil {
			return true
		}
		inner, ok := q.QueryExpr().(*ast.QueryNode)
		if !ok || !present(inner) {
			return false
		}
		q = inner
	}
	return false
}

// parsedStatement is one statement with the facts taken from its parse tree.
type parsedStatement struct {
	node ast.Node
	st   Statement
	refs int // FROM items in the statement (MaxTableReferences)
}

// errTooDeep is returned when a tree exceeds maxTreeDepth.
var errTooDeep = &ParseError{Message: fmt.Sprintf("the SQL is nested more than %d levels deep", maxTreeDepth)}

// collect flattens a statement list into statements, depth first, with
// nested statements after their parent.
func collect(sql string, list []ast.Node, depth int, defProject, defDataset string) ([]*parsedStatement, error) {
	if depth > maxTreeDepth/8 {
		return nil, errTooDeep
	}
	var out []*parsedStatement
	for _, n := range list {
		if !present(n) {
			continue
		}
		for {
			h, ok := n.(*ast.HintedStatementNode)
			if !ok {
				break
			}
			n = h.Statement()
		}
		w := &stmtWalker{defProject: defProject, defDataset: defDataset}
		st := Statement{Kind: kindOf(n), Depth: depth}
		st.Class = ClassOf(st.Kind)
		if loc := n.ParseLocationRange(); loc != nil {
			st.Start, st.End = loc.Start().ByteOffset(), loc.End().ByteOffset()
			if st.Start >= 0 && st.End <= len(sql) && st.Start <= st.End {
				st.Text = sql[st.Start:st.End]
			}
		}
		if t, isTable := w.target(n); t != nil {
			st.Target = t
			if isTable {
				w.tables.add(*t)
			}
		}
		if ct, ok := n.(*ast.CreateTableStatementNode); ok {
			if like := ct.LikeTableName(); like != nil {
				w.table(pathNames(like))
			}
		}
		w.walk(n, &scope{})
		if w.tooDeep {
			return nil, errTooDeep
		}
		st.Tables = w.tables
		st.Star = w.stars
		st.Functions = w.functions
		st.HasLimit = hasLimit(n)
		out = append(out, &parsedStatement{node: n, st: st, refs: w.refs})
		if len(w.nested) > 0 {
			inner, err := collect(sql, w.nested, depth+1, defProject, defDataset)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		}
	}
	return out, nil
}

// scriptStatements returns the top-level statements of a parsed script.
func scriptStatements(script ast.Node) []ast.Node {
	var out []ast.Node
	for i := 0; i < script.NumChildren(); i++ {
		c := script.Child(i)
		if sl, ok := c.(*ast.StatementListNode); ok && present(sl) {
			for j := 0; j < sl.NumChildren(); j++ {
				out = append(out, sl.Child(j))
			}
		}
	}
	return out
}
