package sqlscan

import (
	"context"
	"errors"
	"fmt"
	"strings"

	zetasql "github.com/goccy/go-zetasql"
	"github.com/goccy/go-zetasql/ast"
	"github.com/goccy/go-zetasql/types"
)

// maxViewDepth bounds view expansion (BigQuery allows 16 levels).
const maxViewDepth = 16

// PathParser marks statements that only the parser handled because the
// analyzer has nothing to resolve in them (scripting statements such as
// DECLARE, IF, BEGIN...END); their tables come from the parse tree.
const PathParser = "parser"

// Analyze parses sql as a GoogleSQL script, classifies every statement,
// extracts tables and star uses from the parse tree, and runs ZetaSQL's
// analyzer against schemas from opts.Catalog to trace output columns back to
// source columns. Views are expanded through their definitions.
//
// It returns a *ParseError when the parser rejects the input,
// ErrNoStatements for empty input, and other errors when the Catalog fails;
// callers must treat every error as a reason to deny. An analyzer failure is
// not an error: the analysis takes the parser fallback path (see
// PathParserFallback) and says why in AnalyzerError.
func Analyze(ctx context.Context, sql string, opts Options) (*Analysis, error) {
	w, err := acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release(w)
	a := &analyzer{
		ctx:      ctx,
		cat:      opts.Catalog,
		w:        w,
		metas:    map[TableRef]*TableMeta{},
		views:    map[TableRef]*viewInfo{},
		zt:       map[TableRef]types.Table{},
		names:    map[string]TableRef{},
		bad:      map[TableRef]string{},
		visiting: map[TableRef]bool{},
	}
	res, _, err := a.run(sql, opts.DefaultProject, opts.DefaultDataset, 0)
	if err != nil {
		return nil, err
	}
	res.Tables = a.metas
	res.Missing = a.missing
	return res, nil
}

type analyzer struct {
	ctx      context.Context
	cat      Catalog
	w        *worker
	metas    map[TableRef]*TableMeta
	missing  []TableRef
	views    map[TableRef]*viewInfo
	zt       map[TableRef]types.Table
	names    map[string]TableRef
	bad      map[TableRef]string // tables whose schema ZetaSQL cannot take
	visiting map[TableRef]bool
}

// viewInfo is what expanding a view's definition taught us.
type viewInfo struct {
	lineage  map[string][]ColumnRef // lower-case view column -> base columns
	derived  map[string][]ColumnRef // lower-case view column -> base columns it computes from
	bases    refSet                 // every table behind the view, transitively
	fallback string                 // analyzer error inside the view, if any
}

func (a *analyzer) run(sql, defProject, defDataset string, depth int) (*Analysis, []types.Type, error) {
	if err := a.ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := checkLimits(sql); err != nil {
		return nil, nil, err
	}
	if i := strings.IndexByte(sql, 0); i >= 0 {
		// go-zetasql hands the text to C as a NUL-terminated string: the
		// parser would see only what precedes the NUL, BigQuery all of it.
		return nil, nil, &ParseError{Message: fmt.Sprintf("the SQL contains a NUL byte at offset %d", i)}
	}
	script, err := zetasql.ParseScript(sql, a.w.parser, zetasql.ErrorMessageOneLine)
	if err != nil {
		return nil, nil, &ParseError{Message: strings.TrimPrefix(err.Error(), "INVALID_ARGUMENT: ")}
	}
	stmts, err := collect(sql, scriptStatements(script), 0, defProject, defDataset)
	if err != nil {
		return nil, nil, err
	}
	if len(stmts) == 0 {
		return nil, nil, ErrNoStatements
	}
	if len(stmts) > MaxStatements {
		return nil, nil, &ParseError{Message: fmt.Sprintf("the script has %d statements, more than the %d allowed", len(stmts), MaxStatements)}
	}
	refs := 0
	for _, ps := range stmts {
		refs += ps.refs
	}
	if refs > MaxTableReferences {
		// The analyzer's time and memory grow with every table reference
		// (3,000 self-joins took 42 s and 3.2 GB), and the parse that
		// counted them is cheap.
		return nil, nil, &ParseError{Message: fmt.Sprintf("the SQL references tables, CTEs or UNNESTs %d times, more than the %d allowed; split the query", refs, MaxTableReferences)}
	}
	for _, ps := range stmts {
		for _, ref := range ps.st.Tables {
			if err := a.resolve(ref, depth); err != nil {
				return nil, nil, err
			}
		}
	}
	res := &Analysis{Path: PathAnalyzer}
	var lastTypes []types.Type
	for _, ps := range stmts {
		typs := a.statement(sql, ps, defProject, defDataset)
		st := ps.st
		if st.Path == PathParserFallback && res.Path != PathParserFallback {
			res.Path = PathParserFallback
			res.AnalyzerError = st.AnalyzerError
		}
		if st.Depth == 0 && st.Kind == KindQuery {
			res.OutputColumns = st.OutputColumns
			lastTypes = typs
		}
		res.Statements = append(res.Statements, st)
	}
	return res, lastTypes, nil
}

// Resource limits checked before the text reaches ZetaSQL, whose parser and
// analyzer recurse on the C++ stack: about 20,000 nested subqueries crash the
// process. BigQuery itself rejects queries longer than 1 MB.
const (
	MaxSQLBytes   = 1 << 20
	MaxNesting    = 500
	MaxStatements = 1000
	// MaxTableReferences caps FROM items (table paths, CTE references,
	// UNNESTs, subqueries and table functions) across the whole request.
	MaxTableReferences = 200
)

// checkLimits rejects oversized input. Nesting counts brackets without
// regard to quoting, so a string literal full of brackets can be rejected;
// that errs on the side of refusing.
func checkLimits(sql string) error {
	if len(sql) > MaxSQLBytes {
		return &ParseError{Message: fmt.Sprintf("the SQL is %d bytes, more than the %d allowed", len(sql), MaxSQLBytes)}
	}
	depth := 0
	for i := 0; i < len(sql); i++ {
		switch sql[i] {
		case '(', '[':
			depth++
			if depth > MaxNesting {
				return &ParseError{Message: fmt.Sprintf("the SQL nests brackets more than %d levels deep", MaxNesting)}
			}
		case ')', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// resolve fetches a table's schema once and expands views.
func (a *analyzer) resolve(ref TableRef, depth int) error {
	if a.visiting[ref] {
		return fmt.Errorf("view %s: its definition refers to itself", ref)
	}
	if _, ok := a.metas[ref]; ok {
		return nil
	}
	for _, m := range a.missing {
		if m == ref {
			return nil
		}
	}
	if a.cat == nil {
		a.missing = append(a.missing, ref)
		return nil
	}
	meta, err := a.cat.Table(a.ctx, ref)
	if errors.Is(err, ErrTableNotFound) || (err == nil && meta == nil) {
		a.missing = append(a.missing, ref)
		return nil
	}
	if err != nil {
		return fmt.Errorf("catalog: table %s: %w", ref, err)
	}
	a.metas[ref] = meta
	var extra []namedType
	if strings.EqualFold(meta.Type, "VIEW") {
		typs, err := a.view(ref, meta, depth)
		if err != nil {
			return err
		}
		extra = typs
	}
	cols := meta.Columns
	if len(cols) > 0 {
		extra = nil // the catalog's schema wins over the derived one
	}
	t, err := zetaTable(ref, cols, extra)
	if err != nil {
		a.bad[ref] = err.Error()
		return nil
	}
	a.zt[ref] = t
	a.names[ref.String()] = ref
	return nil
}

// view analyzes a view's definition and records its lineage. It returns the
// view's column types, for views whose catalog entry has no schema.
func (a *analyzer) view(ref TableRef, meta *TableMeta, depth int) ([]namedType, error) {
	if depth >= maxViewDepth {
		return nil, fmt.Errorf("view %s: views nested deeper than %d", ref, maxViewDepth)
	}
	if a.visiting[ref] {
		return nil, fmt.Errorf("view %s: its definition refers to itself", ref)
	}
	if strings.TrimSpace(meta.ViewSQL) == "" {
		return nil, fmt.Errorf("view %s: the catalog gave no definition", ref)
	}
	a.visiting[ref] = true
	defer delete(a.visiting, ref)
	sub, typs, err := a.run(meta.ViewSQL, ref.Project, ref.Dataset, depth+1)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", ref, err)
	}
	if len(sub.Statements) != 1 || sub.Statements[0].Kind != KindQuery {
		return nil, fmt.Errorf("view %s: definition is not a single query", ref)
	}
	vi := &viewInfo{lineage: map[string][]ColumnRef{}, derived: map[string][]ColumnRef{}}
	st := sub.Statements[0]
	vi.bases.add(st.Tables...)
	vi.bases.add(st.ViaViews...)
	if st.Path == PathParserFallback {
		vi.fallback = st.AnalyzerError
	}
	var out []namedType
	for i, c := range sub.OutputColumns {
		vi.lineage[strings.ToLower(c.Name)] = c.Lineage
		vi.derived[strings.ToLower(c.Name)] = c.Derived
		if i < len(typs) && typs[i] != nil {
			out = append(out, namedType{c.Name, typs[i]})
		}
	}
	a.views[ref] = vi
	return out, nil
}

// analyzable reports whether ZetaSQL's analyzer resolves statements of kind.
func analyzable(kind string) bool {
	switch ClassOf(kind) {
	case ClassQuery, ClassDML, ClassExport:
		return true
	}
	switch kind {
	case KindCreateTableAsSelect, KindCreateView, KindCreateMaterialized:
		return true
	}
	return false
}

// statement runs the analyzer on one statement and fills in its lineage,
// or the conservative fallback.
func (a *analyzer) statement(sql string, ps *parsedStatement, defProject, defDataset string) []types.Type {
	st := &ps.st
	var typs []types.Type
	if !analyzable(st.Kind) {
		st.Path = PathParser
	} else {
		a.w.cat.defProject, a.w.cat.defDataset = defProject, defDataset
		a.w.cat.tables, a.w.cat.names = a.zt, a.names
		out, err := zetasql.AnalyzeStatementFromParserAST(sql, ps.node, a.w.cat, a.w.analyzer)
		switch {
		case err != nil:
			st.Path = PathParserFallback
			st.AnalyzerError = strings.TrimPrefix(err.Error(), "INVALID_ARGUMENT: ")
			for _, t := range st.Tables {
				if msg, ok := a.bad[t]; ok {
					st.AnalyzerError += " (" + msg + ")"
				}
			}
		default:
			l := newLineage(a.names)
			l.walk(out.Statement())
			l.finish()
			if l.tooDeep {
				st.Path = PathParserFallback
				st.AnalyzerError = errTooDeep.Message
				break
			}
			st.Path = PathAnalyzer
			st.OutputColumns, typs = l.outputColumns(out.Statement())
			st.Shaping = l.shaping()
			// Parse-tree candidates the analyzer did not need and the catalog
			// does not know were not tables (e.g. a correlated array path).
			var kept refSet
			for _, t := range st.Tables {
				if a.isMissing(t) && (st.Target == nil || *st.Target != t) && !refSet(l.scans).has(t) {
					continue
				}
				kept.add(t)
			}
			kept.add(l.scans...)
			st.Tables = kept
		}
	}
	via := refSet(st.ViaViews)
	defer func() { st.ViaViews = via }()
	for _, t := range st.Tables {
		if v, ok := a.views[t]; ok {
			via.add(v.bases...)
			if v.fallback != "" && st.Path == PathAnalyzer {
				st.Path = PathParserFallback
				st.AnalyzerError = fmt.Sprintf("view %s: %s", t, v.fallback)
			}
		}
	}
	for i := range st.Star {
		var ts refSet
		ts.add(st.Star[i].Tables...)
		for _, t := range st.Star[i].Tables {
			if v, ok := a.views[t]; ok {
				ts.add(v.bases...)
			}
		}
		st.Star[i].Tables = ts
	}
	switch st.Path {
	case PathAnalyzer:
		for i := range st.OutputColumns {
			c := &st.OutputColumns[i]
			c.Lineage, c.Derived = a.expandViewsDerived(c.Lineage, c.Derived)
		}
		st.Shaping = a.expandShaping(st.Shaping)
	case PathParserFallback:
		if st.Kind == KindQuery {
			st.OutputColumns = a.fallbackOutputs(ps.node, st)
		}
		st.Shaping = a.fallbackShaping(st)
		typs = nil
	}
	return typs
}

func (a *analyzer) isMissing(t TableRef) bool {
	for _, m := range a.missing {
		if m == t {
			return true
		}
	}
	return false
}

// fallbackOutputs is the conservative lineage of a query the analyzer could
// not resolve: every output column derives from every column of every table
// the statement reaches. Column names come from the parse tree; a star makes
// the column set unknown, reported as one column named "*".
func (a *analyzer) fallbackOutputs(n ast.Node, st *Statement) []OutputColumn {
	lin := a.reachedColumns(st)
	names := selectListNames(n)
	if names == nil {
		return []OutputColumn{{Name: AllColumns, Lineage: lin, Derived: lin}}
	}
	out := make([]OutputColumn, len(names))
	for i, name := range names {
		out[i] = OutputColumn{Name: name, Index: i, Lineage: lin, Derived: lin}
	}
	return out
}

// selectListNames names the result columns of a query statement from its
// parse tree, or returns nil when a star (or SELECT AS) makes them unknown.
func selectListNames(n ast.Node) []string {
	qs, ok := n.(*ast.QueryStatementNode)
	if !ok {
		return nil
	}
	var expr ast.Node = qs.Query()
	var sel *ast.SelectNode
	for present(expr) && sel == nil {
		switch x := expr.(type) {
		case *ast.QueryNode:
			expr = x.QueryExpr()
		case *ast.SetOperationNode:
			in := x.Inputs()
			if len(in) == 0 {
				return nil
			}
			expr = in[0]
		case *ast.SelectNode:
			sel = x
		default:
			return nil
		}
	}
	if sel == nil || present(sel.SelectAs()) {
		return nil
	}
	var names []string
	anon := 0
	for _, c := range sel.SelectList().Columns() {
		e := c.Expression()
		switch e.(type) {
		case *ast.StarNode, *ast.StarWithModifiersNode, *ast.DotStarNode, *ast.DotStarWithModifiersNode:
			return nil
		}
		switch {
		case c.Alias() != nil:
			names = append(names, c.Alias().Name())
		case isPath(e):
			p := pathNames(e.(*ast.PathExpressionNode))
			names = append(names, p[len(p)-1])
		default:
			names = append(names, fmt.Sprintf("f%d_", anon))
			anon++
		}
	}
	return names
}

func isPath(e ast.Node) bool {
	p, ok := e.(*ast.PathExpressionNode)
	return ok && present(p) && len(p.Names()) > 0
}
