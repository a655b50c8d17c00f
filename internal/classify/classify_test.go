package classify

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/sqlscan"
	"github.com/querygate/querygate/internal/warehouse"
)

// fakeSource is a warehouse with tables in memory. It counts every
// SampleRows call, which is what profiling costs.
type fakeSource struct {
	mu      sync.Mutex
	tables  map[string]*fakeTable
	samples map[string]int
	fail    error
}

type fakeTable struct {
	info warehouse.TableInfo
	rows [][]bigquery.Value
}

func newFakeSource() *fakeSource {
	return &fakeSource{tables: map[string]*fakeTable{}, samples: map[string]int{}}
}

func (f *fakeSource) put(ref sqlscan.TableRef, typ string, mod time.Time, cols []string, rows [][]bigquery.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := warehouse.TableInfo{Project: ref.Project, Dataset: ref.Dataset, Table: ref.Table, Type: typ, LastModified: mod, NumRows: uint64(len(rows))}
	for _, c := range cols {
		info.Columns = append(info.Columns, warehouse.ColumnInfo{Name: c, Type: "STRING"})
	}
	f.tables[ref.String()] = &fakeTable{info: info, rows: rows}
}

func (f *fakeSource) sampleCount(ref sqlscan.TableRef) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.samples[ref.String()]
}

func (f *fakeSource) TableInfo(_ context.Context, project, dataset, table string) (*warehouse.TableInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[project+"."+dataset+"."+table]
	if !ok {
		return nil, warehouse.ErrTableNotFound
	}
	info := t.info
	return &info, nil
}

func (f *fakeSource) ListTables(_ context.Context, project, dataset, prefix string, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, t := range f.tables {
		if t.info.Project == project && t.info.Dataset == dataset && strings.HasPrefix(t.info.Table, prefix) {
			out = append(out, t.info.Table)
		}
	}
	if len(out) > limit {
		return nil, fmt.Errorf("more than %d tables", limit)
	}
	return out, nil
}

func (f *fakeSource) SampleRows(_ context.Context, project, dataset, table string, lim warehouse.SampleLimits) (*warehouse.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := project + "." + dataset + "." + table
	f.samples[key]++
	if f.fail != nil {
		return nil, f.fail
	}
	t := f.tables[key]
	s := &warehouse.Sample{}
	for _, c := range t.info.Columns {
		s.Columns = append(s.Columns, c.Name)
	}
	for _, r := range t.rows {
		if len(s.Rows) >= lim.MaxRows {
			break
		}
		s.Rows = append(s.Rows, r)
	}
	return s, nil
}

// card returns a Luhn-valid 16-digit Visa-like number ending in n.
func card(n int) string {
	base := fmt.Sprintf("411111111111%03d", n%1000)
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

var peopleCols = []string{"id", "contact", "mobile", "tax_id", "cc", "memo", "region", "status", "notes", "ssn_backup", "phone_label"}

// people builds n rows of an unlisted PII table whose column names say
// nothing: contact holds e-mails, mobile phones, tax_id SSNs, cc cards, memo
// free text with an e-mail in every fourth row; region and status are
// harmless; notes has one e-mail in n rows (under the share); ssn_backup
// one SSN (its name is a hint); phone_label no phone at all (a name alone).
func people(n int) [][]bigquery.Value {
	var rows [][]bigquery.Value
	for i := 0; i < n; i++ {
		memo := fmt.Sprintf("called about order %d", i)
		if i%4 == 0 {
			memo = fmt.Sprintf("reach me at buyer%d@mail.example.net after 5pm", i)
		}
		notes := "nothing to add"
		if i == 1 {
			notes = "cc: boss@corp.example.com"
		}
		var ssnBackup bigquery.Value
		if i == 2 {
			ssnBackup = fmt.Sprintf("219-09-%04d", 1000+i)
		}
		rows = append(rows, []bigquery.Value{
			int64(i), fmt.Sprintf("person%02d@example.org", i), fmt.Sprintf("(415) 555-%04d", 1000+i),
			fmt.Sprintf("219-09-%04d", 2000+i), card(i), memo,
			[]string{"north", "south", "east"}[i%3], "active", notes, ssnBackup, "home",
		})
	}
	return rows
}

func localInspector(t *testing.T) deid.Inspector {
	t.Helper()
	return localInspectorF(t)
}

func localInspectorF(t testing.TB) deid.Inspector {
	t.Helper()
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func openStore(t *testing.T) *session.SQLite {
	t.Helper()
	st, err := session.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var peopleRef = sqlscan.TableRef{Project: "p", Dataset: "crm", Table: "people"}

func TestClassifyUnlistedPII(t *testing.T) {
	t.Parallel()
	src := newFakeSource()
	src.put(peopleRef, "TABLE", time.Unix(1000, 0), peopleCols, people(20))
	p := New(src, localInspector(t), openStore(t), Options{})
	got, err := p.Classify(context.Background(), peopleRef)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"contact":    {"EMAIL_ADDRESS"},
		"mobile":     {"PHONE_NUMBER"},
		"tax_id":     {"US_SOCIAL_SECURITY_NUMBER"},
		"cc":         {"CREDIT_CARD_NUMBER"},
		"memo":       {"EMAIL_ADDRESS"},
		"ssn_backup": {"US_SOCIAL_SECURITY_NUMBER"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Classify (-want, +got):\n%s", diff)
	}
	prof, err := p.Profile(context.Background(), peopleRef)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]session.ColumnProfile{}
	for _, c := range prof.Columns {
		byName[c.Name] = c
	}
	if prof.SampledRows != 20 {
		t.Errorf("SampledRows = %d, want 20", prof.SampledRows)
	}
	for _, tc := range []struct {
		col     string
		nonNull int64
		matches map[string]int64
		hint    string
	}{
		{"contact", 20, map[string]int64{"EMAIL_ADDRESS": 20}, ""},
		{"memo", 20, map[string]int64{"EMAIL_ADDRESS": 5}, ""},
		{"notes", 20, map[string]int64{"EMAIL_ADDRESS": 1}, ""},
		{"ssn_backup", 1, map[string]int64{"US_SOCIAL_SECURITY_NUMBER": 1}, "US_SOCIAL_SECURITY_NUMBER"},
		{"phone_label", 20, nil, "PHONE_NUMBER"},
		{"region", 20, nil, ""},
		{"id", 0, nil, ""},
	} {
		c := byName[tc.col]
		if c.NonNull != tc.nonNull || c.NameHint != tc.hint {
			t.Errorf("%s: NonNull %d, hint %q; want %d, %q", tc.col, c.NonNull, c.NameHint, tc.nonNull, tc.hint)
		}
		if diff := cmp.Diff(tc.matches, c.Matches); diff != "" {
			t.Errorf("%s matches (-want, +got):\n%s", tc.col, diff)
		}
	}
}

func TestThreshold(t *testing.T) {
	t.Parallel()
	p := New(nil, nil, nil, Options{})
	for _, tc := range []struct {
		name string
		cp   session.ColumnProfile
		want []string
	}{
		{"share and count met", session.ColumnProfile{NonNull: 30, Matches: map[string]int64{"EMAIL_ADDRESS": 3}}, []string{"EMAIL_ADDRESS"}},
		{"count met, share not", session.ColumnProfile{NonNull: 31, Matches: map[string]int64{"EMAIL_ADDRESS": 3}}, nil},
		{"share met, count not", session.ColumnProfile{NonNull: 10, Matches: map[string]int64{"EMAIL_ADDRESS": 2}}, nil},
		{"tiny column, every cell", session.ColumnProfile{NonNull: 2, Matches: map[string]int64{"EMAIL_ADDRESS": 2}}, []string{"EMAIL_ADDRESS"}},
		{"hint lowers the bar", session.ColumnProfile{NonNull: 100, Matches: map[string]int64{"PHONE_NUMBER": 1}, NameHint: "PHONE_NUMBER"}, []string{"PHONE_NUMBER"}},
		{"hint alone is nothing", session.ColumnProfile{NonNull: 100, NameHint: "PHONE_NUMBER"}, nil},
		{"hint is for its own infoType", session.ColumnProfile{NonNull: 100, Matches: map[string]int64{"EMAIL_ADDRESS": 1}, NameHint: "PHONE_NUMBER"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, p.decide(tc.cp)); diff != "" {
				t.Errorf("decide (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestSampledOncePerChange counts the sampling calls of two profilers (two
// instances) sharing one store: the first query samples, every later one,
// on either instance, samples nothing, and a change of the table's
// lastModifiedTime costs exactly one more sample.
func TestSampledOncePerChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newFakeSource()
	src.put(peopleRef, "TABLE", time.Unix(1000, 0), peopleCols, people(20))
	store := openStore(t)
	now := time.Unix(5000, 0)
	clock := func() time.Time { return now }
	a := New(src, localInspector(t), store, Options{Now: clock})
	b := New(src, localInspector(t), store, Options{Now: clock})
	steps := []struct {
		name string
		p    *Profiler
		want int
	}{
		{"first query samples", a, 1},
		{"second query, same instance", a, 1},
		{"cold instance reads the store", b, 1},
	}
	for _, s := range steps {
		if _, err := s.p.Classify(ctx, peopleRef); err != nil {
			t.Fatal(err)
		}
		if got := src.sampleCount(peopleRef); got != s.want {
			t.Errorf("%s: %d samples, want %d", s.name, got, s.want)
		}
	}
	rows := people(20)
	rows[0][1] = "changed"
	src.put(peopleRef, "TABLE", time.Unix(2000, 0), peopleCols, rows)
	for _, p := range []*Profiler{b, a} {
		if _, err := p.Classify(ctx, peopleRef); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.sampleCount(peopleRef); got != 2 {
		t.Errorf("after a modification: %d samples, want 2", got)
	}
	now = now.Add(DefaultMaxAge)
	if _, err := a.Classify(ctx, peopleRef); err != nil {
		t.Fatal(err)
	}
	if got := src.sampleCount(peopleRef); got != 3 {
		t.Errorf("after MaxAge: %d samples, want 3", got)
	}
}

type failingInspector struct{}

func (failingInspector) Inspect(context.Context, []string) ([][]string, error) {
	return nil, errors.New("inspect: Unavailable")
}

// TestFailsClosed: a sampling, inspection or store failure is an error
// (which the engine turns into a denial), and none quotes a cell.
func TestFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(src *fakeSource) (deid.Inspector, session.ProfileStore)
	}{
		{"sample fails", func(src *fakeSource) (deid.Inspector, session.ProfileStore) {
			src.fail = errors.New("tabledata.list: 503")
			return localInspector(t), openStore(t)
		}},
		{"inspector fails", func(src *fakeSource) (deid.Inspector, session.ProfileStore) {
			return failingInspector{}, openStore(t)
		}},
		{"store fails", func(src *fakeSource) (deid.Inspector, session.ProfileStore) {
			st := openStore(t)
			st.Close()
			return localInspector(t), st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource()
			src.put(peopleRef, "TABLE", time.Unix(1000, 0), peopleCols, people(20))
			insp, st := tc.setup(src)
			got, err := New(src, insp, st, Options{}).Classify(ctx, peopleRef)
			if err == nil {
				t.Fatalf("Classify = %v, want an error", got)
			}
			for _, v := range []string{"person00@example.org", "219-09-2000", card(0), "(415) 555-1000"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q quotes a sampled value", err)
				}
			}
		})
	}
	t.Run("view", func(t *testing.T) {
		src := newFakeSource()
		src.put(peopleRef, "VIEW", time.Unix(1000, 0), peopleCols, nil)
		_, err := New(src, localInspector(t), openStore(t), Options{}).Classify(ctx, peopleRef)
		if !errors.Is(err, ErrNotProfilable) {
			t.Errorf("Classify(view) err = %v, want ErrNotProfilable", err)
		}
	})
}

// TestWildcard classifies events_* through every table it matches: a
// column sensitive in any of them is sensitive, its counts summed over
// them. A view matching the prefix fails the classification, as BigQuery
// fails such a query, and so does a wildcard over more tables than the cap.
func TestWildcard(t *testing.T) {
	t.Parallel()
	src := newFakeSource()
	cols := []string{"who", "what"}
	mk := func(who string) [][]bigquery.Value {
		var rows [][]bigquery.Value
		for i := 0; i < 5; i++ {
			rows = append(rows, []bigquery.Value{fmt.Sprintf(who, i), "click"})
		}
		return rows
	}
	src.put(sqlscan.TableRef{Project: "p", Dataset: "log", Table: "events_2025"}, "TABLE", time.Unix(1, 0), cols, mk("anonymous %d"))
	src.put(sqlscan.TableRef{Project: "p", Dataset: "log", Table: "events_2026"}, "TABLE", time.Unix(1, 0), cols, mk("u%d@example.com"))
	src.put(sqlscan.TableRef{Project: "p", Dataset: "log", Table: "other"}, "TABLE", time.Unix(1, 0), []string{"what"}, nil)
	src.put(sqlscan.TableRef{Project: "p", Dataset: "log", Table: "mixed_1"}, "TABLE", time.Unix(1, 0), cols, mk("v%d@example.com"))
	src.put(sqlscan.TableRef{Project: "p", Dataset: "log", Table: "mixed_view"}, "VIEW", time.Unix(1, 0), cols, nil)
	wild := func(table string) sqlscan.TableRef {
		return sqlscan.TableRef{Project: "p", Dataset: "log", Table: table}
	}
	got, err := New(src, localInspector(t), openStore(t), Options{}).ClassifyColumns(context.Background(), wild("events_*"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]policy.ProfiledColumn{"who": {InfoTypes: []string{"EMAIL_ADDRESS"}, SampledRows: 10, NonNull: 10, Matches: 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wildcard (-want, +got):\n%s", diff)
	}
	if _, err := New(src, localInspector(t), openStore(t), Options{}).Classify(context.Background(), wild("nothing_*")); err == nil {
		t.Error("a wildcard matching no table was classified")
	}
	if _, err := New(src, localInspector(t), openStore(t), Options{}).Classify(context.Background(), wild("mixed_*")); !errors.Is(err, ErrNotProfilable) {
		t.Errorf("a wildcard matching a view: err = %v, want ErrNotProfilable", err)
	}
	_, err = New(src, localInspector(t), openStore(t), Options{MaxWildcardTables: 1}).Classify(context.Background(), wild("events_*"))
	if err == nil || !strings.Contains(err.Error(), "more than 1 tables") {
		t.Errorf("a wildcard over 2 tables with a cap of 1: err = %v, want the cap named", err)
	}
}

func TestNameHint(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"contact": "", "mobile": "PHONE_NUMBER", "customerEmail": "EMAIL_ADDRESS", "cc_number": "CREDIT_CARD_NUMBER",
		"ssn2": "US_SOCIAL_SECURITY_NUMBER", "tax_id": "", "ip_addr": "IP_ADDRESS", "recipe": "", "CC": "CREDIT_CARD_NUMBER",
	} {
		if got := NameHint(name); got != want {
			t.Errorf("NameHint(%q) = %q, want %q", name, got, want)
		}
	}
}
