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

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/gateway/local"
	"github.com/querygate/querygate/internal/session"
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
	return writePIIDataWith(t, rows, "")
}

// writePIIDataWith is writePIIData with more tables of dataset crm, given
// as YAML list items indented as the people table is.
func writePIIDataWith(t *testing.T, rows []piiRow, extraTables string) string {
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
	b.WriteString(extraTables)
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
	checkRecordedFacts(t, g, r, len(rows))
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

// checkRecordedFacts checks the per-column facts the projection's recorded
// decision carries (issue 11 item 4), in the session and in its
// policy.decided event: each column's source, infoTypes, and for the PII
// columns the profile with its sample size and match counts; nothing for
// the harmless ones. The hash chain still verifies.
func checkRecordedFacts(t *testing.T, g *local.Gateway, r response, sampled int) {
	t.Helper()
	id, _ := r.body["session_id"].(string)
	s, err := g.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Decision == nil {
		t.Fatal("no decision recorded")
	}
	var ev *session.PolicyDecidedData
	for _, e := range s.Timeline {
		if e.Type == session.EventPolicyDecided {
			p, err := e.Payload()
			if err != nil {
				t.Fatal(err)
			}
			d := p.(session.PolicyDecidedData)
			ev = &d
		}
	}
	if ev == nil {
		t.Fatal("no policy.decided event")
	}
	if n := s.VerifyChain(); n != 0 {
		t.Errorf("the timeline's chain breaks at event %d", n)
	}
	if diff := cmp.Diff(s.Decision.Columns, ev.Columns); diff != "" || ev.ColumnsOmitted != 0 {
		t.Errorf("the event's facts differ from the session's (omitted %d) (-session, +event):\n%s", ev.ColumnsOmitted, diff)
	}
	byName := map[string]session.DecisionColumn{}
	for _, c := range ev.Columns {
		byName[c.Name] = c
	}
	const people = "querygate-local.crm.people."
	n := int64(sampled)
	profiled := func(col, it string) session.DecisionColumn {
		return session.DecisionColumn{Name: col, Lineage: []string{people + col}, InfoTypes: []string{it},
			Classes: []session.ColumnClass{{Column: people + col, InfoTypes: []string{it}, Sources: []string{"profile"}, SampledRows: n, NonNull: n, Matches: n}}}
	}
	for _, want := range []session.DecisionColumn{
		profiled("contact", "EMAIL_ADDRESS"), profiled("mobile", "PHONE_NUMBER"), profiled("cc", "CREDIT_CARD_NUMBER"),
		{Name: "memo", Lineage: []string{people + "memo"}, InfoTypes: []string{"EMAIL_ADDRESS"},
			Classes: []session.ColumnClass{{Column: people + "memo", InfoTypes: []string{"EMAIL_ADDRESS"}, Sources: []string{"profile"}, SampledRows: n, NonNull: n, Matches: n / 4}}},
		{Name: "region", Lineage: []string{people + "region"}},
		{Name: "amount", Lineage: []string{people + "amount"}},
	} {
		got := byName[want.Name]
		want.Index = got.Index
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("recorded facts of %s (-want, +got):\n%s", want.Name, diff)
		}
	}
	if len(ev.Columns) != 9 {
		t.Errorf("%d columns recorded, want 9", len(ev.Columns))
	}
}

// TestViewsAndWildcardsOverUnlistedTables: a view over the unlisted
// crm.people and a wildcard over two unlisted tables are classified
// through their tables in the local gateway: their PII columns come back
// masked (plain and derived), their harmless columns and _TABLE_SUFFIX
// intact, and a star over either waits for approval.
func TestViewsAndWildcardsOverUnlistedTables(t *testing.T) {
	rows := piiRows(24)
	var events strings.Builder
	for _, year := range []string{"2025", "2026"} {
		fmt.Fprintf(&events, "        - id: events_%s\n          columns:\n            - {name: who, type: STRING}\n            - {name: what, type: STRING}\n          data:\n", year)
		for i := range 12 {
			fmt.Fprintf(&events, "            - {who: %q, what: %q}\n", fmt.Sprintf("visitor%s%02d@example.org", year, i), []string{"click", "view"}[i%2])
		}
	}
	g, _ := startGatewayConfig(t, local.Config{DataFiles: []string{writePIIDataWith(t, rows, events.String())}})
	bq, err := bqlocal.ClientWithToken(context.Background(), g.BigQueryEndpoint, "querygate-local", g.BigQueryToken)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	// The view is created behind querygate's back, as a data owner would.
	job, err := bq.Query("CREATE VIEW `querygate-local.crm.people_contacts` AS SELECT id, contact AS email, region FROM `querygate-local.crm.people`").Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := job.Wait(context.Background()); err != nil || st.Err() != nil {
		t.Fatalf("create view: %v %v", err, st)
	}
	alice := token(t, g, "alice@example.com", "analysts")
	query := func(sql string) response {
		t.Helper()
		body := fmt.Sprintf(`{"sql":%q,"prompt":"views and wildcards"}`, sql)
		r := do(t, "POST", g.URL+"/v1/queries", alice, []byte(body))
		if r.code == http.StatusAccepted && r.body["status"] != "pending_approval" {
			id, _ := r.body["session_id"].(string)
			r = waitSession(t, g, alice, id)
		}
		return r
	}
	for _, sql := range []string{"SELECT * FROM crm.people_contacts", "SELECT * FROM `crm.events_*`"} {
		if r := query(sql); r.code != http.StatusAccepted || r.body["status"] != "pending_approval" {
			t.Errorf("%s = %d %s, want 202 pending_approval", sql, r.code, r.raw)
		}
	}
	for _, tc := range []struct {
		sql            string
		masked, intact []string
		seeded         func(i int) []string
		wantRows       int
	}{
		{sql: "SELECT id, email, UPPER(email) AS loud, region FROM crm.people_contacts ORDER BY id", masked: []string{"email", "loud"}, intact: []string{"region"},
			seeded: func(i int) []string { return []string{rows[i].contact, strings.ToUpper(rows[i].contact)} }, wantRows: len(rows)},
		{sql: "SELECT who, SUBSTR(who, 1, 12) AS head, what, _TABLE_SUFFIX AS yr FROM `crm.events_*` WHERE _TABLE_SUFFIX = '2026'", masked: []string{"who", "head"}, intact: []string{"what", "yr"},
			seeded: func(i int) []string { v := fmt.Sprintf("visitor2026%02d@example.org", i); return []string{v, v[:12]} }, wantRows: 12},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			r := query(tc.sql)
			if r.body["status"] != "succeeded" {
				t.Fatalf("%s = %d %s, want succeeded without approval", tc.sql, r.code, r.raw)
			}
			got, _ := r.body["rows"].([]any)
			if len(got) != tc.wantRows {
				t.Fatalf("%d rows, want %d", len(got), tc.wantRows)
			}
			for i := range tc.wantRows {
				for _, v := range tc.seeded(i) {
					if strings.Contains(string(r.raw), v) {
						t.Errorf("a seeded value (row %d) came back", i)
					}
				}
			}
			for i, x := range got {
				m, _ := x.(map[string]any)
				for _, c := range tc.masked {
					if m[c] == nil || m[c] == "" {
						t.Errorf("row %d: masked column %s is empty", i, c)
					}
				}
				for _, c := range tc.intact {
					if v := fmt.Sprint(m[c]); strings.HasPrefix(v, "[") || v == "" {
						t.Errorf("row %d: harmless column %s came back %q", i, c, v)
					}
				}
				if yr, ok := m["yr"]; ok && yr != "2026" {
					t.Errorf("row %d: _TABLE_SUFFIX came back %v, want 2026", i, yr)
				}
			}
		})
	}
}
