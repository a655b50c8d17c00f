package audit

// These tests run the Writer and Verify against goccy/bigquery-emulator in
// process (internal/bqlocal), through the same cloud.google.com/go/bigquery
// client the record step uses. They need cgo (CGO_ENABLED=1 CC=clang).
//
// What the emulator does not model, and so stays untested here: insertAll
// insertId de-duplication (the emulator stores every row it is sent, so the
// tests see every retried insert as an exact duplicate row, which Verify and
// the anchor must count once), partition
// pruning and clustering (metadata is stored, data is not laid out by it),
// and the streaming buffer's ban on UPDATE/DELETE for recent rows (the tamper
// test edits a row that real BigQuery would only let it edit ~30 minutes
// after the insert).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/querygate/querygate/internal/bqlocal"
	"github.com/querygate/querygate/internal/logging"
	"github.com/querygate/querygate/internal/session"
)

const (
	testProject = "querygate-audit-test"
	testDataset = "audit"
)

var (
	testClient   *bigquery.Client
	testEndpoint string
)

func TestMain(m *testing.M) {
	os.Exit(runWithEmulator(m))
}

func runWithEmulator(m *testing.M) int {
	ctx := context.Background()
	srv, err := bqlocal.Start(ctx, bqlocal.Options{Project: testProject, Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start bigquery emulator:", err)
		return 1
	}
	defer srv.Close()
	testEndpoint = srv.Endpoint()
	testClient, err = bqlocal.Client(ctx, srv.Endpoint(), testProject)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigquery client:", err)
		return 1
	}
	defer testClient.Close()
	return m.Run()
}

var tableN atomic.Int64

// newTable returns a Writer on a fresh audit table.
func newTable(t testing.TB) (*Writer, string) {
	t.Helper()
	table := fmt.Sprintf("events_%d", tableN.Add(1))
	w := NewWriter(testClient, testDataset, table)
	if err := w.EnsureTable(context.Background()); err != nil {
		t.Fatalf("EnsureTable: %v", err)
	}
	return w, table
}

// rowCounts returns "session:seq" -> number of rows.
func rowCounts(t *testing.T, table string) map[string]int64 {
	t.Helper()
	q := testClient.Query(fmt.Sprintf("SELECT session_id, seq, COUNT(*) FROM `%s.%s.%s` GROUP BY session_id, seq", testProject, testDataset, table))
	it, err := q.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for {
		var v []bigquery.Value
		err := it.Next(&v)
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%s:%d", v[0], v[1])] = v[2].(int64)
	}
}

func oneEach(ids map[string]int) map[string]int64 {
	out := map[string]int64{}
	for id, n := range ids {
		for i := 1; i <= n; i++ {
			out[fmt.Sprintf("%s:%d", id, i)] = 1
		}
	}
	return out
}

func TestEnsureTable(t *testing.T) {
	w, table := newTable(t)
	if err := w.EnsureTable(t.Context()); err != nil {
		t.Fatalf("second EnsureTable: %v", err)
	}
	md, err := testClient.Dataset(testDataset).Table(table).Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSchema(md.Schema); err != nil {
		t.Errorf("created table: %v", err)
	}
	if md.TimePartitioning == nil || md.TimePartitioning.Field != PartitionField {
		t.Errorf("time partitioning = %+v, want by day on %s", md.TimePartitioning, PartitionField)
	}
	if md.Clustering == nil || !cmp.Equal(md.Clustering.Fields, ClusteringFields) {
		t.Errorf("clustering = %+v, want %v", md.Clustering, ClusteringFields)
	}
}

// runSQL runs one statement on the emulator and waits for it.
func runSQL(t *testing.T, sql string, params ...bigquery.QueryParameter) {
	t.Helper()
	q := testClient.Query(sql)
	q.Parameters = params
	job, err := q.Run(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if st, err := job.Wait(t.Context()); err != nil || st.Err() != nil {
		t.Fatalf("%s: %v %v", sql, err, st)
	}
}

func TestWriteSessionIdempotentAndVerified(t *testing.T) {
	w, table := newTable(t)
	ctx := t.Context()
	s1, s2 := testSession("s1", 3), testSession("s2", 2)
	for _, s := range []*session.Session{s1, s2, s1, s2} { // each written twice by one Writer
		if err := w.WriteSession(ctx, s); err != nil {
			t.Fatalf("WriteSession(%s): %v", s.ID, err)
		}
	}
	if diff := cmp.Diff(oneEach(map[string]int{"s1": 3, "s2": 2}), rowCounts(t, table)); diff != "" {
		t.Errorf("rows per event after a repeat in one process (-want, +got):\n%s", diff)
	}
	// The session goes on: this Writer sends only the new event.
	s1.AddEvent(s1.Timeline[2].Time.Add(time.Second), "record", session.CompletedData{Status: "succeeded"})
	if err := w.WriteSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(oneEach(map[string]int{"s1": 4, "s2": 2}), rowCounts(t, table)); diff != "" {
		t.Errorf("rows per event (-want, +got):\n%s", diff)
	}
	// Another process re-sends all of s1 (BigQuery would drop them by
	// insertId; the emulator keeps them): exact duplicates still verify.
	if err := NewWriter(testClient, testDataset, table).WriteSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if got := rowCounts(t, table)["s1:1"]; got != 2 {
		t.Fatalf("the emulator should hold the re-sent row twice, holds %d", got)
	}
	var out strings.Builder
	if err := RunVerify(ctx, testClient, testDataset, table, &out); err != nil {
		t.Fatalf("RunVerify on an intact table: %v\n%s", err, out.String())
	}
	for _, want := range []string{"checked 10 rows, 1 days, 2 sessions, 0 day anchors", "no anchors table", "all chains and anchors intact"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("RunVerify output %q lacks %q", out.String(), want)
		}
	}
}

// TestWriterNeverQueries counts the API calls of one record step's audit
// write: one insertAll request for the whole session, no query, no read.
func TestWriterNeverQueries(t *testing.T) {
	_, table := newTable(t)
	client, cc := countingClient(t.Context(), t)
	w := NewWriter(client, testDataset, table)
	if err := w.WriteSession(t.Context(), testSession("s1", 6)); err != nil {
		t.Fatal(err)
	}
	if err := NewWriter(client, testDataset, table).WriteSession(t.Context(), testSession("s2", 3)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"insertAll": 2}, cc.snapshot()); diff != "" {
		t.Errorf("API calls for two sessions (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff(oneEach(map[string]int{"s1": 6, "s2": 3}), rowCounts(t, table)); diff != "" {
		t.Errorf("rows per event (-want, +got):\n%s", diff)
	}
}

func TestWriteSessionBatchesLargeSessions(t *testing.T) {
	w, table := newTable(t)
	var sizes []int
	real := w.put
	w.put = func(ctx context.Context, rows []*Row) error {
		sizes = append(sizes, len(rows))
		return real(ctx, rows)
	}
	if err := w.WriteSession(t.Context(), testSession("big", maxBatchRows+3)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{maxBatchRows, 3}, sizes); diff != "" {
		t.Errorf("insertAll batch sizes (-want, +got):\n%s", diff)
	}
	if n := len(rowCounts(t, table)); n != maxBatchRows+3 {
		t.Errorf("%d events stored, want %d", n, maxBatchRows+3)
	}
}

// TestWriteSessionRetries checks the bounded retry: transient failures are
// retried with the same rows and doubling waits (an injected sleep, no
// wall clock), a permanent refusal is not, and exhausting the attempts
// fails the write (results stay unreleased).
func TestWriteSessionRetries(t *testing.T) {
	transient := &googleapi.Error{Code: http.StatusServiceUnavailable}
	for _, tc := range []struct {
		name      string
		fails     []error // errors of the first attempts, then success
		wantErr   bool
		wantTries int
		wantWaits []time.Duration
	}{
		{"success first", nil, false, 1, nil},
		{"two transient failures", []error{transient, errors.New("connection reset")}, false, 3, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"always failing", []error{transient, transient, transient, transient, transient}, true, 4, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
		{"invalid request", []error{&googleapi.Error{Code: http.StatusBadRequest}}, true, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, table := newTable(t)
			var waits []time.Duration
			w.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			real, tries := w.put, 0
			var ids []string
			w.put = func(ctx context.Context, rows []*Row) error {
				tries++
				ids = append(ids, rows[0].InsertID())
				if tries <= len(tc.fails) {
					return tc.fails[tries-1]
				}
				return real(ctx, rows)
			}
			err := w.WriteSession(t.Context(), testSession("s1", 2))
			if (err != nil) != tc.wantErr {
				t.Fatalf("WriteSession err = %v, want error %t", err, tc.wantErr)
			}
			if tries != tc.wantTries {
				t.Errorf("%d attempts, want %d", tries, tc.wantTries)
			}
			if diff := cmp.Diff(tc.wantWaits, waits); diff != "" {
				t.Errorf("waits (-want, +got):\n%s", diff)
			}
			for _, id := range ids {
				if id != "s1:1" {
					t.Errorf("attempt sent insert id %s first, want s1:1 every time", id)
				}
			}
			want := oneEach(map[string]int{"s1": 2})
			if tc.wantErr {
				want = map[string]int64{}
			}
			if diff := cmp.Diff(want, rowCounts(t, table)); diff != "" {
				t.Errorf("rows (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestWriteSessionLogsChainHead checks each session chain's head is logged
// after its write: the copy outside the table that shows a removed tail.
func TestWriteSessionLogsChainHead(t *testing.T) {
	w, _ := newTable(t)
	var buf strings.Builder
	ctx := logging.WithLogger(t.Context(), slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, s := range []*session.Session{testSession("s1", 2), testSession("s2", 3), testSession("s1", 2)} {
		if err := w.WriteSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var heads []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Day     string `json:"chain_day"`
			Session string `json:"session_id"`
			Seq     int64  `json:"seq"`
			Hash    string `json:"event_hash"`
			Rows    int    `json:"rows"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "audit chain head" && len(rec.Hash) == 64 {
			heads = append(heads, fmt.Sprintf("%s %s:%d rows=%d", rec.Day, rec.Session, rec.Seq, rec.Rows))
		}
	}
	// The repeat of s1 sends nothing and logs nothing.
	want := []string{"2026-11-28 s1:2 rows=2", "2026-11-28 s2:3 rows=3"}
	if diff := cmp.Diff(want, heads); diff != "" {
		t.Errorf("logged chain heads (-want, +got):\n%s", diff)
	}
}

func TestVerifyNamesTamperedRow(t *testing.T) {
	w, table := newTable(t)
	ctx := t.Context()
	for _, s := range []*session.Session{testSession("s1", 3), testSession("s2", 3)} {
		if err := w.WriteSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	runSQL(t, fmt.Sprintf("UPDATE `%s.%s.%s` SET actor = 'mallory@example.com' WHERE session_id = 's2' AND seq = 2", testProject, testDataset, table))
	var out strings.Builder
	err := RunVerify(ctx, testClient, testDataset, table, &out)
	if !errors.Is(err, ErrChainBroken) {
		t.Fatalf("RunVerify err = %v, want ErrChainBroken\n%s", err, out.String())
	}
	if want := "session s2 event 2 (insert id s2:2): row changed"; !strings.Contains(err.Error(), want) {
		t.Errorf("RunVerify err = %q, want it to name %q", err, want)
	}
	if !strings.Contains(out.String(), "BROKEN day 2026-11-28: session s2 event 2") {
		t.Errorf("RunVerify output does not name the row:\n%s", out.String())
	}
}

// TestCrashMidWrite fails the batch in three ways, then reruns it with a
// new Writer (a restarted record step): every event must be stored, any
// duplicate must be exact, and the chains must hold.
func TestCrashMidWrite(t *testing.T) {
	modes := []struct {
		name string
		put  func(real func(context.Context, []*Row) error, cancel context.CancelFunc) func(context.Context, []*Row) error
	}{
		{"error before the insert", func(real func(context.Context, []*Row) error, _ context.CancelFunc) func(context.Context, []*Row) error {
			return func(ctx context.Context, rows []*Row) error { return errors.New("injected crash") }
		}},
		{"insert lands but reports failure", func(real func(context.Context, []*Row) error, _ context.CancelFunc) func(context.Context, []*Row) error {
			return func(ctx context.Context, rows []*Row) error {
				if err := real(ctx, rows); err != nil {
					return err
				}
				return errors.New("injected timeout after the insert landed")
			}
		}},
		{"context cancelled before the insert", func(real func(context.Context, []*Row) error, cancel context.CancelFunc) func(context.Context, []*Row) error {
			return func(ctx context.Context, rows []*Row) error {
				cancel()
				return real(ctx, rows)
			}
		}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			w, table := newTable(t)
			if err := w.WriteSession(t.Context(), testSession("before", 2)); err != nil {
				t.Fatal(err)
			}
			s := testSession("crash", 4)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			crashing := NewWriter(testClient, testDataset, table)
			crashing.sleep = func(context.Context, time.Duration) error { return nil }
			crashing.now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
			crashing.put = mode.put(crashing.put, cancel)
			if err := crashing.WriteSession(ctx, s); err == nil {
				t.Fatal("WriteSession with an injected crash returned nil: results would be released")
			}
			rerun := NewWriter(testClient, testDataset, table)
			rerun.now = func() time.Time { return time.Date(2026, 11, 28, 12, 5, 0, 0, time.UTC) }
			if err := rerun.WriteSession(t.Context(), s); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			counts := rowCounts(t, table)
			for i := 1; i <= 4; i++ {
				if counts[fmt.Sprintf("crash:%d", i)] < 1 {
					t.Errorf("event crash:%d not stored after the rerun: %v", i, counts)
				}
			}
			rep, err := Verify(t.Context(), testClient, testDataset, table)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Sessions != 2 {
				t.Errorf("after crash and rerun: %d sessions, problems %v; want 2 and none", rep.Sessions, rep.Problems)
			}
		})
	}
}

// TestVerifyReportsDivergedDuplicate: a second row for an event with other
// contents (a forged or rewritten event) is reported, where an exact
// duplicate is not.
func TestVerifyReportsDivergedDuplicate(t *testing.T) {
	w, table := newTable(t)
	ctx := t.Context()
	s := testSession("s1", 2)
	if err := w.WriteSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	forged := testSession("s1", 2)
	forged.Timeline = nil
	forged.AddEvent(s.Timeline[0].Time, "mallory@example.com", session.ReceivedData{})
	if err := NewWriter(testClient, testDataset, table).WriteSession(ctx, forged); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, testClient, testDataset, table)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Problems[0].Reason, "session s1 holds event 1 twice, with different contents") {
		t.Errorf("Verify problems = %v, want a diverged duplicate of s1 event 1", rep.Problems)
	}
	if err := CompareSession(ctx, testClient, testDataset, table, s); !errors.Is(err, ErrDiverged) {
		t.Errorf("CompareSession err = %v, want ErrDiverged", err)
	}
}

// TestVerifyDays writes a session that spans midnight and one on each day,
// removes a middle row of the spanning session, and checks that only a
// range covering that day reports it, while the second day alone verifies
// (the spanning session is checked from its first event in range).
func TestVerifyDays(t *testing.T) {
	w, table := newTable(t)
	ctx := t.Context()
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	mk := func(id string, times ...time.Time) *session.Session {
		s := &session.Session{ID: id, Principal: session.Principal{Email: "alice@example.com"}}
		for _, tm := range times {
			s.AddEvent(tm, "alice@example.com", session.ReceivedData{})
		}
		return s
	}
	for _, s := range []*session.Session{mk("d1", at(27, 9), at(27, 10)), mk("span", at(27, 22), at(27, 23), at(28, 1)), mk("d2", at(28, 9), at(28, 10))} {
		if err := w.WriteSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	day1, day2 := civil.Date{Year: 2026, Month: 11, Day: 27}, civil.Date{Year: 2026, Month: 11, Day: 28}
	for _, tc := range []struct {
		from, to civil.Date
		rows     int
	}{{day1, day2, 7}, {day2, day2, 3}, {day1, day1, 4}, {civil.Date{}, civil.Date{}, 7}} {
		rep, err := VerifyDays(ctx, testClient, testDataset, table, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Rows != tc.rows {
			t.Errorf("VerifyDays(%s, %s) on an intact table: %d rows, problems %v; want %d rows, none", tc.from, tc.to, rep.Rows, rep.Problems, tc.rows)
		}
	}
	runSQL(t, fmt.Sprintf("DELETE FROM `%s.%s.%s` WHERE session_id = 'span' AND seq = 2", testProject, testDataset, table))
	rep, err := VerifyDays(ctx, testClient, testDataset, table, day2, day2)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("day 2 alone reports problems of day 1: %v", rep.Problems)
	}
	var out strings.Builder
	err = RunVerifyDays(ctx, testClient, testDataset, table, day1, day2, &out)
	if want := "day 2026-11-28: session span event 3 (insert id span:3): session span is missing events: expected event 2, found 3"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RunVerifyDays over both days err = %v, want it to name %q\n%s", err, want, out.String())
	}
}

func TestCompareSession(t *testing.T) {
	w, table := newTable(t)
	ctx := t.Context()
	s := testSession("s1", 3)
	if err := w.WriteSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := CompareSession(ctx, testClient, testDataset, table, s); err != nil {
		t.Errorf("CompareSession of the audited session: %v", err)
	}

	// A store rewritten with a consistent chain of its own.
	rewritten := testSession("s1", 3)
	rewritten.Timeline = nil
	for i := 0; i < 3; i++ {
		rewritten.AddEvent(s.Timeline[i].Time, "mallory@example.com", session.ReceivedData{})
	}
	if rewritten.VerifyChain() != 0 {
		t.Fatal("rewritten chain should verify on its own")
	}
	longer := testSession("s1", 4)
	shorter := testSession("s1", 2)
	for _, tc := range []struct {
		name string
		s    *session.Session
		want string
	}{
		{"rewritten", rewritten, "session s1 event 1: audit row has hash"},
		{"event not audited", longer, "session s1 event 4 has no audit row"},
		{"event dropped from the store", shorter, "the audit table holds event 3, which the store lacks"},
	} {
		err := CompareSession(ctx, testClient, testDataset, table, tc.s)
		if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CompareSession err = %v, want ErrDiverged naming %q", tc.name, err, tc.want)
		}
	}
}

// TestLegacyTable opens a table created before the hash_version column, as
// a data dir from before typed payloads holds it. The legacy rows in it
// verify. EnsureTable asks BigQuery to add the column; the emulator ignores
// that request (its tables.patch does not change the schema), and
// EnsureTable must then fail naming the column rather than let writes
// start on a table that lacks it. That real BigQuery adds a NULLABLE
// column on patch is not tested here.
func TestLegacyTable(t *testing.T) {
	ctx := t.Context()
	table := fmt.Sprintf("events_%d", tableN.Add(1))
	ref := testClient.Dataset(testDataset).Table(table)
	if err := NewWriter(testClient, testDataset, table).EnsureTable(ctx); err != nil { // creates the dataset
		t.Fatal(err)
	}
	if err := ref.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ref.Create(ctx, &bigquery.TableMetadata{Schema: Schema()[:legacyColumns]}); err != nil {
		t.Fatal(err)
	}
	ins := ref.Inserter()
	for _, r := range legacyRows(t) {
		m, id, _ := r.Save()
		delete(m, colHashVersion)
		if err := ins.Put(ctx, &bigquery.ValuesSaver{Schema: Schema()[:legacyColumns], InsertID: id, Row: valuesOf(m, legacyColumns)}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(ctx, testClient, testDataset, table)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Rows != 11 || rep.Sessions != 2 {
		t.Errorf("legacy table: %d rows, %d sessions, problems %v; want 11, 2 and none", rep.Rows, rep.Sessions, rep.Problems)
	}
	err = NewWriter(testClient, testDataset, table).EnsureTable(ctx)
	if md, _ := ref.Metadata(ctx); md != nil && len(md.Schema) == len(Schema()) {
		// A BigQuery that applied the patch: the table is current.
		if err != nil || checkSchema(md.Schema) != nil {
			t.Errorf("EnsureTable added the column but: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), colHashVersion) {
		t.Errorf("EnsureTable on a legacy table whose patch did not take: err = %v, want ErrSchemaMismatch naming %s", err, colHashVersion)
	}
}

// valuesOf lists m's values in the order of the first n schema columns.
func valuesOf(m map[string]bigquery.Value, n int) []bigquery.Value {
	var out []bigquery.Value
	for _, f := range Schema()[:n] {
		out = append(out, m[f.Name])
	}
	return out
}

func TestWriteSessionRejectsUnknownKeys(t *testing.T) {
	w, table := newTable(t)
	s := testSession("s1", 2)
	e := &s.Timeline[1]
	e.Data = json.RawMessage(`{"job_id":"j","bytes_processed":1,"cell":"x"}`)
	e.Hash = session.EventHash(s.ID, *e)
	if err := w.WriteSession(t.Context(), s); !errors.Is(err, session.ErrInvalidEvent) {
		t.Errorf("WriteSession err = %v, want ErrInvalidEvent", err)
	}
	// Every row is built before any is sent: nothing of the session is stored.
	if diff := cmp.Diff(map[string]int64{}, rowCounts(t, table)); diff != "" {
		t.Errorf("rows written (-want, +got):\n%s", diff)
	}
}
