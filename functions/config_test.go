package functions

import (
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/config"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	full := map[string]string{"QUERYGATE_PROJECT": "p", "QUERYGATE_PUBLIC_URL": "https://qg.example", "QUERYGATE_AUDIENCE": "https://qg.example",
		"QUERYGATE_SELF_URL": "https://policy.run.app", "QUERYGATE_WORKFLOW_SA": "wf@p.iam.gserviceaccount.com", "QUERYGATE_APPROVAL_SA": "ap@p.iam.gserviceaccount.com"}
	var ok Config
	if err := config.Process(config.MapLookuper(full), &ok); err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("complete config: %v", err)
	}
	if ok.MaxRows != 10000 || ok.GroupsSource != "claims" || ok.AuditTable != "session_events" ||
		ok.Analyzer != "process" || ok.AnalyzerWorkers != 1 || ok.AnalyzerMaxAnalyses != 1000 || ok.AnalyzerTimeout.String() != "10s" {
		t.Errorf("defaults not applied: %+v", ok)
	}
	var empty Config
	_ = config.Process(config.MapLookuper(map[string]string{"QUERYGATE_GROUPS_SOURCE": "ldap", "QUERYGATE_OIDC_ISSUERS": "http://x|a",
		"QUERYGATE_ISSUER_RULES": "https://gh.example|colour=blue", "QUERYGATE_ANALYZER": "remote", "QUERYGATE_ANALYZER_TIMEOUT": "0s"}), &empty)
	err := empty.Validate()
	for _, want := range []string{"QUERYGATE_PROJECT is required", "QUERYGATE_SELF_URL is required", "QUERYGATE_GROUPS_SOURCE", "QUERYGATE_OIDC_ISSUERS",
		"QUERYGATE_ISSUER_RULES: issuer rules https://gh.example: unknown key", "QUERYGATE_ANALYZER must be process or in-process", "QUERYGATE_ANALYZER_TIMEOUT must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
