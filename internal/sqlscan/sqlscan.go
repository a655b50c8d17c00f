// Package sqlscan understands BigQuery SQL with Google's own GoogleSQL
// (ZetaSQL) parser and analyzer: it classifies every statement of a script,
// extracts the tables it references, finds every star form and traces each
// output column back to the source columns it derives from.
//
// Nothing here inspects SQL text with regular expressions or string
// matching: every fact comes from ZetaSQL's parse tree or resolved AST.
package sqlscan

import (
	"context"
	"fmt"
	"strings"
)

// TableRef names a BigQuery table, view or other object, fully qualified with
// the default project and dataset.
type TableRef struct {
	Project, Dataset, Table string
}

// String returns project.dataset.table.
func (r TableRef) String() string {
	return r.Project + "." + r.Dataset + "." + r.Table
}

// MarshalText encodes the reference as project.dataset.table, so that
// references (and maps keyed by them) encode as JSON strings.
func (r TableRef) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes project.dataset.table. A domain-scoped project
// (example.com:project) keeps its dots; the table keeps any dots after the
// dataset (INFORMATION_SCHEMA.TABLES).
func (r *TableRef) UnmarshalText(b []byte) error {
	parts := strings.Split(string(b), ".")
	k := 0
	for i := 0; i < len(parts)-2; i++ {
		if strings.Contains(parts[i], ":") {
			k = i
			break
		}
	}
	if len(parts)-k < 3 {
		return fmt.Errorf("table reference %q is not project.dataset.table", b)
	}
	*r = TableRef{Project: strings.Join(parts[:k+1], "."), Dataset: parts[k+1], Table: strings.Join(parts[k+2:], ".")}
	return nil
}

// MaxWildcardTables bounds the tables one wildcard reference may match:
// catalogs resolve, and the profiler classifies, a wildcard through every
// table it matches, and more than this many is an error (the request is
// denied with a reason), never a partial answer.
const MaxWildcardTables = 50

// IsWildcard reports whether the table name ends with '*' (a wildcard table).
func (r TableRef) IsWildcard() bool { return strings.HasSuffix(r.Table, "*") }

// IsInformationSchema reports whether the reference is an INFORMATION_SCHEMA view.
func (r TableRef) IsInformationSchema() bool {
	return strings.HasPrefix(strings.ToUpper(r.Table), "INFORMATION_SCHEMA.")
}

// ColumnRef names one top-level column of a table or view.
type ColumnRef struct {
	Table  TableRef
	Column string
}

// AllColumns is the Column of a ColumnRef that stands for every column of
// the table. Conservative (parser fallback) lineage uses it for tables whose
// schema is unknown.
const AllColumns = "*"

// String returns project.dataset.table.column.
func (c ColumnRef) String() string { return c.Table.String() + "." + c.Column }

// TableMeta is what a Catalog knows about one table (BigQuery tables.get).
type TableMeta struct {
	Ref     TableRef
	Columns []Column
	// Type is TABLE or VIEW (MATERIALIZED_VIEW and EXTERNAL are treated as TABLE).
	Type string
	// ViewSQL is the view's defining query (GoogleSQL), for Type VIEW.
	ViewSQL  string
	NumBytes int64
	NumRows  int64
}

// Column is one column of a BigQuery schema.
type Column struct {
	Name string
	// Type is a BigQuery standard type name: STRING, BYTES, INT64 (INTEGER),
	// FLOAT64 (FLOAT), NUMERIC, BIGNUMERIC, BOOL (BOOLEAN), TIMESTAMP, DATE,
	// TIME, DATETIME, GEOGRAPHY, INTERVAL, JSON, RECORD (STRUCT) with Fields.
	Type string
	// Mode is NULLABLE, REQUIRED or REPEATED (an ARRAY).
	Mode        string
	Fields      []Column
	PolicyTags  []string
	Description string
}

// Catalog is the consumer-side port through which Analyze learns table
// schemas. Implementations cache; Analyze calls Table once per distinct
// reference. Table returns an error wrapping ErrTableNotFound when the table
// does not exist.
//
// Wildcard tables (Table ending in '*') are asked for as such; an
// implementation may answer with the schema of the newest matching table and
// the summed sizes, as BigQuery does, or with ErrTableNotFound.
type Catalog interface {
	Table(ctx context.Context, ref TableRef) (*TableMeta, error)
}

// Options configures Analyze.
type Options struct {
	DefaultProject, DefaultDataset string
	// Catalog provides schemas for the analyzer. Without one, every analysis
	// takes the parser fallback path.
	Catalog Catalog
}

// Analysis paths.
const (
	// PathAnalyzer means ZetaSQL's analyzer resolved every statement, and
	// lineage is exact.
	PathAnalyzer = "analyzer"
	// PathParserFallback means the analyzer failed on at least one statement
	// but the parser succeeded: lineage is conservative (every output column
	// derives from every column of every referenced table).
	PathParserFallback = "parser_fallback"
)

// Analysis is the result of Analyze.
type Analysis struct {
	// Statements lists every statement of the script in source order;
	// statements nested in blocks, IF, loops and procedure bodies follow
	// their parent with a greater Depth.
	Statements []Statement
	// OutputColumns are the result columns of the last top-level query
	// statement (the one whose rows a BigQuery script job returns).
	OutputColumns []OutputColumn
	// Path is PathAnalyzer or PathParserFallback.
	Path string
	// AnalyzerError holds the first analyzer error on the fallback path.
	AnalyzerError string
	// Tables holds what the Catalog answered for every table the script
	// reaches, including tables reached only through views.
	Tables map[TableRef]*TableMeta
	// Missing lists referenced tables the Catalog did not know.
	Missing []TableRef
}

// Statement is one statement of the script.
type Statement struct {
	Kind  string // see the Kind constants
	Class string // see the Class constants
	// Depth is 0 for top-level statements, 1 inside a block or IF, etc.
	Depth int
	// Start and End are byte offsets of the statement in the input; Text is
	// that span.
	Start, End int
	Text       string
	// Tables are the tables and views the statement reads or writes,
	// qualified, deduplicated, in order of first appearance. CTE names and
	// array paths over range variables are not tables.
	Tables []TableRef
	// ViaViews are tables reached only through the definition of a view in
	// Tables.
	ViaViews []TableRef
	// Target is the object a DML or DDL statement writes, creates or drops.
	Target *TableRef
	// Star lists every star form in a select list, at any depth.
	Star []StarUse
	// Functions names every function the statement calls, at any depth
	// (subqueries, CTEs, arguments of other calls, bodies of temporary
	// functions it declares): the name path as written, joined with dots,
	// upper-cased, deduplicated, in order of first appearance. SAFE.ERROR(x)
	// is "SAFE.ERROR". Operators, CAST, EXTRACT and other special forms that
	// the parser does not represent as function calls are not listed.
	Functions []string
	// HasLimit reports a LIMIT on the outermost query of a query statement.
	HasLimit bool
	// OutputColumns are the statement's result columns (queries only).
	OutputColumns []OutputColumn
	// Shaping lists the columns that decide which rows the statement
	// returns, how many or in which order (filters, joins, grouping,
	// ordering, windows, subquery predicates, at any depth), including the
	// base columns behind view columns. On the parser fallback path every
	// column of every table the statement reaches is listed, as
	// ClauseUnanalyzed and Derived.
	Shaping []ShapingUse
	// Path is how this statement was understood.
	Path          string
	AnalyzerError string
}

// Star forms.
const (
	StarPlain      = "*"
	StarDot        = "t.*"
	StarExcept     = "* EXCEPT"
	StarReplace    = "* REPLACE"
	StarDotExcept  = "t.* EXCEPT"
	StarDotReplace = "t.* REPLACE"
)

// StarUse is one star in a select list.
type StarUse struct {
	Form string
	// Qualifier is the range variable or expression before ".*" (t.* forms).
	Qualifier string
	// Except lists the column names of an EXCEPT modifier.
	Except []string
	// Tables are the tables (and tables behind views) the star can expand
	// over, through CTEs and subqueries.
	Tables []TableRef
}

// OutputColumn is one result column and the source columns it derives from.
type OutputColumn struct {
	// Name is the column name as BigQuery reports it in the result schema;
	// anonymous columns are named f0_, f1_, ... in order.
	Name string
	// Index is the column's position in the result, from 0.
	Index int
	// Lineage lists the source columns whose values can reach this column,
	// including view columns and the base columns behind them, sorted. A
	// column that is only counted (COUNT(ssn), COUNT(DISTINCT ssn)) is not
	// a source: a count carries none of its values.
	Lineage []ColumnRef
	// Derived lists the columns of Lineage that reach this column through a
	// computation rather than unchanged: any function, operator, cast,
	// struct or array constructor, aggregate other than a count, subquery,
	// window function, or a window or view that computes it. A column
	// reached both ways is derived. On the parser fallback path every
	// source is derived.
	Derived []ColumnRef
}
