package terraform_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func parseGo(t *testing.T, rel string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, rel), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// envTags returns the names in `env:"NAME[, default=...]"` tags of the
// fields of struct type typeName in the Go file rel, with whether the tag
// has a default.
func envTags(t *testing.T, rel, typeName string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	ast.Inspect(parseGo(t, rel), func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typeName {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			t.Fatalf("%s in %s is not a struct", typeName, rel)
		}
		for _, f := range st.Fields.List {
			if f.Tag == nil {
				continue
			}
			raw, err := strconv.Unquote(f.Tag.Value)
			if err != nil {
				t.Fatal(err)
			}
			tag, ok := reflect.StructTag(raw).Lookup("env")
			if !ok {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			out[strings.TrimSpace(name)] = strings.Contains(opts, "default=")
		}
		return false
	})
	if len(out) == 0 {
		t.Fatalf("no env tags on %s in %s", typeName, rel)
	}
	return out
}

// requiredEnv returns the names functions.Config.Validate reports as
// required: the string literals of the []string it ranges over.
func requiredEnv(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, d := range parseGo(t, "functions/config.go").Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "Validate" || fd.Recv == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			rs, ok := n.(*ast.RangeStmt)
			if !ok {
				return true
			}
			cl, ok := rs.X.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if at, ok := cl.Type.(*ast.ArrayType); !ok || at.Len != nil || !isIdent(at.Elt, "string") {
				return true
			}
			for _, e := range cl.Elts {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("Config.Validate's required list holds a non-literal")
				}
				s, _ := strconv.Unquote(lit.Value)
				names = append(names, s)
			}
			return false
		})
	}
	if len(names) == 0 {
		t.Fatal("found no `for _, k := range []string{...}` list of required variables in Config.Validate (functions/config.go)")
	}
	return names
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// registeredTargets returns the function names registered with
// functions.HTTP("Name", ...) in functions/*.go: the values FUNCTION_TARGET
// can take.
func registeredTargets(t *testing.T) map[string]bool {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "functions", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		rel, _ := filepath.Rel(root, p)
		ast.Inspect(parseGo(t, rel), func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "HTTP" || !isIdent(sel.X, "functions") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				out[s] = true
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatal("no functions.HTTP registrations in functions/*.go")
	}
	return out
}
