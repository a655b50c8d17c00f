package sqlscan

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"runtime"
	"strings"
	"sync"

	zetasql "github.com/goccy/go-zetasql"
	"github.com/goccy/go-zetasql/types"
)

// worker bundles what one analysis needs exclusively. ZetaSQL's parser and
// analyzer options hold arenas that must not be shared between concurrent
// calls, and go-zetasql registers every Go catalog in a global map forever,
// so a fixed pool of workers bounds both.
type worker struct {
	parser   *zetasql.ParserOptions
	analyzer *zetasql.AnalyzerOptions
	cat      *goCatalog
}

var (
	poolOnce sync.Once
	pool     chan *worker
	builtin  *types.SimpleCatalog
)

func languageOptions() *zetasql.LanguageOptions {
	lang := zetasql.NewLanguageOptions()
	lang.EnableMaximumLanguageFeaturesForDevelopment()
	lang.SetSupportsAllStatementKinds()
	lang.SetNameResolutionMode(zetasql.NameResolutionDefault)
	lang.SetProductMode(types.ProductInternal)
	// BigQuery reserves QUALIFY; ZetaSQL only when asked.
	_ = lang.EnableReservableKeyword("QUALIFY", true)
	return lang
}

func initPool() {
	lang := languageOptions()
	builtin = types.NewSimpleCatalog("builtin")
	builtin.AddZetaSQLBuiltinFunctions(lang.BuiltinFunctionOptions())
	n := runtime.GOMAXPROCS(0)
	if n < 2 {
		n = 2
	}
	pool = make(chan *worker, n)
	for i := 0; i < n; i++ {
		po := zetasql.NewParserOptions()
		po.SetLanguageOptions(languageOptions())
		ao := zetasql.NewAnalyzerOptions()
		ao.SetLanguage(languageOptions())
		ao.SetAllowUndeclaredParameters(true)
		ao.SetParameterMode(zetasql.ParameterNamed)
		ao.SetErrorMessageMode(zetasql.ErrorMessageOneLine)
		ao.SetParseLocationRecordType(zetasql.ParseLocationRecordFullNodeScope)
		pool <- &worker{parser: po, analyzer: ao, cat: &goCatalog{}}
	}
}

func acquire(ctx context.Context) (*worker, error) {
	poolOnce.Do(initPool)
	select {
	case w := <-pool:
		return w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func release(w *worker) {
	w.cat.tables = nil
	w.cat.names = nil
	pool <- w
}

// goCatalog is the catalog the analyzer sees: the tables of the current
// analysis plus ZetaSQL's builtin functions.
type goCatalog struct {
	defProject, defDataset string
	tables                 map[TableRef]types.Table
	names                  map[string]TableRef // zetasql table name -> ref
}

var errNotFound = errors.New("not found")

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func (c *goCatalog) FullName() string { return "querygate" }

func (c *goCatalog) FindTable(path []string) (types.Table, error) {
	ref := qualify(path, c.defProject, c.defDataset)
	if t, ok := c.tables[ref]; ok {
		return t, nil
	}
	return nil, nil // not found: ZetaSQL reports "Table not found"
}

func (c *goCatalog) FindModel(path []string) (types.Model, error) {
	m, err := builtin.FindModel(path)
	if err != nil {
		return nil, err
	}
	if isNil(m) {
		return nil, errNotFound
	}
	return m, nil
}

func (c *goCatalog) FindConnection(path []string) (types.Connection, error) {
	return nil, errNotFound
}

func (c *goCatalog) FindFunction(path []string) (*types.Function, error) {
	return builtin.FindFunction(path)
}

func (c *goCatalog) FindTableValuedFunction(path []string) (types.TableValuedFunction, error) {
	f, err := builtin.FindTableValuedFunction(path)
	if err != nil {
		return nil, err
	}
	if isNil(f) {
		return nil, errNotFound
	}
	return f, nil
}

func (c *goCatalog) FindProcedure(path []string) (*types.Procedure, error) {
	return builtin.FindProcedure(path)
}

func (c *goCatalog) FindType(path []string) (types.Type, error) {
	t, err := builtin.FindType(path)
	if err != nil {
		return nil, err
	}
	if isNil(t) {
		return nil, errNotFound
	}
	return t, nil
}

func (c *goCatalog) FindConstant(path []string) (types.Constant, int, error) {
	k, n, err := builtin.FindConstant(path)
	if err != nil {
		return nil, 0, err
	}
	if isNil(k) {
		return nil, 0, nil
	}
	return k, n, nil
}

func (c *goCatalog) FindConversion(from, to types.Type) (types.Conversion, error) {
	return builtin.FindConversion(from, to)
}

func (c *goCatalog) ExtendedTypeSuperTypes(typ types.Type) (*types.TypeListView, error) {
	return builtin.ExtendedTypeSuperTypes(typ)
}

func (c *goCatalog) SuggestTable([]string) string               { return "" }
func (c *goCatalog) SuggestModel([]string) string               { return "" }
func (c *goCatalog) SuggestFunction([]string) string            { return "" }
func (c *goCatalog) SuggestTableValuedFunction([]string) string { return "" }
func (c *goCatalog) SuggestConstant([]string) string            { return "" }

var _ types.Catalog = (*goCatalog)(nil)

// tableCache keeps one ZetaSQL table per (reference, schema): go-zetasql
// never frees tables, so rebuilding them per query would leak.
var (
	tableCacheMu sync.Mutex
	tableCache   = map[string]types.Table{}
)

const tableCacheMax = 4096

// zetaTable returns the ZetaSQL table for meta, with the pseudo-columns
// BigQuery adds (_PARTITIONTIME, _PARTITIONDATE, and _TABLE_SUFFIX on
// wildcard tables).
func zetaTable(ref TableRef, cols []Column, extra []namedType) (types.Table, error) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%#v|", ref.String(), cols)
	for _, e := range extra {
		fmt.Fprintf(h, "%s %s,", e.name, e.typ.DebugString(false))
	}
	key := fmt.Sprintf("%x", h.Sum64())
	tableCacheMu.Lock()
	defer tableCacheMu.Unlock()
	if t, ok := tableCache[key]; ok {
		return t, nil
	}
	name := ref.String()
	var zcols []types.Column
	seen := map[string]bool{}
	for _, c := range cols {
		typ, err := zetaType(c)
		if err != nil {
			return nil, fmt.Errorf("column %s of %s: %w", c.Name, name, err)
		}
		zcols = append(zcols, types.NewSimpleColumn(name, c.Name, typ))
		seen[strings.ToLower(c.Name)] = true
	}
	for _, e := range extra {
		zcols = append(zcols, types.NewSimpleColumn(name, e.name, e.typ))
		seen[strings.ToLower(e.name)] = true
	}
	pseudo := []namedType{{"_PARTITIONTIME", types.TimestampType()}, {"_PARTITIONDATE", types.DateType()}}
	if ref.IsWildcard() {
		pseudo = append(pseudo, namedType{"_TABLE_SUFFIX", types.StringType()})
	}
	for _, p := range pseudo {
		if !seen[strings.ToLower(p.name)] {
			zcols = append(zcols, types.NewSimpleColumnWithOpt(name, p.name, p.typ, true, false))
		}
	}
	t := types.NewSimpleTable(name, zcols)
	if t == nil {
		return nil, fmt.Errorf("table %s: zetasql rejected the schema", name)
	}
	if len(tableCache) < tableCacheMax {
		tableCache[key] = t
	}
	return t, nil
}

type namedType struct {
	name string
	typ  types.Type
}

// zetaType converts a BigQuery schema field to a ZetaSQL type.
func zetaType(c Column) (types.Type, error) {
	var typ types.Type
	name := strings.ToUpper(strings.TrimSpace(c.Type))
	if i := strings.IndexByte(name, '('); i > 0 { // parameterized: STRING(10), NUMERIC(10,2)
		name = strings.TrimSpace(name[:i])
	}
	switch name {
	case "STRING":
		typ = types.StringType()
	case "BYTES":
		typ = types.BytesType()
	case "INTEGER", "INT64", "INT", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT":
		typ = types.Int64Type()
	case "FLOAT", "FLOAT64":
		typ = types.DoubleType()
	case "NUMERIC", "DECIMAL":
		typ = types.NumericType()
	case "BIGNUMERIC", "BIGDECIMAL":
		typ = types.BigNumericType()
	case "BOOLEAN", "BOOL":
		typ = types.BoolType()
	case "TIMESTAMP":
		typ = types.TimestampType()
	case "DATE":
		typ = types.DateType()
	case "TIME":
		typ = types.TimeType()
	case "DATETIME":
		typ = types.DatetimeType()
	case "GEOGRAPHY":
		typ = types.GeographyType()
	case "INTERVAL":
		typ = types.IntervalType()
	case "JSON":
		typ = types.JsonType()
	case "RECORD", "STRUCT":
		var fields []*types.StructField
		for _, f := range c.Fields {
			ft, err := zetaType(f)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			fields = append(fields, types.NewStructField(f.Name, ft))
		}
		st, err := types.NewStructType(fields)
		if err != nil {
			return nil, err
		}
		typ = st
	default:
		return nil, fmt.Errorf("unsupported BigQuery type %q", c.Type)
	}
	if strings.EqualFold(c.Mode, "REPEATED") {
		at, err := types.NewArrayType(typ)
		if err != nil {
			return nil, err
		}
		return at, nil
	}
	return typ, nil
}
