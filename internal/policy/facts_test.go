package policy_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// TestDecisionColumnFacts checks the per-column facts a decision carries
// (issue 11 item 4): each output column's sources, infoTypes, whether it is
// derived, and where each sensitive source's classification came from: the
// policy file for demo.customers.email, a profile with its counts for the
// unlisted demo.orders.notes, nothing for a harmless column. The profile
// does not override the file for a column the file lists.
func TestDecisionColumnFacts(t *testing.T) {
	t.Parallel()
	prof := func(_ context.Context, ref sqlscan.TableRef) (map[string]policy.ProfiledColumn, error) {
		switch ref.Table {
		case "orders":
			return map[string]policy.ProfiledColumn{"notes": {InfoTypes: []string{"PHONE_NUMBER"}, SampledRows: 1000, NonNull: 800, Matches: 120}}, nil
		case "customers":
			return map[string]policy.ProfiledColumn{"email": {InfoTypes: []string{"PERSON_NAME"}, SampledRows: 10, NonNull: 10, Matches: 10}}, nil
		}
		return nil, nil
	}
	e := demoEngine(nil, policy.WithColumnProfiler(prof, 0))
	d, err := e.Evaluate(context.Background(), analyst(
		"SELECT c.email, UPPER(o.notes) AS loud, o.amount FROM demo.customers AS c JOIN demo.orders AS o USING (customer_id)"))
	if err != nil {
		t.Fatal(err)
	}
	ref := func(table, col string) sqlscan.ColumnRef {
		return sqlscan.ColumnRef{Table: sqlscan.TableRef{Project: "querygate-local", Dataset: "demo", Table: table}, Column: col}
	}
	want := []policy.ColumnFacts{
		{Name: "email", Index: 0, Lineage: []sqlscan.ColumnRef{ref("customers", "email")}, InfoTypes: []string{"EMAIL_ADDRESS"},
			Classes: []policy.ColumnClass{{Column: ref("customers", "email"), InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{policy.ClassFile}}}},
		{Name: "loud", Index: 1, Lineage: []sqlscan.ColumnRef{ref("orders", "notes")}, InfoTypes: []string{"PHONE_NUMBER", policy.DerivedInfoType}, Derived: true,
			Classes: []policy.ColumnClass{{Column: ref("orders", "notes"), InfoTypes: []string{"PHONE_NUMBER"}, Sources: []string{policy.ClassProfile},
				SampledRows: 1000, NonNull: 800, Matches: 120}}},
		{Name: "amount", Index: 2, Lineage: []sqlscan.ColumnRef{ref("orders", "amount")}},
	}
	if diff := cmp.Diff(want, d.Columns); diff != "" {
		t.Errorf("Columns (-want, +got):\n%s", diff)
	}
}

// TestDecisionColumnFactsPolicyTags names the policy_tag source.
func TestDecisionColumnFactsPolicyTags(t *testing.T) {
	t.Parallel()
	const tag = "projects/p/locations/us/taxonomies/1/policyTags/2"
	staff := sqlscan.TableRef{Project: "querygate-local", Dataset: "hr", Table: "staff"}
	cat := sqlscan.NewMemoryCatalog(&sqlscan.TableMeta{Ref: staff, Type: "TABLE",
		Columns: []sqlscan.Column{{Name: "id", Type: "INT64"}, {Name: "salary", Type: "NUMERIC", PolicyTags: []string{tag}}}})
	p, err := policy.Load([]byte("version: 1\ndefaults: {default_project: querygate-local}\npolicy_tags:\n  "+tag+": [FINANCIAL]\nrules:\n  - id: r\n    action: allow\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := policy.NewEngine(p, cat).Evaluate(context.Background(), policy.Input{SQL: "SELECT salary FROM hr.staff"})
	if err != nil {
		t.Fatal(err)
	}
	salary := sqlscan.ColumnRef{Table: staff, Column: "salary"}
	want := []policy.ColumnFacts{{Name: "salary", Lineage: []sqlscan.ColumnRef{salary}, InfoTypes: []string{"FINANCIAL"},
		Classes: []policy.ColumnClass{{Column: salary, InfoTypes: []string{"FINANCIAL"}, Sources: []string{policy.ClassPolicyTag}}}}}
	if diff := cmp.Diff(want, d.Columns); diff != "" {
		t.Errorf("Columns (-want, +got):\n%s", diff)
	}
}
