package terraform_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/querygate/querygate/internal/deid"
)

// planTestExpectation returns the literal on the right of the `==` in the
// first assert of run block runName in terraform/tests/plan.tftest.hcl:
// jsonencode(ACTUAL) == jsonencode(LITERAL).
func planTestExpectation(t *testing.T, runName string) cty.Value {
	t.Helper()
	path := filepath.Join(root, "terraform", "tests", "plan.tftest.hcl")
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %v", path, diags)
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "run" || len(b.Labels) != 1 || b.Labels[0] != runName {
			continue
		}
		for _, a := range b.Body.Blocks {
			if a.Type != "assert" {
				continue
			}
			op, ok := a.Body.Attributes["condition"].Expr.(*hclsyntax.BinaryOpExpr)
			if !ok || op.Op != hclsyntax.OpEqual {
				t.Fatalf("run %q: the first assert must be jsonencode(...) == jsonencode(LITERAL)", runName)
			}
			call, ok := op.RHS.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
				t.Fatalf("run %q: the right side must be jsonencode(LITERAL)", runName)
			}
			v, diags := call.Args[0].Value(nil)
			if diags.HasErrors() {
				t.Fatalf("run %q: the expectation must be a literal: %v", runName, diags)
			}
			return v
		}
	}
	t.Fatalf("no run %q with an assert in %s", runName, path)
	return cty.NilVal
}

// TestPlanTestsKnowEveryTarget keeps the FUNCTION_TARGET map that
// tests/plan.tftest.hcl checks the plan against equal to the functions
// functions/ registers (what functions.Targets() returns) and to
// local.functions.
func TestPlanTestsKnowEveryTarget(t *testing.T) {
	t.Parallel()
	want := planTestExpectation(t, "every_function_has_a_service")
	got := map[string]bool{}
	for it := want.ElementIterator(); it.Next(); {
		_, v := it.Element()
		got[v.AsString()] = true
	}
	if diff := cmp.Diff(sorted(registeredTargets(t)), sorted(got)); diff != "" {
		t.Errorf("FUNCTION_TARGETs in tests/plan.tftest.hcl vs functions/ registrations (-registered, +plan test):\n%s", diff)
	}
	m := loadModule(t)
	functions := m.local(t, "functions")
	for it := want.ElementIterator(); it.Next(); {
		k, v := it.Element()
		target, diags := objectItem(t, "local.functions."+k.AsString(), objectItem(t, "local.functions", functions, k.AsString()), "target").Value(nil)
		if diags.HasErrors() || target.AsString() != v.AsString() {
			t.Errorf("plan test expects %s to run %s; local.functions says %s", k.AsString(), v.AsString(), m.text(objectItem(t, "local.functions", functions, k.AsString())))
		}
	}
}

// documentedRoles parses docs/deploy.md's Roles table: rows of
// | qg-ACCOUNT | SCOPE | `ROLE` | why |.
func documentedRoles(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "docs/deploy.md")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "| Account | Scope | Role | Why |":
			in = true
			continue
		case !in:
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		case strings.HasPrefix(line, "|---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("docs/deploy.md Roles row %q: want 4 cells", line)
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		sa, ok := strings.CutPrefix(cells[0], "qg-")
		if !ok {
			t.Fatalf("docs/deploy.md Roles row %q: account must be qg-NAME", line)
		}
		out[sa] = append(out[sa], cells[1]+" "+cells[2])
	}
	if len(out) == 0 {
		t.Fatal(`docs/deploy.md has no "| Account | Scope | Role | Why |" table`)
	}
	for sa := range out {
		sort.Strings(out[sa])
	}
	return out
}

// TestDocumentedRolesMatchPlanTest: docs/deploy.md's Roles table is the
// grant list tests/plan.tftest.hcl checks the planned IAM resources
// against, row for row.
func TestDocumentedRolesMatchPlanTest(t *testing.T) {
	t.Parallel()
	want := planTestExpectation(t, "service_accounts_have_their_documented_roles")
	got := map[string][]string{}
	for it := want.ElementIterator(); it.Next(); {
		k, v := it.Element()
		got[k.AsString()] = sortedCopy(strings_(t, "grants of "+k.AsString(), v))
	}
	if diff := cmp.Diff(documentedRoles(t), got); diff != "" {
		t.Errorf("docs/deploy.md Roles vs tests/plan.tftest.hcl (-docs, +plan test):\n%s", diff)
	}
}

// nonServiceAccountGrants grant to someone other than a querygate service
// account, so local.service_account_grants does not list them.
var nonServiceAccountGrants = map[string]bool{
	"google_cloud_run_v2_service_iam_member.public":            true, // allUsers on intake, sessions, approval
	"google_iap_web_iam_member.approvers":                      true, // the approvers' group
	"google_service_account_iam_member.audit_anchor_dts_token": true, // Google's Data Transfer Service agent
}

// TestEveryGrantIsListed: every IAM member resource that grants to a
// querygate service account feeds local.grant_list, which the plan test
// compares with the documented roles; a new grant cannot bypass that.
func TestEveryGrantIsListed(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	listed := map[string]bool{}
	for _, tr := range m.local(t, "grant_list").Variables() {
		if len(tr) >= 2 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				listed[tr.RootName()+"."+a.Name] = true
			}
		}
	}
	n := 0
	for key, b := range m.resources {
		if !strings.HasSuffix(b.Labels[0], "_iam_member") {
			continue
		}
		n++
		if nonServiceAccountGrants[key] {
			if listed[key] {
				t.Errorf("%s is in local.grant_list but also in nonServiceAccountGrants", key)
			}
			continue
		}
		if !listed[key] {
			t.Errorf("%s grants a role but local.grant_list (iam.tf) does not list it, so no test compares it with docs/deploy.md", key)
		}
	}
	if n < 15 {
		t.Fatalf("found %d IAM member resources; the test is not seeing iam.tf", n)
	}
}

// apiOf maps a resource type prefix to the API its create call goes to.
var apiOf = []struct{ prefix, api string }{
	{"google_bigquery_data_transfer_", "bigquerydatatransfer.googleapis.com"},
	{"google_bigquery_", "bigquery.googleapis.com"},
	{"google_cloud_run_v2_", "run.googleapis.com"},
	{"google_cloud_scheduler_", "cloudscheduler.googleapis.com"},
	{"google_data_loss_prevention_", "dlp.googleapis.com"},
	{"google_firestore_", "firestore.googleapis.com"},
	{"google_kms_", "cloudkms.googleapis.com"},
	{"google_logging_", "logging.googleapis.com"},
	{"google_secret_manager_", "secretmanager.googleapis.com"},
	{"google_workflows_", "workflows.googleapis.com"},
	{"google_artifact_registry_", "artifactregistry.googleapis.com"},
	{"google_iap_", "iap.googleapis.com"},
	{"google_service_account", "iam.googleapis.com"},
	{"google_project_iam_custom_role", "iam.googleapis.com"},
	{"google_project_iam_member", "cloudresourcemanager.googleapis.com"},
}

// refs returns the resources ("type.name") and locals ("local.name") that
// the attributes of body (nested blocks included) refer to.
func refs(body *hclsyntax.Body) map[string]bool {
	out := map[string]bool{}
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, a := range b.Attributes {
			for _, tr := range a.Expr.Variables() {
				if len(tr) < 2 {
					continue
				}
				if at, ok := tr[1].(hcl.TraverseAttr); ok {
					out[tr.RootName()+"."+at.Name] = true
				}
			}
		}
		for _, c := range b.Blocks {
			walk(c.Body)
		}
	}
	walk(body)
	return out
}

// TestAPIsEnabledBeforeUse: every resource's API is in local.apis, and
// every resource is ordered after google_project_service.enabled, either
// by its own depends_on or through a resource it refers to (directly or via
// locals) that is.
func TestAPIsEnabledBeforeUse(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	apis := map[string]bool{}
	for _, a := range strings_(t, "local.apis", m.staticLocal(t, "apis")) {
		apis[a] = true
	}
	localRefs := map[string]map[string]bool{}
	for name, a := range m.locals {
		localRefs["local."+name] = refs(&hclsyntax.Body{Attributes: hclsyntax.Attributes{name: a}})
	}
	// deps expands locals to what they refer to.
	deps := map[string]map[string]bool{}
	for key, b := range m.resources {
		d := map[string]bool{}
		var add func(r string, seen map[string]bool)
		add = func(r string, seen map[string]bool) {
			if seen[r] {
				return
			}
			seen[r] = true
			if lr, ok := localRefs[r]; ok {
				for x := range lr {
					add(x, seen)
				}
				return
			}
			d[r] = true
		}
		seen := map[string]bool{}
		for r := range refs(b.Body) {
			add(r, seen)
		}
		deps[key] = d
	}
	ordered := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for key, d := range deps {
			if ordered[key] {
				continue
			}
			for r := range d {
				if r == "google_project_service.enabled" || ordered[r] {
					ordered[key] = true
					changed = true
					break
				}
			}
		}
	}
	for key, b := range m.resources {
		typ := b.Labels[0]
		if typ == "google_project_service" {
			continue
		}
		api := ""
		for _, p := range apiOf {
			if strings.HasPrefix(typ, p.prefix) {
				api = p.api
				break
			}
		}
		switch {
		case api == "":
			t.Errorf("%s: no API known for %s; add it to apiOf", key, typ)
		case !apis[api]:
			t.Errorf("%s needs %s, which local.apis (apis.tf) does not enable", key, api)
		}
		if !ordered[key] {
			t.Errorf("%s is not ordered after google_project_service.enabled: add depends_on = [google_project_service.enabled]", key)
		}
	}
}

// TestTTLOnEveryExpiringCollection reads the Go code that writes expire_at
// to Firestore and checks that every collection it names (its
// ...Collection string constants) has a TTL policy in firestore.tf.
func TestTTLOnEveryExpiringCollection(t *testing.T) {
	t.Parallel()
	var collections []string
	for _, rel := range []string{"internal/session/firestore.go", "internal/approval/firestore.go"} {
		f := parseGo(t, rel)
		if !bytes.Contains(readFile(t, rel), []byte(`"expire_at"`)) {
			t.Errorf("%s no longer writes expire_at; update this test", rel)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasSuffix(name.Name, "Collection") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					collections = append(collections, s)
				}
			}
			return true
		})
	}
	if len(collections) < 5 {
		t.Fatalf("found collections %v; want sessions, events, pages, versions and approval_requests at least", collections)
	}
	m := loadModule(t)
	fe, diags := m.resource(t, "google_firestore_field.expire_at").Body.Attributes["for_each"].Expr.(*hclsyntax.FunctionCallExpr).Args[0].Value(nil)
	if diags.HasErrors() {
		t.Fatalf("google_firestore_field.expire_at for_each must be toset([...literals]): %v", diags)
	}
	ttl := strings_(t, "expire_at for_each", fe)
	for _, c := range collections {
		if !contains(ttl, c) {
			t.Errorf("collection %s gets expire_at, but firestore.tf has no TTL policy for it", c)
		}
	}
}

// TestExamplesAreValid: the example tfvars name config files that exist,
// and the example masking config loads with the same loader the functions
// use. (The example policy is loaded by internal/policy, which links
// ZetaSQL; this package stays pure Go, so it only checks the file exists
// and has a version.)
func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	fileRE := regexp.MustCompile(`(?m)^(policy_file|masking_file)\s*=\s*"([^"]+)"`)
	for _, ex := range []string{"dev", "prod"} {
		src := readFile(t, filepath.Join("terraform", "examples", ex+".tfvars"))
		got := map[string]string{}
		for _, sm := range fileRE.FindAllSubmatch(src, -1) {
			got[string(sm[1])] = string(sm[2])
		}
		if len(got) != 2 {
			t.Fatalf("examples/%s.tfvars must set policy_file and masking_file, got %v", ex, got)
		}
		if _, err := deid.LoadConfig(readFile(t, filepath.Join("terraform", got["masking_file"]))); err != nil {
			t.Errorf("examples/%s.tfvars masking_file %s: %v", ex, got["masking_file"], err)
		}
		if pol := readFile(t, filepath.Join("terraform", got["policy_file"])); !bytes.Contains(pol, []byte("version: 1")) {
			t.Errorf("examples/%s.tfvars policy_file %s has no version: 1", ex, got["policy_file"])
		}
	}
}
