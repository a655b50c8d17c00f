package session_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestTerraformFirestoreIndexes checks terraform/firestore.tf declares the
// composite indexes Firestore.List needs (the emulator does not require
// indexes, so a missing one would only fail in the cloud) and a TTL policy
// on expire_at for every collection group a session writes.
func TestTerraformFirestoreIndexes(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "terraform", "firestore.tf")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	str := func(b *hclsyntax.Body, name string) string {
		a, ok := b.Attributes[name]
		if !ok {
			return ""
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String {
			return "<not a literal>"
		}
		return v.AsString()
	}

	var indexes []string // "collection: field op, field op"
	ttl := map[string]bool{}
	for _, b := range file.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "resource" || len(b.Labels) != 2 {
			continue
		}
		switch b.Labels[0] {
		case "google_firestore_index":
			var fields []string
			for _, f := range b.Body.Blocks {
				if f.Type == "fields" {
					fields = append(fields, str(f.Body, "field_path")+" "+str(f.Body, "order")+str(f.Body, "array_config"))
				}
			}
			indexes = append(indexes, str(b.Body, "collection")+": "+strings.Join(fields, ", "))
		case "google_firestore_field":
			if str(b.Body, "field") != "expire_at" || !slices.ContainsFunc(b.Body.Blocks, func(x *hclsyntax.Block) bool { return x.Type == "ttl_config" }) {
				continue
			}
			// for_each = toset([...]) names the collections.
			fe, ok := b.Body.Attributes["for_each"]
			if !ok {
				ttl[str(b.Body, "collection")] = true
				continue
			}
			v, diags := fe.Expr.Value(&hcl.EvalContext{Functions: nil})
			if diags.HasErrors() {
				// toset() is not evaluable without Terraform's functions:
				// read the list literal inside it.
				call, ok := fe.Expr.(*hclsyntax.FunctionCallExpr)
				if !ok || call.Name != "toset" || len(call.Args) != 1 {
					t.Fatalf("expire_at for_each: %v", diags)
				}
				if v, diags = call.Args[0].Value(nil); diags.HasErrors() {
					t.Fatalf("expire_at for_each: %v", diags)
				}
			}
			for _, c := range v.AsValueSlice() {
				ttl[c.AsString()] = true
			}
		}
	}

	// The filters Firestore.List combines, in the order it adds them, and
	// the sort it always applies.
	want := []string{
		"sessions: readers CONTAINS, sort_key DESCENDING",
		"sessions: conversation_id ASCENDING, sort_key DESCENDING",
		"sessions: readers CONTAINS, conversation_id ASCENDING, sort_key DESCENDING",
	}
	for _, w := range want {
		if !slices.Contains(indexes, w) {
			t.Errorf("firestore.tf lacks index %q; has %q", w, indexes)
		}
	}
	for _, c := range []string{"sessions", "events", "pages", "versions", "limit_counters", "limit_charges"} {
		if !ttl[c] {
			t.Errorf("firestore.tf has no TTL policy on %s.expire_at", c)
		}
	}
}
