package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/bigquery-emulator/types"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/classify"
)

// TestPolicyClassify runs `querygate policy classify` against the emulator
// on an unlisted table (profile source) and on demo.customers (file
// source), in JSON and as text.
func TestPolicyClassify(t *testing.T) {
	ctx := context.Background()
	tbl := &types.Table{ID: "people", Columns: []*types.Column{
		{Name: "contact", Type: types.STRING, Mode: types.NullableMode},
		{Name: "region", Type: types.STRING, Mode: types.NullableMode},
	}}
	for i := 0; i < 10; i++ {
		contact := fmt.Sprintf("person%02d@example.org", i)
		if i >= 8 {
			contact = "unknown"
		}
		tbl.Data = append(tbl.Data, map[string]any{"contact": contact, "region": "north"})
	}
	p := bqlocal.DemoProject("querygate-local")
	p.Datasets = append(p.Datasets, &types.Dataset{ID: "crm", Tables: []*types.Table{tbl}})
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: "querygate-local", Projects: []*types.Project{p}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var out, errOut bytes.Buffer
	if err := runPolicy(ctx, []string{"classify", "crm.people", "--json", "--bigquery-endpoint", srv.Endpoint()}, &out, &errOut); err != nil {
		t.Fatalf("classify: %v: %s", err, errOut.String())
	}
	var r classify.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON: %v: %s", err, out.String())
	}
	want := []classify.ColumnReport{
		{Name: "contact", Type: "STRING", InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, NonNull: 10,
			Matches: map[string]int64{"EMAIL_ADDRESS": 8}, Share: 0.8},
		{Name: "region", Type: "STRING", InfoTypes: []string{}, Sources: []string{}, NonNull: 10},
	}
	if diff := cmp.Diff(want, r.Columns); diff != "" {
		t.Errorf("columns (-want, +got):\n%s", diff)
	}
	if r.Table != "querygate-local.crm.people" || r.SampledRows != 10 || !r.EngineProfiles {
		t.Errorf("report = %s, %d rows, engine profiles %v", r.Table, r.SampledRows, r.EngineProfiles)
	}
	if strings.Contains(out.String(), "person0") {
		t.Error("the report quotes a sampled value")
	}

	out.Reset()
	if err := runPolicy(ctx, []string{"classify", "--bigquery-endpoint", srv.Endpoint(), "demo.customers"}, &out, &errOut); err != nil {
		t.Fatalf("classify demo.customers: %v: %s", err, errOut.String())
	}
	text := out.String()
	for _, want := range []string{"table: querygate-local.demo.customers", "note: the policy engine does not use this profile", "EMAIL_ADDRESS"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	var emailLine string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "email ") {
			emailLine = l
		}
	}
	if !strings.Contains(emailLine, "file,profile") {
		t.Errorf("email line %q does not name both sources", emailLine)
	}

	if err := runPolicy(ctx, []string{"classify", "not-a-table"}, &out, &errOut); err == nil {
		t.Error("classify of a one-part name succeeded")
	}
}
