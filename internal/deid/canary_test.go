package deid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/corpus"
)

// Canary, at the de-identifier's level: seeded PII values, passed directly and
// through functions of their columns (lineage), appear in no output cell and
// no stats, for both implementations. (The gateway's end-to-end canary covers
// HTTP responses, the session store, logs and the audit table.)
func TestCanarySeededValuesNeverSurvive(t *testing.T) {
	t.Parallel()
	c := corpus.Generate(11, 400)
	tbl := &deid.Table{Headers: append(append([]string(nil), c.Headers...), "contact_upper", "note_head")}
	for _, r := range c.Rows {
		row := append([]deid.Value(nil), r...)
		contact, _ := r[6].(string)
		note, _ := r[4].(string)
		row = append(row, strings.ToUpper(contact), note[:min(len(note), 24)])
		tbl.Rows = append(tbl.Rows, row)
	}
	req := &deid.Request{Table: tbl, ColumnInfoTypes: map[string][]string{
		"contact_upper": {"EMAIL_ADDRESS", "PHONE_NUMBER"},
		"note_head":     {"US_SOCIAL_SECURITY_NUMBER"},
	}}
	local, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cloud, _ := newFakeDLP(t, deid.DLPOptions{})
	for name, d := range map[string]deid.Deidentifier{"local": local, "dlp": cloud} {
		out, st, err := d.Deidentify(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var all strings.Builder
		for _, row := range out.Rows {
			for _, v := range row {
				fmt.Fprintf(&all, "%v\x00", v)
			}
		}
		fmt.Fprintf(&all, "%+v", st)
		dump := all.String()
		for _, s := range c.Seeded {
			for _, v := range []string{s.Value, strings.ToUpper(s.Value)} {
				if strings.Contains(dump, v) {
					t.Errorf("%s: seeded %s %q survives", name, s.InfoType, v)
				}
			}
		}
		if len(c.Seeded) < 50 {
			t.Fatalf("corpus seeded only %d values", len(c.Seeded))
		}
	}
}
