package sqlscan_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/sqlscan/sqlscantest"
)

// corpusCase is one statement (or script) of testing/sql/corpus/*.yaml with
// its expected analysis, written by hand from the SQL.
type corpusCase struct {
	ID  string `yaml:"id"`
	SQL string `yaml:"sql"`
	// Kinds of every statement, nested ones after their parent.
	Kinds []string `yaml:"kinds"`
	// Tables is the set of tables over all statements.
	Tables   []string `yaml:"tables"`
	ViaViews []string `yaml:"via_views"`
	Target   string   `yaml:"target"`
	// Star lists the star forms in order; absent means none.
	Star       []string   `yaml:"star"`
	StarTables [][]string `yaml:"star_tables"`
	// Path is analyzer, parser_fallback, parser (no analyzable statement)
	// or parse_error.
	Path     string              `yaml:"path"`
	HasLimit *bool               `yaml:"has_limit"`
	Columns  []string            `yaml:"columns"`
	Lineage  map[string][]string `yaml:"lineage"`
	// Derived, per output column, lists the lineage columns reached through
	// a computation (OutputColumn.Derived).
	Derived map[string][]string `yaml:"derived"`
	// Shaping lists every shaping use over all statements as
	// "clause dataset.table.column", with " derived" and " lookup"
	// appended when set; absent means not checked, [] means none.
	Shaping []string `yaml:"shaping"`
}

const corpusDir = "../../testing/sql"

func loadCorpus(t testing.TB) ([]corpusCase, *sqlscan.MemoryCatalog, sqlscan.Options) {
	t.Helper()
	cat, cf, err := sqlscantest.LoadCatalog(filepath.Join(corpusDir, "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqlscantest.DemoTables() {
		cat.Put(m)
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "corpus", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var all []corpusCase
	seen := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []corpusCase
		dec := yaml.NewDecoder(strings.NewReader(string(src)))
		dec.KnownFields(true)
		if err := dec.Decode(&cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			if seen[c.ID] {
				t.Fatalf("%s: duplicate id %s", f, c.ID)
			}
			seen[c.ID] = true
		}
		all = append(all, cases...)
	}
	return all, cat, sqlscan.Options{DefaultProject: cf.DefaultProject, DefaultDataset: cf.DefaultDataset, Catalog: cat}
}

// full expands the corpus shorthand: dataset.table (and
// dataset.table.column) are in the default project.
func full(s string, parts int, project string) string {
	if len(strings.Split(s, ".")) == parts {
		return project + "." + s
	}
	return s
}

func fullAll(in []string, parts int, project string) []string {
	out := []string{}
	for _, s := range in {
		out = append(out, full(s, parts, project))
	}
	sort.Strings(out)
	return out
}

func refStrings(refs []sqlscan.TableRef) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	cases, _, opts := loadCorpus(t)
	if len(cases) < 200 {
		t.Errorf("corpus has %d statements, want at least 200", len(cases))
	}
	proj := opts.DefaultProject
	for _, tc := range cases {
		t.Run(tc.ID, func(t *testing.T) {
			a, err := sqlscan.Analyze(context.Background(), tc.SQL, opts)
			if tc.Path == "parse_error" {
				var pe *sqlscan.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("want a parse error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			var kinds []string
			var tables, via, star []string
			var target string
			var starTables [][]string
			limit := false
			for _, st := range a.Statements {
				kinds = append(kinds, st.Kind)
				tables = append(tables, refStrings(st.Tables)...)
				via = append(via, refStrings(st.ViaViews)...)
				if st.Target != nil && target == "" {
					target = st.Target.String()
				}
				for _, s := range st.Star {
					star = append(star, s.Form)
					starTables = append(starTables, refStrings(s.Tables))
				}
				if st.Depth == 0 && st.Kind == sqlscan.KindQuery {
					limit = st.HasLimit
				}
			}
			if diff := cmp.Diff(tc.Kinds, kinds); diff != "" {
				t.Errorf("kinds (-want, +got):\n%s", diff)
			}
			if diff := cmp.Diff(fullAll(tc.Tables, 2, proj), dedupe(tables)); diff != "" {
				t.Errorf("tables (-want, +got):\n%s", diff)
			}
			if tc.ViaViews != nil || len(via) > 0 {
				if diff := cmp.Diff(fullAll(tc.ViaViews, 2, proj), dedupe(via)); diff != "" {
					t.Errorf("via views (-want, +got):\n%s", diff)
				}
			}
			if tc.Target != "" && full(tc.Target, 2, proj) != target {
				t.Errorf("target: want %s, got %s", full(tc.Target, 2, proj), target)
			}
			if diff := cmp.Diff(tc.Star, star); diff != "" {
				t.Errorf("star (-want, +got):\n%s", diff)
			}
			for i, want := range tc.StarTables {
				if i < len(starTables) {
					if diff := cmp.Diff(fullAll(want, 2, proj), starTables[i]); diff != "" {
						t.Errorf("star %d tables (-want, +got):\n%s", i, diff)
					}
				}
			}
			gotPath := a.Path
			analyzed := false
			for _, st := range a.Statements {
				analyzed = analyzed || st.Path != sqlscan.PathParser
			}
			if !analyzed {
				gotPath = sqlscan.PathParser
			}
			if tc.Path != gotPath {
				t.Errorf("path: want %s, got %s (%s)", tc.Path, gotPath, a.AnalyzerError)
			}
			if tc.HasLimit != nil && *tc.HasLimit != limit {
				t.Errorf("has_limit: want %v, got %v", *tc.HasLimit, limit)
			}
			if tc.Columns != nil {
				var names []string
				for _, c := range a.OutputColumns {
					names = append(names, c.Name)
				}
				if diff := cmp.Diff(tc.Columns, names); diff != "" {
					t.Errorf("columns (-want, +got):\n%s", diff)
				}
			}
			for col, want := range tc.Lineage {
				var got []string
				found := false
				for _, c := range a.OutputColumns {
					if c.Name == col {
						found = true
						for _, l := range c.Lineage {
							got = append(got, l.String())
						}
					}
				}
				if !found {
					t.Errorf("lineage: no output column %q in %v", col, outputNames(a))
					continue
				}
				sort.Strings(got)
				if got == nil {
					got = []string{}
				}
				if diff := cmp.Diff(fullAll(want, 3, proj), got); diff != "" {
					t.Errorf("lineage of %s (-want, +got):\n%s", col, diff)
				}
			}
			for col, want := range tc.Derived {
				got := []string{}
				for _, c := range a.OutputColumns {
					if c.Name == col {
						for _, l := range c.Derived {
							got = append(got, l.String())
						}
					}
				}
				sort.Strings(got)
				if diff := cmp.Diff(fullAll(want, 3, proj), got); diff != "" {
					t.Errorf("derived of %s (-want, +got):\n%s", col, diff)
				}
			}
			if tc.Shaping != nil {
				got := []string{}
				for _, st := range a.Statements {
					for _, u := range st.Shaping {
						s := u.Clause + " " + u.Column.String()
						if u.Derived {
							s += " derived"
						}
						if u.Lookup {
							s += " lookup"
						}
						got = append(got, s)
					}
				}
				want := []string{}
				for _, w := range tc.Shaping {
					clause, rest, _ := strings.Cut(w, " ")
					col, flags, _ := strings.Cut(rest, " ")
					s := clause + " " + full(col, 3, proj)
					if flags != "" {
						s += " " + flags
					}
					want = append(want, s)
				}
				sort.Strings(got)
				sort.Strings(want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("shaping (-want, +got):\n%s", diff)
				}
			}
		})
	}
}

func outputNames(a *sqlscan.Analysis) []string {
	var out []string
	for _, c := range a.OutputColumns {
		out = append(out, c.Name)
	}
	return out
}

func dedupe(in []string) []string {
	set := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if !set[s] {
			set[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
