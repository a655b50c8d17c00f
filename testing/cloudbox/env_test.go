package cloudbox

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// boxVars are the variables of the box's "tfvars": what terraform/ needs
// without a default, and what points notify at the SMTP sink and intake at
// the test issuer. Paths and ports are filled in by the caller.
func boxVars(smtpPort int, issuer, audience, policyFile, maskingFile string) map[string]cty.Value {
	return map[string]cty.Value{
		"project_id":         cty.StringVal(boxProject),
		"image":              cty.StringVal("querygate-functions:box"),
		"smtp_host":          cty.StringVal("127.0.0.1"),
		"smtp_port":          cty.NumberIntVal(int64(smtpPort)),
		"smtp_from":          cty.StringVal("querygate <querygate@box.test>"),
		"policy_file":        cty.StringVal(policyFile),
		"masking_file":       cty.StringVal(maskingFile),
		"extra_oidc_issuers": cty.ListVal([]cty.Value{cty.StringVal(issuer + "|" + audience)}),
		"issuer_rules":       cty.ListVal([]cty.Value{cty.StringVal(issuer + "|claim=groups")}),
		"group_aliases":      cty.MapVal(map[string]cty.Value{"approvers": cty.StringVal(approversGroupEmail)}),
		// The box sends the masking file inline: with DLP templates the
		// functions would name templates that Terraform creates and the
		// DLP fake would have to hold. The adapter's use of templates by
		// name is tested against the fake by internal/deid
		// (TestDLPUsesTemplatesByName) and functions
		// (TestCloudDLPUsesTemplates).
		"dlp_templates": cty.False,
	}
}

const (
	// The default policy (internal/policy/default.yaml) names
	// querygate-local as its default project, so the box's project is
	// that one: the demo dataset lives there in the BigQuery emulator.
	boxProject          = "querygate-local"
	approversGroupEmail = "approvers@box.test"
)

// TestTerraformEnvResolves checks the evaluation itself, without starting
// anything: every function gets its FUNCTION_TARGET and its run.app URL,
// and the workflow calls exactly the URLs the steps take as their own.
func TestTerraformEnvResolves(t *testing.T) {
	t.Parallel()
	env := terraformEnv(t, "../../terraform", boxVars(2525, "https://127.0.0.1:1/agents", "box-agents", "/p.yaml", "/m.yaml"))
	want := map[string]string{"intake": "Intake", "sessions": "Sessions", "policy": "Policy", "notify": "Notify",
		"execute": "Execute", "deidentify": "Deidentify", "record": "Record", "approval": "Approval", "reconcile": "Reconcile"}
	if len(env.functions) != len(want) {
		t.Errorf("functions %v, want %d", sortedKeys(env.functions), len(want))
	}
	for fn, target := range want {
		e := env.functions[fn]
		if e["FUNCTION_TARGET"] != target {
			t.Errorf("%s: FUNCTION_TARGET = %q, want %q", fn, e["FUNCTION_TARGET"], target)
		}
		if got, wantURL := e["QUERYGATE_SELF_URL"], "https://querygate-"+fn+"-"+testProjectNumber+".us-central1.run.app"; got != wantURL {
			t.Errorf("%s: QUERYGATE_SELF_URL = %q, want %q", fn, got, wantURL)
		}
		if e["QUERYGATE_PROJECT"] != boxProject || e["QUERYGATE_WORKFLOW_SA"] != "qg-workflow@"+boxProject+".iam.gserviceaccount.com" {
			t.Errorf("%s: project %q, workflow SA %q", fn, e["QUERYGATE_PROJECT"], e["QUERYGATE_WORKFLOW_SA"])
		}
	}
	if got := env.functions["intake"]["QUERYGATE_OIDC_ISSUERS"]; got != "https://127.0.0.1:1/agents|box-agents" {
		t.Errorf("intake QUERYGATE_OIDC_ISSUERS = %q", got)
	}
	if got := env.functions["notify"]["APPROVAL_KEY_SECRET"]; got != "projects/"+boxProject+"/secrets/querygate-approval-link-key" {
		t.Errorf("notify APPROVAL_KEY_SECRET = %q", got)
	}
	for _, step := range []string{"policy", "notify", "execute", "deidentify", "record"} {
		name := "QUERYGATE_" + strings.ToUpper(step) + "_URL"
		if env.workflow[name] != env.functions[step]["QUERYGATE_SELF_URL"] {
			t.Errorf("workflow %s = %q, want %s's QUERYGATE_SELF_URL %q", name, env.workflow[name], step, env.functions[step]["QUERYGATE_SELF_URL"])
		}
	}
	// The emulator endpoints turn off TLS and credentials: production
	// never sets them (functions/endpoints.go).
	for fn, e := range env.functions {
		for _, name := range []string{"QUERYGATE_BIGQUERY_ENDPOINT", "QUERYGATE_DLP_ENDPOINT", "QUERYGATE_WORKFLOWS_ENDPOINT",
			"QUERYGATE_SECRETMANAGER_ENDPOINT", "QUERYGATE_CLOUDIDENTITY_ENDPOINT", "QUERYGATE_GOOGLE_CERTS_URL", "FIRESTORE_EMULATOR_HOST"} {
			if _, ok := e[name]; ok {
				t.Errorf("terraform/ sets %s on %s; it is for emulators and tests only", name, fn)
			}
		}
	}
	if env.configFiles["policy"] != "/p.yaml" || env.configFiles["masking"] != "/m.yaml" {
		t.Errorf("config files %v", env.configFiles)
	}
}
