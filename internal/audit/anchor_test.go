package audit

// These tests run the day anchor query of terraform/audit_anchor.tf itself
// on the BigQuery emulator and check that Verify recomputes the same
// anchor, and what it reports when the day's rows are changed after it.
// What they change in the query, and so leave untested: the scheduled
// query's DECLARE of the day (a query parameter here) and
// CURRENT_TIMESTAMP() (a parameter, so that computed_at is fixed).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/querygate/querygate/internal/session"
)

var anchorDay = civil.Date{Year: 2026, Month: 11, Day: 28}

// anchorComputedAt is when the test's anchor query "runs": the next day.
var anchorComputedAt = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// anchorQuery returns the anchor query of terraform/audit_anchor.tf for
// the given tables, with the day and computed_at as parameters.
func anchorQuery(t *testing.T, events, anchors string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "terraform", "audit_anchor.tf"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)audit_anchor_query = <<-SQL\n(.*?)\n\s*SQL\n`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no audit_anchor_query heredoc in audit_anchor.tf")
	}
	q := string(m[1])
	decl := regexp.MustCompile(`(?m)^\s*DECLARE day DATE DEFAULT DATE_SUB\(@run_date, INTERVAL 1 DAY\);\n`)
	if !decl.MatchString(q) {
		t.Fatal("the anchor query no longer declares its day as the day before @run_date; update this test")
	}
	q = decl.ReplaceAllString(q, "")
	q = regexp.MustCompile(`\bday\b`).ReplaceAllString(q, "CAST(@day AS DATE)")
	if strings.Count(q, "CURRENT_TIMESTAMP()") != 1 {
		t.Fatal("the anchor query should set computed_at from CURRENT_TIMESTAMP() once")
	}
	q = strings.ReplaceAll(q, "CURRENT_TIMESTAMP()", "CAST(@computed_at AS TIMESTAMP)")
	q = strings.ReplaceAll(q, "${local.audit_anchors_ref}", fmt.Sprintf("`%s.%s.%s`", testProject, testDataset, anchors))
	q = strings.ReplaceAll(q, "${local.audit_table_ref}", fmt.Sprintf("`%s.%s.%s`", testProject, testDataset, events))
	if strings.Contains(q, "${") {
		t.Fatalf("unresolved reference in the anchor query:\n%s", q)
	}
	return q
}

// anchoredTable writes sessions s1 (3 events) and s2 (2 events) on
// anchorDay, plus one on the day after, creates the anchors table and runs
// the anchor query for anchorDay. It returns the events and anchors tables.
func anchoredTable(t *testing.T) (events, anchors string) {
	t.Helper()
	w, events := newTable(t)
	w.now = func() time.Time { return anchorComputedAt.Add(-time.Hour) }
	next := &session.Session{ID: "next", Principal: session.Principal{Email: "alice@example.com"}}
	next.AddEvent(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), "alice@example.com", session.ReceivedData{})
	for _, s := range []*session.Session{testSession("s1", 3), testSession("s2", 2), next} {
		if err := w.WriteSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	anchors = events + "_anchors"
	err := testClient.Dataset(testDataset).Table(anchors).Create(t.Context(), &bigquery.TableMetadata{Schema: bigquery.Schema{
		{Name: "anchor_day", Type: bigquery.DateFieldType, Required: true},
		{Name: "event_count", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "session_count", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "anchor_hash", Type: bigquery.StringFieldType, Required: true},
		{Name: "computed_at", Type: bigquery.TimestampFieldType, Required: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	runAnchor(t, events, anchors)
	return events, anchors
}

func runAnchor(t *testing.T, events, anchors string) {
	t.Helper()
	q := anchorQuery(t, events, anchors)
	m := regexp.MustCompile(`(?s)USING \((.*)\) AS d\s+ON a\.anchor_day = d\.anchor_day\s+WHEN NOT MATCHED THEN\s+INSERT`).FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("the anchor query is no longer MERGE ... USING (...) AS d ON a.anchor_day = d.anchor_day WHEN NOT MATCHED THEN INSERT; update this test:\n%s", q)
	}
	sel := testClient.Query(m[1])
	sel.Parameters = []bigquery.QueryParameter{
		{Name: "day", Value: anchorDay.String()},
		{Name: "computed_at", Value: anchorComputedAt.Format("2006-01-02 15:04:05+00")},
	}
	it, err := sel.Read(t.Context())
	if err != nil {
		t.Fatalf("anchor computation: %v\n%s", err, m[1])
	}
	var v []bigquery.Value
	if err := it.Next(&v); err != nil {
		t.Fatalf("anchor computation returned no row: %v", err)
	}
	have, err := readAnchors(t.Context(), testClient, testDataset, anchors, anchorDay, anchorDay)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) > 0 {
		return // WHEN NOT MATCHED only
	}
	schema := bigquery.Schema{
		{Name: "anchor_day", Type: bigquery.DateFieldType}, {Name: "event_count", Type: bigquery.IntegerFieldType},
		{Name: "session_count", Type: bigquery.IntegerFieldType}, {Name: "anchor_hash", Type: bigquery.StringFieldType},
		{Name: "computed_at", Type: bigquery.TimestampFieldType},
	}
	if err := testClient.Dataset(testDataset).Table(anchors).Inserter().Put(t.Context(), &bigquery.ValuesSaver{Schema: schema, Row: v}); err != nil {
		t.Fatal(err)
	}
}

// TestAnchorQueryMatchesVerify: the anchor the Terraform query writes is
// the one Verify recomputes, and a re-run of the query (MERGE) adds no row.
func TestAnchorQueryMatchesVerify(t *testing.T) {
	events, anchors := anchoredTable(t)
	runAnchor(t, events, anchors) // a re-run of the same day
	got, err := readAnchors(t.Context(), testClient, testDataset, anchors, civil.Date{}, civil.Date{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Day != anchorDay || got[0].EventCount != 5 || got[0].SessionCount != 2 ||
		!got[0].ComputedAt.Equal(anchorComputedAt) || len(got[0].Hash) != 64 {
		t.Fatalf("anchors = %+v, want one for %s over 5 events in 2 sessions computed at %s", got, anchorDay, anchorComputedAt)
	}
	rep, err := verifyDays(t.Context(), testClient, testDataset, events, anchors, civil.Date{}, civil.Date{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Anchors != 1 || rep.Rows != 6 {
		t.Errorf("intact anchored table: %d rows, %d anchors, problems %v; want 6, 1 and none", rep.Rows, rep.Anchors, rep.Problems)
	}
	if want := []civil.Date{anchorDay.AddDays(1)}; len(rep.Unanchored) != 1 || rep.Unanchored[0] != want[0] {
		t.Errorf("unanchored days = %v, want %v", rep.Unanchored, want)
	}
}

// TestAnchorDetects changes the anchored day's rows after the anchor ran.
func TestAnchorDetects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, events string)
		want   []string // substrings of the problems, in order
	}{
		{
			name: "tampered event hash",
			change: func(t *testing.T, events string) {
				runSQL(t, fmt.Sprintf("UPDATE `%s.%s.%s` SET event_hash = '%s' WHERE session_id = 's1' AND seq = 2", testProject, testDataset, events, strings.Repeat("f", 64)))
			},
			want: []string{"anchor mismatch", "s1 event 2 (insert id s1:2): row changed", "s1 event 2 (insert id s1:2): event changed", "s1 event 3 (insert id s1:3): prev_hash"},
		},
		{
			// The last event of a session: its chain cannot show it, the
			// anchor does.
			name: "deleted last event of a session",
			change: func(t *testing.T, events string) {
				runSQL(t, fmt.Sprintf("DELETE FROM `%s.%s.%s` WHERE session_id = 's2' AND seq = 2", testProject, testDataset, events))
			},
			want: []string{"anchor mismatch: the anchor computed at 2026-11-29T02:00:00.000000Z covers 5 events in 2 sessions"},
		},
		{
			name: "deleted whole session",
			change: func(t *testing.T, events string) {
				runSQL(t, fmt.Sprintf("DELETE FROM `%s.%s.%s` WHERE session_id = 's1'", testProject, testDataset, events))
			},
			want: []string{"rows recorded by then are 2 events in 1 sessions"},
		},
		{
			name: "session added after the anchor",
			change: func(t *testing.T, events string) {
				w := NewWriter(testClient, testDataset, events)
				w.now = func() time.Time { return anchorComputedAt.Add(time.Hour) }
				if err := w.WriteSession(t.Context(), testSession("late", 2)); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"session late event 1 (insert id late:1): written after its day's anchor", "session late event 2 (insert id late:2): written after its day's anchor"},
		},
		{
			name: "session added after the anchor, recorded_at backdated",
			change: func(t *testing.T, events string) {
				w := NewWriter(testClient, testDataset, events)
				w.now = func() time.Time { return anchorComputedAt.Add(-time.Minute) }
				if err := w.WriteSession(t.Context(), testSession("forged", 1)); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"rows recorded by then are 6 events in 3 sessions"},
		},
		{
			name: "a retried insert kept after the anchor",
			change: func(t *testing.T, events string) {
				w := NewWriter(testClient, testDataset, events)
				w.now = func() time.Time { return anchorComputedAt.Add(time.Hour) }
				if err := w.WriteSession(t.Context(), testSession("s2", 2)); err != nil {
					t.Fatal(err)
				}
			},
			want: nil, // exact duplicates of anchored events
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, anchors := anchoredTable(t)
			tc.change(t, events)
			rep, err := verifyDays(t.Context(), testClient, testDataset, events, anchors, anchorDay, anchorDay)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != len(tc.want) {
				t.Fatalf("%d problems, want %d: %v", len(rep.Problems), len(tc.want), rep.Problems)
			}
			for i, want := range tc.want {
				if got := rep.Problems[i].String(); !strings.Contains(got, want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, want)
				}
			}
		})
	}
}

// TestRunVerifyReportsAnchor checks the CLI's output and error on an
// anchored table with a removed event.
func TestRunVerifyReportsAnchor(t *testing.T) {
	events, anchors := anchoredTable(t)
	runSQL(t, fmt.Sprintf("DELETE FROM `%s.%s.%s` WHERE session_id = 's2' AND seq = 2", testProject, testDataset, events))
	var out strings.Builder
	err := runVerifyDays(t.Context(), testClient, testDataset, events, anchors, civil.Date{}, civil.Date{}, &out)
	if !errors.Is(err, ErrChainBroken) || !strings.Contains(err.Error(), "first broken link at day 2026-11-28: anchor mismatch") {
		t.Errorf("RunVerify err = %v, want ErrChainBroken naming the anchor of 2026-11-28", err)
	}
	for _, want := range []string{
		"checked 5 rows, 2 days, 3 sessions, 1 day anchors",
		"days without an anchor (checked by the session chains only): 2026-11-29",
		"BROKEN day 2026-11-28: anchor mismatch",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("RunVerify output lacks %q:\n%s", want, out.String())
		}
	}
}
