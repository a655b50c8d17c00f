package sqlscan_test

import (
	"context"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/sqlscan"
)

// FuzzAnalyze feeds arbitrary text to Analyze. It must never panic; it
// either fails with an error or returns a well-formed analysis.
func FuzzAnalyze(f *testing.F) {
	cases, _, opts := loadCorpus(f)
	for _, c := range cases {
		f.Add(c.SQL)
	}
	for _, s := range []string{"", ";", "SELECT", "/*", "SELECT * FROM", "`", "SELECT 1;;", "BEGIN", "WITH RECURSIVE a AS (SELECT * FROM a) SELECT * FROM a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		a, err := sqlscan.Analyze(context.Background(), sql, opts)
		if err != nil {
			var pe *sqlscan.ParseError
			if !errors.As(err, &pe) && !errors.Is(err, sqlscan.ErrNoStatements) {
				// Catalog errors cannot happen with the memory catalog, but
				// view expansion errors can; they must still be errors.
				if a != nil {
					t.Fatalf("error %v with a non-nil analysis", err)
				}
			}
			return
		}
		if len(a.Statements) == 0 {
			t.Fatal("no statements and no error")
		}
		switch a.Path {
		case sqlscan.PathAnalyzer, sqlscan.PathParserFallback:
		default:
			t.Fatalf("path %q", a.Path)
		}
		for _, st := range a.Statements {
			if st.Kind == "" || st.Class != sqlscan.ClassOf(st.Kind) {
				t.Fatalf("statement kind %q class %q", st.Kind, st.Class)
			}
			if st.Start < 0 || st.End > len(sql) || st.Start > st.End || st.Text != sql[st.Start:st.End] {
				t.Fatalf("span %d-%d of %d bytes", st.Start, st.End, len(sql))
			}
			if st.Path == sqlscan.PathParserFallback && st.AnalyzerError == "" {
				t.Fatal("fallback without an analyzer error")
			}
		}
		for _, c := range a.OutputColumns {
			if c.Name == "" || !utf8.ValidString(c.Name) && utf8.ValidString(sql) {
				t.Fatalf("output column name %q", c.Name)
			}
			// Derived sources are sources.
			lin := map[sqlscan.ColumnRef]bool{}
			for _, r := range c.Lineage {
				lin[r] = true
			}
			for _, r := range c.Derived {
				if !lin[r] {
					t.Fatalf("column %q: derived source %s is not in its lineage %v", c.Name, r, c.Lineage)
				}
			}
		}
		// Shaping uses name columns of tables the statement reaches, and a
		// lookup is never derived.
		for _, st := range a.Statements {
			reached := map[sqlscan.TableRef]bool{}
			for _, r := range append(append([]sqlscan.TableRef(nil), st.Tables...), st.ViaViews...) {
				reached[r] = true
			}
			for _, u := range st.Shaping {
				if u.Clause == "" || !reached[u.Column.Table] {
					t.Fatalf("shaping use %+v outside the tables %v", u, st.Tables)
				}
				if u.Lookup && u.Derived {
					t.Fatalf("shaping use %+v is a derived lookup", u)
				}
			}
		}
	})
}
