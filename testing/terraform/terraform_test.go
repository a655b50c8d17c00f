package terraform_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// pendingTargets are FUNCTION_TARGETs that terraform/ deploys but that
// functions/ does not register yet: the workflow calls notify, and approvers
// need approval. A service with an unregistered target fails to start, so
// docs/deploy.md lists them as a known gap. Remove a name here once its
// function is registered (the test says when).
var pendingTargets = map[string]bool{}

// pendingEnv are variables terraform/ sets for code that does not read them
// yet (see services.tf). Everything else a service sets must be an `env`
// tag of a config struct, so that a typo cannot pass silently. Remove a
// name once functions.Config reads it (the test says when).
var pendingEnv = map[string]bool{}

func TestRequiredEnvOfConfig(t *testing.T) {
	t.Parallel()
	want := []string{"QUERYGATE_PROJECT", "QUERYGATE_PUBLIC_URL", "QUERYGATE_AUDIENCE",
		"QUERYGATE_SELF_URL", "QUERYGATE_WORKFLOW_SA", "QUERYGATE_APPROVAL_SA"}
	if diff := cmp.Diff(want, requiredEnv(t)); diff != "" {
		t.Errorf("required variables of functions.Config changed; update terraform/services.tf and this list (-want, +got):\n%s", diff)
	}
	tags := envTags(t, "functions/config.go", "Config")
	for _, name := range want {
		if hasDefault, ok := tags[name]; !ok || hasDefault {
			t.Errorf("%s: want an env tag without a default on functions.Config (present %v, default %v)", name, ok, hasDefault)
		}
	}
}

// serviceEnv returns, per function, the env expressions its Cloud Run
// service sets, resolved from the dynamic "env" block of
// google_cloud_run_v2_service.fn.
func serviceEnv(t *testing.T, m *module) map[string]map[string]hclsyntax.Expression {
	t.Helper()
	svc := m.resource(t, "google_cloud_run_v2_service.fn")
	if got := traversalText(svc.Body.Attributes["for_each"].Expr.(hclsyntax.Expression)); got != "local.functions" {
		t.Fatalf("google_cloud_run_v2_service.fn for_each = %q, want local.functions", got)
	}
	containers := childBlock(t, childBlock(t, svc, "template"), "containers")
	var dyn *hclsyntax.Block
	static := map[string]hclsyntax.Expression{}
	for _, b := range containers.Body.Blocks {
		switch {
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "env":
			dyn = b
		case b.Type == "env":
			v, diags := b.Body.Attributes["name"].Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("static env block with a non-literal name")
			}
			static[v.AsString()] = b.Body.Attributes["value"].Expr
		}
	}
	if dyn == nil {
		t.Fatal(`google_cloud_run_v2_service.fn has no dynamic "env" block`)
	}
	content := childBlock(t, dyn, "content")
	if n, v := traversalText(content.Body.Attributes["name"].Expr), traversalText(content.Body.Attributes["value"].Expr); n != "env.key" || v != "env.value" {
		t.Fatalf(`dynamic "env" content sets name = %s, value = %s; want env.key, env.value`, n, v)
	}

	functions := m.local(t, "functions")
	names := strings_(t, "local.function_names", m.staticLocal(t, "function_names"))
	if diff := cmp.Diff(sortedCopy(names), sortedCopy(objectKeys(t, "local.functions", functions))); diff != "" {
		t.Fatalf("local.functions and local.function_names differ (-names, +functions):\n%s", diff)
	}
	out := map[string]map[string]hclsyntax.Expression{}
	for _, fn := range names {
		fnExpr := objectItem(t, "local.functions", functions, fn)
		env := m.envNames(t, dyn.Body.Attributes["for_each"].Expr, objectItem(t, "local.functions."+fn, fnExpr, "env"))
		for k, v := range static {
			env[k] = v
		}
		out[fn] = env
	}
	return out
}

func TestServicesSetConfigEnv(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	required := requiredEnv(t)
	config := envTags(t, "functions/config.go", "Config")
	inConfig := func(name string) bool { _, ok := config[name]; return ok }
	known := map[string]bool{"FUNCTION_TARGET": true}
	for _, src := range []struct{ file, typ string }{
		{"functions/config.go", "Config"},
		{"internal/mail/sender.go", "SMTPConfig"},
		{"internal/approval/approval.go", "Config"},
	} {
		for name := range envTags(t, src.file, src.typ) {
			known[name] = true
		}
	}
	registered := registeredTargets(t)
	functions := m.local(t, "functions")
	deployed := map[string]bool{}

	// Extra settings a function cannot work without, beyond Config.
	needs := map[string][]string{
		"intake":     {"QUERYGATE_OIDC_ISSUERS", "QUERYGATE_AUDITORS_GROUP", "QUERYGATE_GROUPS_SOURCE", "QUERYGATE_REIDENTIFY_GROUP", "QUERYGATE_POLICY_FILE", "QUERYGATE_MASKING_FILE", "QUERYGATE_DLP_INSPECT_TEMPLATE", "QUERYGATE_DLP_DEIDENTIFY_TEMPLATE"},
		"policy":     {"QUERYGATE_POLICY_FILE", "QUERYGATE_MASKING_FILE"},
		"execute":    {"QUERYGATE_POLICY_FILE", "QUERYGATE_MASKING_FILE", "QUERYGATE_RESULTS_DATASET"},
		"deidentify": {"QUERYGATE_POLICY_FILE", "QUERYGATE_MASKING_FILE", "QUERYGATE_RESULTS_DATASET", "QUERYGATE_DLP_INSPECT_TEMPLATE", "QUERYGATE_DLP_DEIDENTIFY_TEMPLATE"},
		"record":     {"QUERYGATE_POLICY_FILE", "QUERYGATE_MASKING_FILE"},
		"notify":     {"SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "PUBLIC_BASE_URL", "APPROVAL_KEY_SECRET"},
		"approval":   {"PUBLIC_BASE_URL", "APPROVAL_KEY_SECRET", "APPROVAL_CALLBACK_URL_PREFIXES"},
		"reconcile":  {"QUERYGATE_SCHEDULER_SA"}, // its only caller (reconcile.tf)
	}

	// The functions that get the config files mounted are the ones told
	// where they are.
	readers := strings_(t, "local.config_readers", m.staticLocal(t, "config_readers"))
	for fn, env := range serviceEnv(t, m) {
		if _, set := env["QUERYGATE_POLICY_FILE"]; set != contains(readers, fn) {
			t.Errorf("service %s: sets QUERYGATE_POLICY_FILE %v, in local.config_readers (mounts the file) %v", fn, set, contains(readers, fn))
		}
	}
	for _, name := range []string{"policy", "masking"} {
		if got, want := m.text(m.local(t, "config_env")), "/etc/querygate/"+name+"/"+name+".yaml"; !strings.Contains(got, want) {
			t.Errorf("local.config_env does not point at %s, where volume_mounts puts the %s file", want, name)
		}
	}

	for fn, env := range serviceEnv(t, m) {
		for _, name := range append(append([]string{"FUNCTION_TARGET"}, required...), needs[fn]...) {
			if _, ok := env[name]; !ok {
				t.Errorf("service %s does not set %s", fn, name)
			}
		}
		for name := range env {
			switch {
			case pendingEnv[name] && inConfig(name):
				t.Errorf("functions.Config reads %s now: remove it from pendingEnv", name)
			case pendingEnv[name]:
			case strings.HasPrefix(name, "QUERYGATE_") && !inConfig(name):
				t.Errorf("service %s sets %s, which functions.Config does not read (typo?)", fn, name)
			case !known[name]:
				t.Errorf("service %s sets %s, which no config struct reads (typo?)", fn, name)
			}
		}
		if got := m.text(env["QUERYGATE_SELF_URL"]); got != "local.urls[each.key]" {
			t.Errorf("service %s: QUERYGATE_SELF_URL = %s, want local.urls[each.key] (the URL the workflow calls)", fn, got)
		}
		// Values that must name what this module (or firestore.tf and
		// audit.tf) creates: a literal would drift from it silently, and
		// functions.Config's defaults differ (its audit table default is
		// session_events, audit.tf's is events).
		for name, want := range map[string]string{
			"QUERYGATE_WORKFLOW_SA":        `google_service_account.sa["workflow"].email`,
			"QUERYGATE_APPROVAL_SA":        `google_service_account.sa["approval"].email`,
			"QUERYGATE_FIRESTORE_DATABASE": "google_firestore_database.sessions.name",
			"QUERYGATE_AUDIT_DATASET":      "google_bigquery_dataset.audit.dataset_id",
			"QUERYGATE_AUDIT_TABLE":        "google_bigquery_table.audit_events.table_id",
			"QUERYGATE_WORKFLOW":           "google_workflows_workflow.query_session.name",
			"QUERYGATE_PROJECT":            "var.project_id",
			"QUERYGATE_RESULTS_DATASET":    "google_bigquery_dataset.results.dataset_id",
			"QUERYGATE_DATA_PROJECT":       "local.data_project",
		} {
			if e, ok := env[name]; !ok || m.text(e) != want {
				t.Errorf("service %s: %s = %s, want %s", fn, name, textOr(m, e), want)
			}
		}
		if got := m.text(env["FUNCTION_TARGET"]); got != "each.value.target" {
			t.Errorf("service %s: FUNCTION_TARGET = %s, want each.value.target", fn, got)
		}
		v, diags := objectItem(t, "local.functions."+fn, objectItem(t, "local.functions", functions, fn), "target").Value(nil)
		if diags.HasErrors() || v.Type() != cty.String {
			t.Fatalf("local.functions.%s.target is not a literal", fn)
		}
		target := v.AsString()
		deployed[target] = true
		switch {
		case registered[target] && pendingTargets[target]:
			t.Errorf("%s is registered in functions/ now: remove it from pendingTargets and the known gaps in docs/deploy.md", target)
		case !registered[target] && !pendingTargets[target]:
			t.Errorf("service %s runs FUNCTION_TARGET %s, which functions/ does not register", fn, target)
		}
	}
	for target := range registered {
		if !deployed[target] {
			t.Errorf("function %s is registered in functions/ but terraform/ deploys no service for it", target)
		}
	}
}

func TestWorkflowGetsEveryURLItReads(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	yaml := readFile(t, "workflows/query_session.yaml")
	read := map[string]bool{}
	for _, sm := range regexp.MustCompile(`sys\.get_env\(\s*"([^"]+)"\s*\)`).FindAllSubmatch(yaml, -1) {
		read[string(sm[1])] = true
	}
	wantRead := []string{"QUERYGATE_DEIDENTIFY_URL", "QUERYGATE_EXECUTE_URL", "QUERYGATE_NOTIFY_URL", "QUERYGATE_POLICY_URL", "QUERYGATE_RECORD_URL"}
	if diff := cmp.Diff(wantRead, sorted(read)); diff != "" {
		t.Errorf("variables workflows/query_session.yaml reads changed; update terraform/workflow.tf and this list (-want, +got):\n%s", diff)
	}

	wf := m.resource(t, "google_workflows_workflow.query_session")
	src := m.text(wf.Body.Attributes["source_contents"].Expr)
	if !strings.Contains(src, "file(") || !strings.Contains(src, "../workflows/query_session.yaml") {
		t.Errorf("source_contents = %s, want file() of ../workflows/query_session.yaml", src)
	}
	if got := m.text(wf.Body.Attributes["service_account"].Expr); !strings.Contains(got, `google_service_account.sa["workflow"]`) {
		t.Errorf("workflow service_account = %s, want the workflow's own service account", got)
	}

	uev := wf.Body.Attributes["user_env_vars"].Expr
	got := map[string]string{}
	for _, k := range objectKeys(t, "user_env_vars", uev) {
		got[k] = m.text(objectItem(t, "user_env_vars", uev, k))
	}
	want := map[string]string{
		"QUERYGATE_POLICY_URL":     `local.urls["policy"]`,
		"QUERYGATE_NOTIFY_URL":     `local.urls["notify"]`,
		"QUERYGATE_EXECUTE_URL":    `local.urls["execute"]`,
		"QUERYGATE_DEIDENTIFY_URL": `local.urls["deidentify"]`,
		"QUERYGATE_RECORD_URL":     `local.urls["record"]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workflow user_env_vars (-want, +got):\n%s", diff)
	}
	for name := range read {
		if _, ok := got[name]; !ok {
			t.Errorf("the workflow reads %s but user_env_vars does not set it", name)
		}
	}

	// The URL scheme must be the deterministic run.app URL of the service
	// the resource names, since QUERYGATE_SELF_URL and the workflow's token
	// audience are both this string.
	urls := m.text(m.local(t, "urls"))
	if !strings.Contains(urls, `https://${var.name_prefix}-${f}-${data.google_project.this.number}.${var.region}.run.app`) {
		t.Errorf("local.urls = %s, want the deterministic run.app URL of each service", urls)
	}
	if name := m.text(m.resource(t, "google_cloud_run_v2_service.fn").Body.Attributes["name"].Expr); name != `"${var.name_prefix}-${each.key}"` {
		t.Errorf("service name = %s, want \"${var.name_prefix}-${each.key}\" (local.urls assumes it)", name)
	}
}

func TestStepServicesAreNotPublic(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	steps := strings_(t, "local.step_functions", m.staticLocal(t, "step_functions"))
	public := strings_(t, "local.public_functions", m.staticLocal(t, "public_functions"))
	if diff := cmp.Diff([]string{"deidentify", "execute", "notify", "policy", "record"}, sortedCopy(steps)); diff != "" {
		t.Errorf("local.step_functions (-want, +got):\n%s", diff)
	}
	for _, p := range public {
		if p != "intake" && p != "approval" && p != "sessions" {
			t.Errorf("local.public_functions holds %s; only intake, sessions and approval may be public", p)
		}
		if contains(steps, p) {
			t.Errorf("%s is both a step and public", p)
		}
	}

	functions := m.local(t, "functions")
	for _, fn := range steps {
		v, diags := objectItem(t, "local.functions."+fn, objectItem(t, "local.functions", functions, fn), "ingress").Value(nil)
		if diags.HasErrors() || v.Type() != cty.String || v.AsString() != "INGRESS_TRAFFIC_INTERNAL_ONLY" {
			t.Errorf("step %s: ingress = %s, want \"INGRESS_TRAFFIC_INTERNAL_ONLY\"", fn, m.text(objectItem(t, "local.functions."+fn, objectItem(t, "local.functions", functions, fn), "ingress")))
		}
	}

	sawWorkflowInvoker := false
	for key, b := range m.resources {
		if !strings.Contains(b.Labels[0], "_iam_") {
			continue
		}
		member := ""
		for _, attr := range []string{"member", "members"} {
			if a, ok := b.Body.Attributes[attr]; ok {
				member += m.text(a.Expr)
			}
		}
		forEach := ""
		if a, ok := b.Body.Attributes["for_each"]; ok {
			forEach = m.text(a.Expr)
		}
		if strings.Contains(member, "allUsers") || strings.Contains(member, "allAuthenticatedUsers") {
			if b.Labels[0] != "google_cloud_run_v2_service_iam_member" || forEach != "toset(local.public_functions)" {
				t.Errorf("%s grants %s; only google_cloud_run_v2_service_iam_member over toset(local.public_functions) may", key, member)
			}
		}
		if strings.HasPrefix(b.Labels[0], "google_cloud_run_v2_service_iam_") {
			if b.Labels[0] != "google_cloud_run_v2_service_iam_member" {
				t.Errorf("%s: use _iam_member (additive), not %s", key, b.Labels[0])
			}
			if got := m.text(b.Body.Attributes["name"].Expr); got != "google_cloud_run_v2_service.fn[each.key].name" {
				t.Errorf("%s: name = %s, want google_cloud_run_v2_service.fn[each.key].name", key, got)
			}
			switch forEach {
			case "toset(local.public_functions)":
			case "toset(local.step_functions)":
				sawWorkflowInvoker = true
				if member != `"serviceAccount:${google_service_account.sa["workflow"].email}"` {
					t.Errorf("%s: the steps' invoker is %s, want only the workflow's service account", key, member)
				}
				if role := m.text(b.Body.Attributes["role"].Expr); role != `"roles/run.invoker"` {
					t.Errorf("%s: role %s, want roles/run.invoker", key, role)
				}
			case "toset(local.scheduled_functions)":
				// reconcile.tf: Cloud Scheduler's account, and only it.
				if member != `"serviceAccount:${google_service_account.reconcile_scheduler.email}"` {
					t.Errorf("%s: the scheduled functions' invoker is %s, want only the scheduler's service account", key, member)
				}
				if role := m.text(b.Body.Attributes["role"].Expr); role != `"roles/run.invoker"` {
					t.Errorf("%s: role %s, want roles/run.invoker", key, role)
				}
			default:
				t.Errorf("%s: for_each = %s, want toset(local.public_functions), toset(local.step_functions) or toset(local.scheduled_functions)", key, forEach)
			}
		}
	}
	if !sawWorkflowInvoker {
		t.Error("no google_cloud_run_v2_service_iam_member lets the workflow invoke the steps")
	}
}

// forbiddenRoles are roles no querygate identity may hold: basic roles,
// BigQuery admin, and impersonation of other service accounts. The one
// exception is tokenGrants.
var forbiddenRoles = map[string]bool{
	"roles/owner": true, "roles/editor": true, "roles/viewer": true, "roles/bigquery.admin": true,
	"roles/iam.serviceAccountUser": true, "roles/iam.serviceAccountTokenCreator": true,
}

// tokenGrants are the only grants of a token-minting role: Google's BigQuery
// Data Transfer Service agent runs the daily audit anchor as its own
// account (terraform/audit_anchor.tf), on that account only.
var tokenGrants = map[string]string{
	"google_service_account_iam_member.audit_anchor_dts_token": "google_service_account.audit_anchor.name",
}

// customPermissions are the only permissions querygate's custom roles may
// hold, each narrower than the predefined role that contains it.
var customPermissions = map[string]bool{
	"bigquery.jobs.get":           true, // deidentify reads execute's job
	"bigquery.tables.delete":      true, // record deletes result tables (results dataset only)
	"workflows.executions.create": true, // intake starts a session's execution
	"workflows.executions.get":    true, // intake reads its state
	"workflows.callbacks.send":    true, // approval delivers the decision
	"bigquery.tables.get":         true, // audit writers: insertAll's table
	"bigquery.tables.getData":     true, // audit writers read stored rows; policy's dry run and profile sample
	"bigquery.tables.updateData":  true, // audit writers append (insertAll)
	"bigquery.tables.list":        true, // policy lists a wildcard table's members (allowed datasets only)
	"bigquery.routines.get":       true, // policy's dry run of a query calling a persistent UDF
	"dlp.deidentifyTemplates.get": true, // policy, deidentify and intake use the templates
	"dlp.inspectTemplates.get":    true,
}

// customRoles are the exact permissions of each custom role. The audit
// appender above all must never gain tables.delete, tables.update or
// tables.create (finding 9).
var customRoles = map[string][]string{
	"job_reader":          {"bigquery.jobs.get"},
	"execution_starter":   {"workflows.executions.create", "workflows.executions.get"},
	"execution_reader":    {"workflows.executions.get"}, // reconcile.tf
	"callback_sender":     {"workflows.callbacks.send"},
	"audit_appender":      {"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"},
	"dlp_template_reader": {"dlp.deidentifyTemplates.get", "dlp.inspectTemplates.get"},
	"results_cleaner":     {"bigquery.tables.delete", "bigquery.tables.get"},
	"table_reader":        {"bigquery.routines.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.list"},
}

func TestNoBroadRoles(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	type grant struct{ resource, role string }
	var grants []grant
	for key, b := range m.resources {
		typ := b.Labels[0]
		if !strings.Contains(typ, "_iam_") || typ == "google_project_iam_custom_role" {
			continue
		}
		if strings.HasSuffix(typ, "_iam_policy") || strings.HasSuffix(typ, "_iam_binding") {
			t.Errorf("%s is authoritative (%s): it would remove grants made outside querygate; use _iam_member", key, typ)
		}
		a, ok := b.Body.Attributes["role"]
		if !ok {
			t.Errorf("%s has no role", key)
			continue
		}
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
			grants = append(grants, grant{key, v.AsString()})
			continue
		}
		text := m.text(a.Expr)
		switch {
		case text == "each.value.role":
			fe := b.Body.Attributes["for_each"].Expr
			var local string
			for _, tr := range fe.Variables() {
				if tr.RootName() == "local" && len(tr) > 1 {
					if ta, ok := tr[1].(hcl.TraverseAttr); ok {
						local = ta.Name
					}
				}
			}
			if local == "" {
				t.Errorf("%s: role = each.value.role over %s, which is not a local list", key, m.text(fe))
				continue
			}
			v := m.staticLocal(t, local)
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if !e.Type().IsObjectType() || !e.Type().HasAttribute("role") {
					t.Fatalf("local.%s: every entry needs a role", local)
				}
				grants = append(grants, grant{key, e.GetAttr("role").AsString()})
			}
		case strings.HasPrefix(text, "google_project_iam_custom_role."):
			name := strings.Split(text, ".")[1]
			cr := m.resource(t, "google_project_iam_custom_role."+name)
			perms, diags := cr.Body.Attributes["permissions"].Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("custom role %s: permissions must be a literal list", name)
			}
			for _, p := range strings_(t, "permissions of "+name, perms) {
				if !customPermissions[p] {
					t.Errorf("custom role %s grants %s, which is not in customPermissions", name, p)
				}
			}
			grants = append(grants, grant{key, "custom:" + name})
		default:
			t.Errorf("%s: role = %s cannot be resolved statically; use a literal or each.value.role over a literal local", key, text)
		}
	}
	if len(grants) < 15 {
		t.Fatalf("found only %d grants; the test is not seeing the IAM resources: %v", len(grants), grants)
	}
	for _, g := range grants {
		if want, ok := tokenGrants[g.resource]; ok && g.role == "roles/iam.serviceAccountTokenCreator" {
			b := m.resource(t, g.resource)
			if got := m.text(b.Body.Attributes["service_account_id"].Expr); got != want {
				t.Errorf("%s grants token creation on %s, want only %s", g.resource, got, want)
			}
			if got := m.text(b.Body.Attributes["member"].Expr); !strings.Contains(got, "@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com") {
				t.Errorf("%s grants token creation to %s, want only the Data Transfer Service agent", g.resource, got)
			}
			continue
		}
		if forbiddenRoles[g.role] || strings.Contains(strings.ToLower(g.role), "admin") {
			t.Errorf("%s grants %s", g.resource, g.role)
		}
	}
	gotRoles := map[string][]string{}
	for key, b := range m.resources {
		if b.Labels[0] != "google_project_iam_custom_role" {
			continue
		}
		perms, diags := b.Body.Attributes["permissions"].Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("%s: permissions must be a literal list", key)
		}
		gotRoles[b.Labels[1]] = sortedCopy(strings_(t, key, perms))
	}
	if diff := cmp.Diff(customRoles, gotRoles); diff != "" {
		t.Errorf("custom roles and their permissions (-want, +got):\n%s", diff)
	}

	// Project-wide predefined roles per identity. The workflow's own
	// identity gets run.invoker on the steps (TestStepServicesAreNotPublic)
	// and logging, nothing that reaches data. A change here is a change of
	// the security design: update docs/deploy.md with it.
	wantProject := map[string][]string{
		"intake":     {"roles/datastore.user", "roles/dlp.user"},
		"policy":     {"roles/bigquery.jobUser", "roles/datastore.user", "roles/dlp.user"},
		"notify":     {"roles/datastore.user"},
		"execute":    {"roles/bigquery.jobUser", "roles/datastore.user"},
		"deidentify": {"roles/datastore.user", "roles/dlp.user"},
		"record":     {"roles/bigquery.jobUser", "roles/datastore.user"},
		"approval":   {"roles/datastore.user"},
		"sessions":   {"roles/datastore.user"},
		"workflow":   {"roles/logging.logWriter"},
	}
	gotProject := map[string][]string{}
	bindings := m.staticLocal(t, "project_bindings")
	for it := bindings.ElementIterator(); it.Next(); {
		_, e := it.Element()
		sa := e.GetAttr("sa").AsString()
		gotProject[sa] = append(gotProject[sa], e.GetAttr("role").AsString())
	}
	for sa := range gotProject {
		sort.Strings(gotProject[sa])
	}
	if diff := cmp.Diff(wantProject, gotProject); diff != "" {
		t.Errorf("project roles per service account, local.project_bindings (-want, +got):\n%s", diff)
	}
	// Only execute reads agents' data.
	for _, key := range []string{"google_bigquery_dataset_iam_member.execute_read"} {
		if got := m.text(m.resource(t, key).Body.Attributes["member"].Expr); !strings.Contains(got, `sa["execute"]`) {
			t.Errorf("%s member = %s, want the execute service account", key, got)
		}
	}
	for key, b := range m.resources {
		if b.Labels[0] != "google_bigquery_dataset_iam_member" {
			continue
		}
		role := m.text(b.Body.Attributes["role"].Expr)
		ds := m.text(b.Body.Attributes["dataset_id"].Expr)
		if role == `"roles/bigquery.dataViewer"` && ds == "each.key" && !strings.Contains(m.text(b.Body.Attributes["member"].Expr), `sa["execute"]`) {
			t.Errorf("%s gives data access on the allowed datasets to someone other than execute", key)
		}
	}
}

func TestTerraformFmt(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH: skipping terraform fmt -check")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "fmt", "-check", "-recursive", "-diff", "-no-color", filepath.Join(root, "terraform")).CombinedOutput()
	if err != nil {
		t.Errorf("terraform fmt -check -recursive terraform: %v\n%s", err, out)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func textOr(m *module, e hclsyntax.Expression) string {
	if e == nil {
		return "<unset>"
	}
	return m.text(e)
}

// TestInputsAndOutputsAreDocumented checks what tflint's
// terraform_documented_variables, terraform_typed_variables and
// terraform_documented_outputs rules check, since tflint is not part of the
// test run.
func TestInputsAndOutputsAreDocumented(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	if len(m.variables) < 10 {
		t.Fatalf("found %d variables; the test is not seeing variables.tf", len(m.variables))
	}
	for name, b := range m.variables {
		for _, attr := range []string{"description", "type"} {
			if _, ok := b.Body.Attributes[attr]; !ok {
				t.Errorf("variable %s has no %s", name, attr)
			}
		}
	}
	for _, bs := range m.outputs {
		if _, ok := bs.Body.Attributes["description"]; !ok {
			t.Errorf("output %s has no description", bs.Labels[0])
		}
	}
	if len(m.outputs) == 0 {
		t.Error("terraform/ declares no outputs")
	}
}
