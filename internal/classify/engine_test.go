package classify

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/sqlscan"
)

// peopleMeta is the catalog's view of peopleRef.
func peopleMeta() *sqlscan.TableMeta {
	m := &sqlscan.TableMeta{Ref: peopleRef, Type: "TABLE", NumRows: 20, NumBytes: 4000}
	for _, c := range peopleCols {
		typ := "STRING"
		if c == "id" {
			typ = "INT64"
		}
		m.Columns = append(m.Columns, sqlscan.Column{Name: c, Type: typ, Mode: "NULLABLE"})
	}
	return m
}

func testPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load([]byte(`version: 1
defaults: {default_project: p, default_dataset: crm, approver_group: approvers}
profiling: {enabled: true, ttl: 24h}
rules:
  - id: analysts
    match: {groups: [analysts], only_kinds: [QUERY]}
    action: allow
  - id: star-over-sensitive
    match: {star_over_sensitive: true}
    action: require_approval
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEngineProfilesOncePerChange runs the policy engine with the profiler
// wired as both modes wire it (EngineOption), and counts the samples: the
// first decision samples, the next samples nothing, a modified table is
// sampled once more after RecheckAfter, and a second engine (a cold
// instance) on the same store samples nothing. Every star over the table
// needs approval, and a plain projection is masked by what profiling found.
func TestEngineProfilesOncePerChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newFakeSource()
	src.put(peopleRef, "TABLE", time.Unix(1000, 0), peopleCols, people(20))
	store := openStore(t)
	pol := testPolicy(t)
	now := time.Unix(50_000, 0)
	clock := func() time.Time { return now }
	cat := sqlscan.NewMemoryCatalog(peopleMeta())
	newEngine := func() *policy.Engine {
		prof := New(src, localInspector(t), store, Options{MaxAge: time.Duration(pol.Profiling.TTL), Now: clock})
		return policy.NewEngine(pol, cat, prof.EngineOption(), policy.WithClock(clock))
	}
	e := newEngine()
	eval := func(e *policy.Engine, sql string) *policy.Decision {
		t.Helper()
		d, err := e.Evaluate(ctx, policy.Input{SQL: sql, Groups: []string{"analysts"}, Email: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := eval(e, "SELECT contact, tax_id, region, status FROM people")
	if d.Action != policy.ActionAllow {
		t.Fatalf("projection: %s %v", d.Action, d.Reasons)
	}
	want := map[string][]string{"contact": {"EMAIL_ADDRESS"}, "tax_id": {"US_SOCIAL_SECURITY_NUMBER"}}
	if diff := cmp.Diff(want, d.ColumnInfoTypes); diff != "" {
		t.Errorf("masked columns (-want, +got):\n%s", diff)
	}
	if n := src.sampleCount(peopleRef); n != 1 {
		t.Errorf("first decision: %d samples, want 1", n)
	}
	for _, sql := range []string{
		"SELECT * FROM people",
		"SELECT t.* FROM people AS t",
		"SELECT * EXCEPT (memo) FROM people",
		"SELECT AS STRUCT * FROM people",
		"SELECT region FROM (SELECT * FROM people)",
	} {
		if d := eval(e, sql); d.Action != policy.ActionRequireApproval {
			t.Errorf("%s: %s %v, want require_approval", sql, d.Action, d.Reasons)
		}
	}
	if n := src.sampleCount(peopleRef); n != 1 {
		t.Errorf("after six decisions: %d samples, want 1", n)
	}
	if eval(newEngine(), "SELECT * FROM people").Action != policy.ActionRequireApproval {
		t.Error("cold engine: star not sent to approval")
	}
	if n := src.sampleCount(peopleRef); n != 1 {
		t.Errorf("cold engine on the same store: %d samples, want 1", n)
	}
	src.put(peopleRef, "TABLE", time.Unix(2000, 0), peopleCols, people(20))
	now = now.Add(RecheckAfter)
	eval(e, "SELECT contact FROM people")
	eval(e, "SELECT contact FROM people")
	if n := src.sampleCount(peopleRef); n != 2 {
		t.Errorf("after a modification: %d samples, want 2", n)
	}
}

// TestEngineProfilingFailureDenies: a table the profiler cannot sample is
// denied with builtin.profiling_error, not served unclassified.
func TestEngineProfilingFailureDenies(t *testing.T) {
	t.Parallel()
	src := newFakeSource()
	src.put(peopleRef, "TABLE", time.Unix(1000, 0), peopleCols, people(20))
	src.fail = context.DeadlineExceeded
	pol := testPolicy(t)
	e := policy.NewEngine(pol, sqlscan.NewMemoryCatalog(peopleMeta()), ForPolicy(pol, src, localInspector(t), openStore(t)).EngineOption())
	d, err := e.Evaluate(context.Background(), policy.Input{SQL: "SELECT region FROM people", Groups: []string{"analysts"}, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != policy.ActionDeny || len(d.RuleIDs) != 1 || d.RuleIDs[0] != "builtin.profiling_error" {
		t.Errorf("decision = %s %v %v, want deny builtin.profiling_error", d.Action, d.RuleIDs, d.Reasons)
	}
}
