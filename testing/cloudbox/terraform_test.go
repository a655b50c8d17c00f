package cloudbox

import (
	"fmt"
	"path/filepath"
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

// The environment of each function is what terraform/ gives its Cloud Run
// service, evaluated here from the HCL itself (as testing/terraform parses
// it) with test values in place of what only a real project knows: the
// variables below, the project number, and the attributes Google computes
// (a service account's email, a secret's id). Nothing of services.tf is
// copied: a new variable, reference or function in the env expressions is
// evaluated too, and one this evaluator cannot resolve fails the test by
// name.

// testProjectNumber stands in for data.google_project.this.number.
const testProjectNumber = "123456789012"

// tfEnv is what the module gives the box.
type tfEnv struct {
	// functions maps a function (local.function_names) to its service's
	// environment.
	functions map[string]map[string]string
	// workflow is the workflow's user_env_vars.
	workflow map[string]string
	// serviceAccounts maps a function to the email of the service
	// account its service runs as.
	serviceAccounts map[string]string
	// configFiles maps a mounted config file (local.config_files) to the
	// file whose content Terraform stores in its secret.
	configFiles map[string]string
}

// tfFuncs are the Terraform functions the evaluated expressions use.
var tfFuncs = map[string]function.Function{
	"concat":   stdlib.ConcatFunc,
	"merge":    stdlib.MergeFunc,
	"join":     stdlib.JoinFunc,
	"contains": stdlib.ContainsFunc,
	"length":   stdlib.LengthFunc,
	"lower":    stdlib.LowerFunc,
	"keys":     stdlib.KeysFunc,
	"values":   stdlib.ValuesFunc,
	"format":   stdlib.FormatFunc,
	"replace":  stdlib.ReplaceFunc,
	"tostring": stdlib.MakeToFunc(cty.String),
	"tonumber": stdlib.MakeToFunc(cty.Number),
	"tobool":   stdlib.MakeToFunc(cty.Bool),
	"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
}

type tfModule struct {
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
}

func parseModule(t *testing.T, dir string) *tfModule {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s/*.tf (%v)", dir, err)
	}
	m := &tfModule{variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}, resources: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %v", path, diags)
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "variable":
				m.variables[b.Labels[0]] = b
			case "locals":
				for n, a := range b.Body.Attributes {
					m.locals[n] = a
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b
			}
		}
	}
	return m
}

// evaluate resolves the variables (defaults, then vars), every local and
// every resource's top-level attributes that can be resolved, by rounds
// until nothing new resolves.
type evaluated struct {
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	resources map[string]map[string]cty.Value // type -> name -> object (or map of objects for for_each)
	project   string
}

func (e *evaluated) ctx(each *cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(e.vars),
		"local": cty.ObjectVal(e.locals),
		"data": cty.ObjectVal(map[string]cty.Value{"google_project": cty.ObjectVal(map[string]cty.Value{
			"this": cty.ObjectVal(map[string]cty.Value{"number": cty.StringVal(testProjectNumber), "project_id": cty.StringVal(e.project)}),
		})}),
	}
	for typ, byName := range e.resources {
		vars[typ] = cty.ObjectVal(byName)
	}
	if each != nil {
		vars["each"] = *each
	}
	return &hcl.EvalContext{Variables: vars, Functions: tfFuncs}
}

func evaluate(t *testing.T, m *tfModule, overrides map[string]cty.Value) *evaluated {
	t.Helper()
	e := &evaluated{vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, resources: map[string]map[string]cty.Value{}}
	for name, b := range m.variables {
		if v, ok := overrides[name]; ok {
			e.vars[name] = v
			continue
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %s: default: %v", name, diags)
			}
			e.vars[name] = v
		}
	}
	for name := range overrides {
		if _, ok := m.variables[name]; !ok {
			t.Fatalf("the box sets var.%s, which terraform/ does not declare", name)
		}
	}
	if p, ok := e.vars["project_id"]; ok && p.Type() == cty.String {
		e.project = p.AsString()
	}
	for round := 0; round < 30; round++ {
		before := e.size()
		for name, a := range m.locals {
			if _, done := e.locals[name]; done {
				continue
			}
			if v, diags := a.Expr.Value(e.ctx(nil)); !diags.HasErrors() && v.IsWhollyKnown() {
				e.locals[name] = v
			}
		}
		for key, b := range m.resources {
			typ, name, _ := strings.Cut(key, ".")
			if obj, ok := e.resource(typ, b); ok {
				if e.resources[typ] == nil {
					e.resources[typ] = map[string]cty.Value{}
				}
				e.resources[typ][name] = obj
			}
		}
		if e.size() == before {
			break
		}
	}
	return e
}

// size counts what has resolved, to detect the fixpoint.
func (e *evaluated) size() int {
	n := len(e.locals)
	for _, byName := range e.resources {
		for _, v := range byName {
			n += countAttrs(v)
		}
	}
	return n
}

func countAttrs(v cty.Value) int {
	if !v.Type().IsObjectType() {
		return 1
	}
	n := 0
	for _, a := range v.AsValueMap() {
		n += countAttrs(a)
	}
	return n + 1
}

// resource evaluates a resource's attributes, per for_each key when it has
// one. Unresolved attributes are left out.
func (e *evaluated) resource(typ string, b *hclsyntax.Block) (cty.Value, bool) {
	fe, ok := b.Body.Attributes["for_each"]
	if !ok {
		return e.instance(typ, b, nil), true
	}
	v, diags := fe.Expr.Value(e.ctx(nil))
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	out := map[string]cty.Value{}
	if v.Type().IsSetType() || v.Type().IsListType() || v.Type().IsTupleType() {
		for _, k := range v.AsValueSlice() {
			each := cty.ObjectVal(map[string]cty.Value{"key": k, "value": k})
			out[k.AsString()] = e.instance(typ, b, &each)
		}
	} else {
		for k, val := range v.AsValueMap() {
			each := cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": val})
			out[k] = e.instance(typ, b, &each)
		}
	}
	return cty.ObjectVal(out), true
}

func (e *evaluated) instance(typ string, b *hclsyntax.Block, each *cty.Value) cty.Value {
	attrs := map[string]cty.Value{}
	for name, a := range b.Body.Attributes {
		if name == "for_each" || name == "depends_on" {
			continue
		}
		if v, diags := a.Expr.Value(e.ctx(each)); !diags.HasErrors() && v.IsWhollyKnown() {
			attrs[name] = v
		}
	}
	str := func(n string) (string, bool) {
		v, ok := attrs[n]
		if !ok || v.Type() != cty.String {
			return "", false
		}
		return v.AsString(), true
	}
	project, _ := str("project")
	if project == "" {
		project = e.project
	}
	// What Google computes at apply time, in the documented formats.
	switch typ {
	case "google_service_account":
		if id, ok := str("account_id"); ok {
			attrs["email"] = cty.StringVal(id + "@" + project + ".iam.gserviceaccount.com")
			attrs["id"] = cty.StringVal("projects/" + project + "/serviceAccounts/" + id + "@" + project + ".iam.gserviceaccount.com")
		}
	case "google_secret_manager_secret":
		if id, ok := str("secret_id"); ok {
			attrs["id"] = cty.StringVal("projects/" + project + "/secrets/" + id)
			attrs["name"] = cty.StringVal("projects/" + testProjectNumber + "/secrets/" + id)
		}
	default:
		if _, ok := attrs["id"]; !ok {
			attrs["id"] = cty.StringVal(fmt.Sprintf("box-%s-%s", typ, b.Labels[1]))
		}
	}
	return cty.ObjectVal(attrs)
}

// terraformEnv evaluates the environment terraform/ gives every function,
// the workflow's user_env_vars and the config files it mounts.
func terraformEnv(t *testing.T, dir string, overrides map[string]cty.Value) tfEnv {
	t.Helper()
	m := parseModule(t, dir)
	e := evaluate(t, m, overrides)
	svc, ok := m.resources["google_cloud_run_v2_service.fn"]
	if !ok {
		t.Fatal("terraform/ has no google_cloud_run_v2_service.fn")
	}
	var dyn *hclsyntax.Block
	var saExpr hclsyntax.Expression
	for _, tb := range svc.Body.Blocks {
		if tb.Type != "template" {
			continue
		}
		if a, ok := tb.Body.Attributes["service_account"]; ok {
			saExpr = a.Expr
		}
		for _, c := range tb.Body.Blocks {
			if c.Type != "containers" {
				continue
			}
			for _, d := range c.Body.Blocks {
				if d.Type == "dynamic" && len(d.Labels) == 1 && d.Labels[0] == "env" {
					dyn = d
				}
			}
		}
	}
	if dyn == nil || saExpr == nil {
		t.Fatal(`google_cloud_run_v2_service.fn has no template.service_account or template.containers dynamic "env" block`)
	}
	fns, ok := e.locals["functions"]
	if !ok {
		var why any = "not declared"
		if a, declared := m.locals["functions"]; declared {
			v, diags := a.Expr.Value(e.ctx(nil))
			why = diags
			if !diags.HasErrors() {
				why = "a value not wholly known: " + v.GoString()
			}
		}
		t.Fatalf("local.functions does not resolve (%v); resolved locals: %v", why, sortedKeys(e.locals))
	}
	out := tfEnv{functions: map[string]map[string]string{}, workflow: map[string]string{}, configFiles: map[string]string{}, serviceAccounts: map[string]string{}}
	for fn, val := range fns.AsValueMap() {
		each := cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(fn), "value": val})
		v, diags := dyn.Body.Attributes["for_each"].Expr.Value(e.ctx(&each))
		if diags.HasErrors() {
			t.Fatalf("service %s: the env expression does not resolve with the box's values: %v", fn, diags)
		}
		out.functions[fn] = stringMap(t, "service "+fn+" env", v)
		sa, diags := saExpr.Value(e.ctx(&each))
		if diags.HasErrors() || sa.Type() != cty.String {
			t.Fatalf("service %s: template.service_account does not resolve: %v", fn, diags)
		}
		out.serviceAccounts[fn] = sa.AsString()
	}
	wf, ok := e.resources["google_workflows_workflow"]["query_session"]
	if !ok || !wf.Type().HasAttribute("user_env_vars") {
		t.Fatal("google_workflows_workflow.query_session.user_env_vars does not resolve")
	}
	out.workflow = stringMap(t, "workflow user_env_vars", wf.GetAttr("user_env_vars"))
	if cf, ok := e.locals["config_files"]; ok {
		out.configFiles = stringMap(t, "local.config_files", cf)
	}
	return out
}

func stringMap(t *testing.T, what string, v cty.Value) map[string]string {
	t.Helper()
	if !v.CanIterateElements() {
		t.Fatalf("%s is %s, not a map", what, v.Type().FriendlyName())
	}
	out := map[string]string{}
	for k, val := range v.AsValueMap() {
		if val.IsNull() {
			out[k] = ""
			continue
		}
		if val.Type() != cty.String {
			t.Fatalf("%s.%s is %s, not a string", what, k, val.Type().FriendlyName())
		}
		out[k] = val.AsString()
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
