package terraform_test

import (
	"go/ast"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// servedBy lists, per function, the Go files whose route patterns that
// function's handler mounts (functions/*.go say which components each
// function registers).
var servedBy = map[string][]string{
	"intake": {"internal/intake/server.go", "internal/intake/reidentify.go", "internal/bqapi/server.go",
		"internal/mcp/server.go", "internal/openapi/openapi.go"},
	"sessions": {"internal/gateway/mux.go", "internal/intake/server.go"},
	"approval": {"internal/approval/api.go", "functions/approval.go"},
}

// stringLits returns every string literal in the Go file rel.
func stringLits(t *testing.T, rel string) []string {
	t.Helper()
	var out []string
	ast.Inspect(parseGo(t, rel), func(n ast.Node) bool {
		if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			if s, err := strconv.Unquote(bl.Value); err == nil {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

// routesPrefix reports whether a literal is a route pattern (or the
// constant a pattern is built from) under prefix: "[METHOD ]PREFIX[/...]".
func routesPrefix(lit, prefix string) bool {
	if _, p, ok := strings.Cut(lit, " "); ok && strings.HasPrefix(p, "/") {
		lit = p
	}
	return lit == prefix || strings.HasPrefix(lit, prefix+"/") || strings.HasPrefix(lit, prefix+"?")
}

// TestPathRoutesMatchCode: every prefix in terraform/routes.tf's
// local.path_routes goes to a function whose Go routes serve it, and the
// decisions API (/v1/approvals) is not something intake serves, so a URL
// map built from path_routes sends `querygate approve` where it works.
func TestPathRoutesMatchCode(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	routes := m.staticLocal(t, "path_routes")
	lits := map[string][]string{}
	for fn, files := range servedBy {
		for _, f := range files {
			lits[fn] = append(lits[fn], stringLits(t, f)...)
		}
	}
	serves := func(fn, prefix string) bool {
		for _, l := range lits[fn] {
			if routesPrefix(l, prefix) {
				return true
			}
		}
		return false
	}
	n := 0
	for it := routes.ElementIterator(); it.Next(); {
		k, v := it.Element()
		prefix, fn := k.AsString(), v.AsString()
		n++
		if _, ok := servedBy[fn]; !ok {
			t.Errorf("path_routes sends %s to %s, which serves no external route", prefix, fn)
			continue
		}
		if !serves(fn, prefix) {
			t.Errorf("path_routes sends %s to %s, but no route of %s's code is under it", prefix, fn, fn)
		}
	}
	if n < 5 {
		t.Fatalf("path_routes has %d entries; the test is not reading routes.tf", n)
	}
	if serves("intake", "/v1/approvals") {
		t.Error("intake's code now serves /v1/approvals: revisit path_routes")
	}
	if !serves("approval", "/v1/approvals") {
		t.Error("approval's code does not serve /v1/approvals")
	}
}
