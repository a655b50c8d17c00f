package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/gateway/local"
)

// piiRow is one seeded row of crm.people, a table no policy lists, whose
// column names say nothing about what they hold.
type piiRow struct {
	id                         int
	contact, mobile, taxID, cc string
	memo, region, status       string
	amount                     int
}

func luhnCard(n int) string {
	base := fmt.Sprintf("453201511283%03d", n%1000)
	sum := 0
	for i := len(base) - 1; i >= 0; i-- {
		d := int(base[i] - '0')
		if (len(base)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return base + fmt.Sprint((10-sum%10)%10)
}

func piiRows(n int) []piiRow {
	var out []piiRow
	for i := 0; i < n; i++ {
		memo := fmt.Sprintf("called about order %d", 7000+i)
		if i%4 == 0 {
			memo = fmt.Sprintf("reach me at buyer%d@mail.example.net after five", i)
		}
		out = append(out, piiRow{id: i, contact: fmt.Sprintf("customer%02d@example.org", i), mobile: fmt.Sprintf("(415) 555-%04d", 1200+i),
			taxID: fmt.Sprintf("219-09-%04d", 3100+i), cc: luhnCard(i), memo: memo,
			region: []string{"north", "south", "east", "west"}[i%4], status: []string{"active", "closed"}[i%2], amount: 100 + 7*i})
	}
	return out
}

// writePIIData writes rows as an emulator data file, the format
// `querygate dev --data FILE` loads.
func writePIIData(t *testing.T, rows []piiRow) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`projects:
- id: querygate-local
  datasets:
    - id: crm
      tables:
        - id: people
          columns:
            - {name: id, type: INTEGER}
            - {name: contact, type: STRING}
            - {name: mobile, type: STRING}
            - {name: tax_id, type: STRING}
            - {name: cc, type: STRING}
            - {name: memo, type: STRING}
            - {name: region, type: STRING}
            - {name: status, type: STRING}
            - {name: amount, type: INTEGER}
          data:
`)
	for _, r := range rows {
		fmt.Fprintf(&b, "            - {id: %d, contact: %q, mobile: %q, tax_id: %q, cc: %q, memo: %q, region: %q, status: %q, amount: %d}\n",
			r.id, r.contact, r.mobile, r.taxID, r.cc, r.memo, r.region, r.status, r.amount)
	}
	path := filepath.Join(t.TempDir(), "people.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// TestUnlistedPIITableIsProfiled loads a PII table that no policy lists
// with --data and checks, through the agent's API, that the local gateway
// profiles it: every star form over it waits for approval, a plain
// projection of its PII columns comes back masked, and its harmless
// columns come back unchanged. The profile is in the session store.
func TestUnlistedPIITableIsProfiled(t *testing.T) {
	rows := piiRows(24)
	g, _ := startGatewayConfig(t, local.Config{DataFiles: []string{writePIIData(t, rows)}})
	alice := token(t, g, "alice@example.com", "analysts")
	query := func(sql string) response {
		t.Helper()
		body := fmt.Sprintf(`{"sql":%q,"prompt":"profile test"}`, sql)
		return do(t, "POST", g.URL+"/v1/queries", alice, []byte(body))
	}

	for _, sql := range []string{
		"SELECT * FROM crm.people",
		"SELECT t.* FROM crm.people AS t",
		"SELECT * EXCEPT (memo) FROM crm.people",
		"SELECT AS STRUCT * FROM crm.people",
		"SELECT region FROM (SELECT * FROM crm.people)",
	} {
		t.Run("approval/"+sql, func(t *testing.T) {
			r := query(sql)
			if r.code != http.StatusAccepted || r.body["status"] != "pending_approval" {
				t.Errorf("%s = %d %s, want 202 pending_approval", sql, r.code, r.raw)
			}
		})
	}

	r := query("SELECT id, contact, mobile, tax_id, cc, memo, region, status, amount FROM crm.people ORDER BY id")
	if r.code != http.StatusOK || r.body["status"] != "succeeded" {
		t.Fatalf("projection = %d %s", r.code, r.raw)
	}
	got, _ := r.body["rows"].([]any)
	if len(got) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
	raw := string(r.raw)
	for i, want := range rows {
		m, _ := got[i].(map[string]any)
		if diff := cmp.Diff([]string{want.region, want.status, fmt.Sprint(want.amount), fmt.Sprint(want.id)},
			[]string{fmt.Sprint(m["region"]), fmt.Sprint(m["status"]), fmt.Sprint(m["amount"]), fmt.Sprint(m["id"])}); diff != "" {
			t.Errorf("row %d harmless columns changed (-want, +got):\n%s", i, diff)
		}
		for col, v := range map[string]string{"contact": want.contact, "mobile": want.mobile, "tax_id": want.taxID, "cc": want.cc, "memo": want.memo} {
			if m[col] == v {
				t.Errorf("row %d: %s came back raw", i, col)
			}
		}
		for _, v := range []string{want.contact, want.mobile, want.taxID, want.cc, digitsOnly(want.mobile), digitsOnly(want.taxID)} {
			if strings.Contains(raw, v) {
				t.Errorf("row %d: a seeded value appears in the response", i)
			}
		}
	}

	prof, err := g.Store.GetProfile(context.Background(), "querygate-local.crm.people")
	if err != nil {
		t.Fatalf("no profile in the session store: %v", err)
	}
	sensitive := map[string][]string{}
	for _, c := range prof.Columns {
		if len(c.InfoTypes) > 0 {
			sensitive[c.Name] = c.InfoTypes
		}
	}
	want := map[string][]string{"contact": {"EMAIL_ADDRESS"}, "mobile": {"PHONE_NUMBER"}, "tax_id": {"US_SOCIAL_SECURITY_NUMBER"},
		"cc": {"CREDIT_CARD_NUMBER"}, "memo": {"EMAIL_ADDRESS"}}
	if diff := cmp.Diff(want, sensitive); diff != "" {
		t.Errorf("profile (-want, +got):\n%s", diff)
	}
	if prof.SampledRows != int64(len(rows)) {
		t.Errorf("SampledRows = %d, want %d", prof.SampledRows, len(rows))
	}
}
