package sqlscan_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/sqlscan"
)

// TestMemoryCatalogWildcardPolicyTags: the wildcard's column carries the
// policy tags the column has in any matching table (as catalog.BigQuery
// answers), and the tables' own schemas are not changed.
func TestMemoryCatalogWildcardPolicyTags(t *testing.T) {
	t.Parallel()
	ref := func(table string) sqlscan.TableRef {
		return sqlscan.TableRef{Project: "p", Dataset: "log", Table: table}
	}
	old := &sqlscan.TableMeta{Ref: ref("events_2025"), Type: "TABLE", Columns: []sqlscan.Column{{Name: "who", Type: "STRING", PolicyTags: []string{"tag/pii"}}}}
	newest := &sqlscan.TableMeta{Ref: ref("events_2026"), Type: "TABLE", Columns: []sqlscan.Column{{Name: "who", Type: "STRING"}, {Name: "what", Type: "STRING"}}}
	cat := sqlscan.NewMemoryCatalog(old, newest)
	m, err := cat.Table(context.Background(), ref("events_*"))
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlscan.Column{{Name: "who", Type: "STRING", PolicyTags: []string{"tag/pii"}}, {Name: "what", Type: "STRING"}}
	if diff := cmp.Diff(want, m.Columns); diff != "" {
		t.Errorf("wildcard columns (-want, +got):\n%s", diff)
	}
	if newest.Columns[0].PolicyTags != nil {
		t.Errorf("the newest table's schema was changed: %+v", newest.Columns)
	}
}
