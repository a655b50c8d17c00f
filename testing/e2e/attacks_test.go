package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestAttackCrossProjectDefaultDataset reproduces issue 10's first finding
// through the local gateway: a default_dataset in another project used to
// switch off every project-less sensitive-column key, returning names and
// street addresses raw with no approval. It must be refused, and no raw
// value of the seeded customers may appear in the response.
func TestAttackCrossProjectDefaultDataset(t *testing.T) {
	g := startGateway(t, t.TempDir())
	defer g.Close()
	alice := token(t, g, "alice@example.com", "analysts")
	for _, ds := range []string{"other-proj.demo", "OTHER-PROJ.demo"} {
		body := `{"sql":"SELECT full_name, street_address, REPLACE(ssn, '-', ' / ') AS s FROM ` +
			"`querygate-local.demo.customers`" + ` LIMIT 5","default_dataset":"` + ds + `"}`
		r := do(t, "POST", g.URL+"/v1/queries", alice, []byte(body))
		if r.code != http.StatusForbidden {
			t.Fatalf("default_dataset %s: status %d, want 403: %s", ds, r.code, r.raw)
		}
		if r.body["status"] != "denied" || !strings.Contains(string(r.raw), "builtin.ungoverned_project") {
			t.Errorf("default_dataset %s: body %s, want denied by builtin.ungoverned_project", ds, r.raw)
		}
		if rows, ok := r.body["rows"].([]any); ok && len(rows) > 0 {
			t.Errorf("default_dataset %s: %d rows released", ds, len(rows))
		}
	}
	// The governed project, named explicitly, still masks.
	r := do(t, "POST", g.URL+"/v1/queries", alice, []byte(`{"sql":"SELECT full_name FROM demo.customers LIMIT 2","default_dataset":"querygate-local.demo"}`))
	if r.code != http.StatusOK {
		t.Fatalf("governed default_dataset: %d %s", r.code, r.raw)
	}
	masked, _ := r.body["masked_columns"].([]any)
	if len(masked) != 1 || masked[0] != "full_name" {
		t.Errorf("masked_columns = %v, want [full_name]", r.body["masked_columns"])
	}
}
