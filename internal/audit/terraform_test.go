package audit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// TestTerraformTableMatchesSchema parses terraform/audit.tf and checks that
// the table Terraform creates has Schema(), day partitioning on
// PartitionField and ClusteringFields.
func TestTerraformTableMatchesSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "terraform", "audit.tf")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var table *hclsyntax.Block
	for _, b := range file.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == "google_bigquery_table" && b.Labels[1] == "audit_events" {
			table = b
		}
	}
	if table == nil {
		t.Fatal(`no resource "google_bigquery_table" "audit_events" in audit.tf`)
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}}
	eval := func(name string) cty.Value {
		t.Helper()
		attr, ok := table.Body.Attributes[name]
		if !ok {
			t.Fatalf("audit_events has no %s", name)
		}
		v, diags := attr.Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", name, diags)
		}
		return v
	}

	type column struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Mode        string `json:"mode"`
		Description string `json:"description"`
	}
	var got []column
	if err := json.Unmarshal([]byte(eval("schema").AsString()), &got); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	var want []column
	for _, f := range Schema() {
		mode := "NULLABLE"
		if f.Required {
			mode = "REQUIRED"
		}
		want = append(want, column{f.Name, string(f.Type), mode, f.Description})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("terraform/audit.tf schema differs from audit.Schema() (-want, +got):\n%s", diff)
	}

	var clustering []string
	for _, v := range eval("clustering").AsValueSlice() {
		clustering = append(clustering, v.AsString())
	}
	if diff := cmp.Diff(ClusteringFields, clustering); diff != "" {
		t.Errorf("clustering (-want, +got):\n%s", diff)
	}

	var part *hclsyntax.Block
	for _, b := range table.Body.Blocks {
		if b.Type == "time_partitioning" {
			part = b
		}
	}
	if part == nil {
		t.Fatal("audit_events has no time_partitioning")
	}
	for name, want := range map[string]string{"type": string(bigquery.DayPartitioningType), "field": PartitionField} {
		v, diags := part.Body.Attributes[name].Expr.Value(ctx)
		if diags.HasErrors() || v.AsString() != want {
			t.Errorf("time_partitioning.%s = %#v, want %q", name, v, want)
		}
	}
}
