// Package terraform_test checks terraform/ against the Go code and the
// workflow it deploys, without the google provider (which cannot be
// downloaded where these tests run): it parses the HCL with hcl/v2 and reads
// the Go sources with go/ast.
package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

const root = "../.."

// module is every top-level block of terraform/*.tf.
type module struct {
	src       map[string][]byte // file name -> source
	resources map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	variables map[string]*hclsyntax.Block
	outputs   []*hclsyntax.Block
}

func loadModule(t *testing.T) *module {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "terraform", "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no terraform/*.tf (%v)", err)
	}
	m := &module{src: map[string][]byte{}, resources: map[string]*hclsyntax.Block{},
		locals: map[string]*hclsyntax.Attribute{}, variables: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %v", path, diags)
		}
		m.src[path] = f.Bytes
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "resource":
				key := b.Labels[0] + "." + b.Labels[1]
				if _, dup := m.resources[key]; dup {
					t.Errorf("resource %s declared twice", key)
				}
				m.resources[key] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := m.locals[name]; dup {
						t.Errorf("local.%s declared twice", name)
					}
					m.locals[name] = a
				}
			case "variable":
				m.variables[b.Labels[0]] = b
			case "output":
				m.outputs = append(m.outputs, b)
			}
		}
	}
	return m
}

func (m *module) resource(t *testing.T, key string) *hclsyntax.Block {
	t.Helper()
	b, ok := m.resources[key]
	if !ok {
		t.Fatalf("no resource %s in terraform/", key)
	}
	return b
}

func (m *module) local(t *testing.T, name string) hclsyntax.Expression {
	t.Helper()
	a, ok := m.locals[name]
	if !ok {
		t.Fatalf("no local.%s in terraform/", name)
	}
	return a.Expr
}

// text is the source of an expression, for messages and for checking the
// shape of a reference.
func (m *module) text(e hclsyntax.Expression) string {
	r := e.Range()
	for path, src := range m.src {
		if filepath.Base(path) == filepath.Base(r.Filename) {
			return strings.TrimSpace(string(r.SliceBytes(src)))
		}
	}
	return "<unknown source>"
}

// evalCtx evaluates literal data with Terraform's collection functions; any
// reference to a variable, resource or data source fails, so a value that
// evaluates is one Terraform cannot change at plan time.
var evalCtx = &hcl.EvalContext{Functions: map[string]function.Function{
	"concat": stdlib.ConcatFunc,
	"merge":  stdlib.MergeFunc,
}}

// staticLocal evaluates local.name, which must be literal data.
func (m *module) staticLocal(t *testing.T, name string) cty.Value {
	t.Helper()
	v, diags := m.local(t, name).Value(evalCtx)
	if diags.HasErrors() {
		t.Fatalf("local.%s must be literal data for review and for this test: %v", name, diags)
	}
	return v
}

func strings_(t *testing.T, what string, v cty.Value) []string {
	t.Helper()
	if !v.CanIterateElements() {
		t.Fatalf("%s is %s, want a list of strings", what, v.Type().FriendlyName())
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String {
			t.Fatalf("%s holds %s, want strings", what, e.Type().FriendlyName())
		}
		out = append(out, e.AsString())
	}
	return out
}

// objectKeys returns the literal keys of an object constructor expression,
// in source order.
func objectKeys(t *testing.T, what string, e hclsyntax.Expression) []string {
	t.Helper()
	o, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s is not an object literal", what)
	}
	var keys []string
	for _, it := range o.Items {
		k, diags := it.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			t.Fatalf("%s has a key that is not a literal name", what)
		}
		keys = append(keys, k.AsString())
	}
	return keys
}

// objectItem returns the value expression of key in an object literal.
func objectItem(t *testing.T, what string, e hclsyntax.Expression, key string) hclsyntax.Expression {
	t.Helper()
	o, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s is not an object literal", what)
	}
	for _, it := range o.Items {
		if k, diags := it.KeyExpr.Value(nil); !diags.HasErrors() && k.Type() == cty.String && k.AsString() == key {
			return it.ValueExpr
		}
	}
	t.Fatalf("%s has no %s", what, key)
	return nil
}

func traversalText(e hclsyntax.Expression) string {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, s := range st.Traversal {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				b.WriteString("[?]")
			}
		}
	}
	return b.String()
}

// envNames returns the names an env map expression sets: an object literal,
// local.NAME of one, merge() of such, COND ? A : B (the names of both), or
// each.value.env (resolved through eachEnv, the current function's env
// expression).
func (m *module) envNames(t *testing.T, e hclsyntax.Expression, eachEnv hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	out := map[string]hclsyntax.Expression{}
	switch e := e.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, k := range objectKeys(t, m.text(e), e) {
			out[k] = objectItem(t, m.text(e), e, k)
		}
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "merge" {
			t.Fatalf("env expression %s: only merge() of object literals can be checked", m.text(e))
		}
		for _, a := range e.Args {
			for k, v := range m.envNames(t, a, eachEnv) {
				out[k] = v
			}
		}
	case *hclsyntax.ConditionalExpr:
		for _, a := range []hclsyntax.Expression{e.TrueResult, e.FalseResult} {
			for k, v := range m.envNames(t, a, eachEnv) {
				out[k] = v
			}
		}
	case *hclsyntax.ScopeTraversalExpr:
		switch ref := traversalText(e); {
		case ref == "each.value.env" && eachEnv != nil:
			return m.envNames(t, eachEnv, nil)
		case strings.HasPrefix(ref, "local.") && strings.Count(ref, ".") == 1:
			return m.envNames(t, m.local(t, strings.TrimPrefix(ref, "local.")), eachEnv)
		default:
			t.Fatalf("env expression %s cannot be resolved statically", ref)
		}
	default:
		t.Fatalf("env expression %s cannot be resolved statically", m.text(e))
	}
	return out
}

func childBlock(t *testing.T, b *hclsyntax.Block, typ string) *hclsyntax.Block {
	t.Helper()
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("%s %v has no %s block", b.Type, b.Labels, typ)
	return nil
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
