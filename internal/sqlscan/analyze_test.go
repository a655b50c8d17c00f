package sqlscan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

func demoOpts(cat sqlscan.Catalog) sqlscan.Options {
	return sqlscan.Options{DefaultProject: "querygate-local", DefaultDataset: "demo", Catalog: cat}
}

func TestAnalyzeErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := sqlscan.Analyze(ctx, "SELEC 1", demoOpts(sqlscantest.Demo()))
	var pe *sqlscan.ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "Syntax error") || !strings.Contains(pe.Message, "1:1") {
		t.Errorf("parse error = %v", err)
	}
	for _, empty := range []string{"", "   ", "-- only a comment\n", "/* */"} {
		if _, err := sqlscan.Analyze(ctx, empty, demoOpts(sqlscantest.Demo())); !errors.Is(err, sqlscan.ErrNoStatements) {
			t.Errorf("Analyze(%q) = %v, want ErrNoStatements", empty, err)
		}
	}
	broken := errCatalog{err: errors.New("permission denied")}
	if _, err := sqlscan.Analyze(ctx, "SELECT 1 FROM demo.customers", demoOpts(broken)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("catalog failure = %v, want it returned", err)
	}
	cat := sqlscantest.Demo()
	cat.Put(&sqlscan.TableMeta{Ref: ref("demo", "loop_a"), Type: "VIEW", ViewSQL: "SELECT x FROM demo.loop_b"})
	cat.Put(&sqlscan.TableMeta{Ref: ref("demo", "loop_b"), Type: "VIEW", ViewSQL: "SELECT x FROM demo.loop_a"})
	cat.Put(&sqlscan.TableMeta{Ref: ref("demo", "bad_view"), Type: "VIEW", ViewSQL: "SELEKT"})
	if _, err := sqlscan.Analyze(ctx, "SELECT x FROM demo.loop_a", demoOpts(cat)); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("view cycle = %v", err)
	}
	if _, err := sqlscan.Analyze(ctx, "SELECT x FROM demo.bad_view", demoOpts(cat)); !errors.As(err, &pe) || !strings.Contains(err.Error(), "bad_view") {
		t.Errorf("unparsable view = %v", err)
	}
	for _, deep := range []string{
		strings.Repeat("SELECT * FROM (", 20000) + "SELECT 1" + strings.Repeat(")", 20000),
		"SELECT " + strings.Repeat("[", 600) + "1" + strings.Repeat("]", 600),
		"SELECT '" + strings.Repeat("x", sqlscan.MaxSQLBytes) + "'",
		"SELECT 1" + strings.Repeat("+1", 300000),
		"SELECT " + strings.Repeat("NOT ", 200000) + "TRUE",
		strings.Repeat("SELECT 1;", sqlscan.MaxStatements+1),
		strings.Repeat("BEGIN ", 50000) + "SELECT 1;" + strings.Repeat("END;", 50000),
	} {
		if _, err := sqlscan.Analyze(ctx, deep, demoOpts(cat)); !errors.As(err, &pe) {
			t.Errorf("oversized input (%d bytes) = %v, want a ParseError", len(deep), err)
		}
	}
	nested := strings.Repeat("SELECT * FROM (", 200) + "SELECT 1 AS one" + strings.Repeat(")", 200)
	if a, err := sqlscan.Analyze(ctx, nested, demoOpts(cat)); err != nil || a.OutputColumns[0].Name != "one" {
		t.Errorf("200 nested subqueries: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sqlscan.Analyze(cctx, "SELECT 1", demoOpts(cat)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled = %v", err)
	}
}

type errCatalog struct{ err error }

func (c errCatalog) Table(context.Context, sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	return nil, c.err
}

type countingCatalog struct {
	sqlscan.Catalog
	calls atomic.Int32
}

func (c *countingCatalog) Table(ctx context.Context, r sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	c.calls.Add(1)
	return c.Catalog.Table(ctx, r)
}

func ref(dataset, table string) sqlscan.TableRef {
	return sqlscan.TableRef{Project: "querygate-local", Dataset: dataset, Table: table}
}

func TestStatementsSpansAndDepth(t *testing.T) {
	t.Parallel()
	sql := "SELECT 1;\nIF TRUE THEN\n  SELECT city FROM demo.customers;\nEND IF;\nSELECT order_id FROM demo.orders"
	a, err := sqlscan.Analyze(context.Background(), sql, demoOpts(sqlscantest.Demo()))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Kind, Text string
		Depth      int
	}
	var gots []got
	for _, st := range a.Statements {
		gots = append(gots, got{st.Kind, st.Text, st.Depth})
	}
	want := []got{
		{"QUERY", "SELECT 1", 0},
		{"IF", "IF TRUE THEN\n  SELECT city FROM demo.customers;\nEND IF", 0},
		{"QUERY", "SELECT city FROM demo.customers", 1},
		{"QUERY", "SELECT order_id FROM demo.orders", 0},
	}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("statements (-want, +got):\n%s", diff)
	}
	if len(a.OutputColumns) != 1 || a.OutputColumns[0].Name != "order_id" {
		t.Errorf("output columns are not the last top-level query's: %+v", a.OutputColumns)
	}
}

func TestStarQualifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql    string
		tables []string
		form   string
		qual   string
		except []string
	}{
		{"SELECT c.* FROM demo.customers c JOIN demo.orders o USING (customer_id)", []string{"querygate-local.demo.customers"}, sqlscan.StarDot, "c", nil},
		{"SELECT o.* EXCEPT (notes), c.city FROM demo.customers c JOIN demo.orders o USING (customer_id)", []string{"querygate-local.demo.orders"}, sqlscan.StarDotExcept, "o", []string{"notes"}},
		{"SELECT * FROM demo.customers c JOIN demo.orders o USING (customer_id)", []string{"querygate-local.demo.customers", "querygate-local.demo.orders"}, sqlscan.StarPlain, "", nil},
		{"SELECT x.* FROM (SELECT city FROM demo.customers) AS x", []string{"querygate-local.demo.customers"}, sqlscan.StarDot, "x", nil},
		{"WITH w AS (SELECT amount FROM demo.orders) SELECT * REPLACE (1 AS amount) FROM w", []string{"querygate-local.demo.orders"}, sqlscan.StarReplace, "", nil},
		{"SELECT * FROM demo.contact_emails", []string{"querygate-local.demo.contact_emails", "querygate-local.demo.customer_contacts", "querygate-local.demo.customers", "querygate-local.demo.orders"}, sqlscan.StarPlain, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			t.Parallel()
			a, err := sqlscan.Analyze(context.Background(), tc.sql, demoOpts(sqlscantest.Demo()))
			if err != nil {
				t.Fatal(err)
			}
			stars := a.Statements[0].Star
			if len(stars) != 1 {
				t.Fatalf("stars = %+v", stars)
			}
			s := stars[0]
			if diff := cmp.Diff(tc.tables, refStrings(s.Tables)); diff != "" {
				t.Errorf("tables (-want, +got):\n%s", diff)
			}
			if s.Form != tc.form || s.Qualifier != tc.qual || !cmp.Equal(tc.except, s.Except) {
				t.Errorf("star = %+v", s)
			}
		})
	}
}

func TestCatalogAskedOncePerTable(t *testing.T) {
	t.Parallel()
	cat := &countingCatalog{Catalog: sqlscantest.Demo()}
	_, err := sqlscan.Analyze(context.Background(),
		"SELECT c.city FROM demo.customers c JOIN demo.customers d USING (customer_id); SELECT email FROM demo.customer_contacts", demoOpts(cat))
	if err != nil {
		t.Fatal(err)
	}
	// customers, customer_contacts (a view over customers, already fetched).
	if got := cat.calls.Load(); got != 2 {
		t.Errorf("catalog calls = %d, want 2", got)
	}
}

func TestMissingAndPruned(t *testing.T) {
	t.Parallel()
	a, err := sqlscan.Analyze(context.Background(), "SELECT a FROM demo.nowhere", demoOpts(sqlscantest.Demo()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"querygate-local.demo.nowhere"}, refStrings(a.Missing)); diff != "" {
		t.Errorf("missing (-want, +got):\n%s", diff)
	}
	if a.Path != sqlscan.PathParserFallback || !strings.Contains(a.AnalyzerError, "not found") {
		t.Errorf("path %s error %q", a.Path, a.AnalyzerError)
	}
}

func TestNoCatalog(t *testing.T) {
	t.Parallel()
	a, err := sqlscan.Analyze(context.Background(), "SELECT email FROM demo.customers", sqlscan.Options{DefaultProject: "p", DefaultDataset: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	all := []sqlscan.ColumnRef{{Table: sqlscan.TableRef{Project: "p", Dataset: "demo", Table: "customers"}, Column: sqlscan.AllColumns}}
	want := []sqlscan.OutputColumn{{Name: "email", Lineage: all, Derived: all}}
	if a.Path != sqlscan.PathParserFallback {
		t.Errorf("path = %s", a.Path)
	}
	if diff := cmp.Diff(want, a.OutputColumns); diff != "" {
		t.Errorf("fallback outputs (-want, +got):\n%s", diff)
	}
	// Unanalyzed, every column of every table reached shapes the result.
	wantShaping := []sqlscan.ShapingUse{{Clause: sqlscan.ClauseUnanalyzed, Column: all[0], Derived: true}}
	if diff := cmp.Diff(wantShaping, a.Statements[0].Shaping); diff != "" {
		t.Errorf("fallback shaping (-want, +got):\n%s", diff)
	}
}

func TestMemoryCatalogWildcard(t *testing.T) {
	t.Parallel()
	cat, _, err := sqlscantest.LoadCatalog("../../testing/sql/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Table(context.Background(), sqlscan.TableRef{Project: "querygate-local", Dataset: "mydataset", Table: "sales_*"})
	if err != nil {
		t.Fatal(err)
	}
	if m.NumBytes != 700 || len(m.Columns) != 3 {
		t.Errorf("wildcard meta = %+v", m)
	}
	if _, err := cat.Table(context.Background(), sqlscan.TableRef{Project: "querygate-local", Dataset: "mydataset", Table: "zzz_*"}); !errors.Is(err, sqlscan.ErrTableNotFound) {
		t.Errorf("unmatched wildcard = %v", err)
	}
}

// TestConcurrentAnalyze runs the corpus from many goroutines and checks
// every result equals the sequential one: the analyzer pool must not mix
// catalogs between calls.
func TestConcurrentAnalyze(t *testing.T) {
	t.Parallel()
	cases, _, opts := loadCorpus(t)
	summary := func(a *sqlscan.Analysis, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s|", a.Path)
		for _, st := range a.Statements {
			fmt.Fprintf(&b, "%s %v;", st.Kind, refStrings(st.Tables))
		}
		for _, c := range a.OutputColumns {
			fmt.Fprintf(&b, "%s=%v;", c.Name, c.Lineage)
		}
		return b.String()
	}
	want := make([]string, len(cases))
	for i, c := range cases {
		want[i] = summary(sqlscan.Analyze(context.Background(), c.SQL, opts))
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(cases)*4)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := range cases {
				j := (i + g*31) % len(cases)
				if got := summary(sqlscan.Analyze(context.Background(), cases[j].SQL, opts)); got != want[j] {
					errs <- fmt.Sprintf("%s: concurrent %q != sequential %q", cases[j].ID, got, want[j])
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestAnalysisJSON(t *testing.T) {
	t.Parallel()
	a, err := sqlscan.Analyze(context.Background(), "SELECT email FROM demo.customer_contacts", demoOpts(sqlscantest.Demo()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back sqlscan.Analysis
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if diff := cmp.Diff(a, &back); diff != "" {
		t.Errorf("round trip (-want, +got):\n%s", diff)
	}
	if !strings.Contains(string(b), `"querygate-local.demo.customers":`) {
		t.Errorf("tables are not keyed by name: %s", b)
	}
	for _, s := range []string{"example.com:proj.ds.t", "p.region-us.INFORMATION_SCHEMA.JOBS"} {
		var r sqlscan.TableRef
		if err := r.UnmarshalText([]byte(s)); err != nil || r.String() != s {
			t.Errorf("UnmarshalText(%q) = %+v, %v", s, r, err)
		}
	}
	var r sqlscan.TableRef
	if err := r.UnmarshalText([]byte("just.two")); err == nil {
		t.Error("two-part reference accepted")
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sql string
		// want is the Functions of each statement, in order.
		want [][]string
	}{
		{"ERROR over sensitive columns", "SELECT ERROR(CONCAT(full_name, ' ', email)) FROM demo.customers", [][]string{{"ERROR", "CONCAT"}}},
		{"lower case, deduplicated", "SELECT error(email), Error(ssn), ERROR(phone) FROM demo.customers", [][]string{{"ERROR"}}},
		{"SAFE prefix", "SELECT SAFE.ERROR(email) FROM demo.customers", [][]string{{"SAFE.ERROR"}}},
		{"in a CTE", "WITH x AS (SELECT ERROR(email) AS e FROM demo.customers) SELECT e FROM x", [][]string{{"ERROR"}}},
		{"in a WHERE subquery", "SELECT city FROM demo.customers WHERE city IN (SELECT ERROR(ssn) FROM demo.customers)", [][]string{{"ERROR"}}},
		{"inside IF", "SELECT IF(city = 'x', ERROR(ssn), city) FROM demo.customers", [][]string{{"IF", "ERROR"}}},
		{"in an UNNEST", "SELECT v FROM demo.customers, UNNEST([ERROR(email)]) AS v", [][]string{{"ERROR"}}},
		{"window and aggregate", "SELECT COUNT(*) OVER (), MAX(city) FROM demo.customers", [][]string{{"COUNT", "MAX"}}},
		{"parser fallback keeps calls", "SELECT ERROR(x) FROM demo.no_such_table", [][]string{{"ERROR"}}},
		{"temporary function body", "CREATE TEMP FUNCTION f(x STRING) AS (ERROR(x)); SELECT f(email) FROM demo.customers", [][]string{{"ERROR"}, {"F"}}},
		{"nested statement", "BEGIN\n  SELECT ERROR(email) FROM demo.customers;\nEND", [][]string{nil, {"ERROR"}}},
		{"column named error is not a call", "WITH t AS (SELECT city AS error FROM demo.customers) SELECT error FROM t", [][]string{nil}},
		{"string literal is not a call", "SELECT 'ERROR(' AS e, \"error(x)\" AS f", [][]string{nil}},
		{"struct field named error", "SELECT s.error FROM (SELECT STRUCT(city AS error) AS s FROM demo.customers)", [][]string{nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := sqlscan.Analyze(context.Background(), tc.sql, demoOpts(sqlscantest.Demo()))
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, st := range a.Statements {
				got = append(got, st.Functions)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("functions (-want, +got):\n%s", diff)
			}
		})
	}
}
