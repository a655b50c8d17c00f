package deid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/dlpfake"
)

const parent = "projects/test/locations/global"

func newFakeDLP(t *testing.T, o deid.DLPOptions) (*deid.DLP, *dlpfake.Server) {
	t.Helper()
	srv, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if o.InitialBackoff == 0 {
		o.InitialBackoff = time.Millisecond
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = 600_000 // the fake has no quota; pacing is not under test here
	}
	d, err := deid.NewDLPWithOptions(context.Background(), deid.DefaultConfig(), parent, o, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	return d, srv
}

// bigTable has rows x 10 columns; every 20th row's note holds an e-mail.
func bigTable(rows int) (*deid.Table, []string) {
	t := &deid.Table{}
	for c := 0; c < 10; c++ {
		t.Headers = append(t.Headers, fmt.Sprintf("col%d", c))
	}
	var emails []string
	for r := 0; r < rows; r++ {
		row := make([]deid.Value, 10)
		for c := range row {
			row[c] = fmt.Sprintf("r%d c%d value text", r, c)
		}
		row[0] = int64(r)
		if r%20 == 0 {
			e := fmt.Sprintf("user%d@example.com", r)
			emails = append(emails, e)
			row[3] = "contact " + e
		}
		t.Rows = append(t.Rows, row)
	}
	return t, emails
}

func checkLimits(t *testing.T, calls []dlpfake.Call) {
	t.Helper()
	for i, c := range calls {
		if c.Bytes > dlpfake.Default.RequestBytes || c.Values > dlpfake.Default.Values || c.Transformations > dlpfake.Default.Transformations {
			t.Errorf("call %d over a limit: %v", i, c)
		}
		if c.Code == codes.OK && c.Findings > dlpfake.Default.Findings {
			t.Errorf("call %d accepted over the findings limit: %v", i, c)
		}
	}
}

// Acceptance: a 200,000-cell table goes out in at least 4 requests, none over
// a limit, and comes back complete and in order.
func TestDLPBatches200kCells(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	tbl, emails := bigTable(20_000)
	out, st, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	checkLimits(t, calls)
	ok := 0
	for _, c := range calls {
		if c.Code == codes.OK {
			ok++
		}
	}
	if ok < 4 {
		t.Errorf("%d accepted requests, want at least 4: %v", ok, calls)
	}
	t.Logf("%d requests: %v", len(calls), calls)
	if len(out.Rows) != len(tbl.Rows) {
		t.Fatalf("%d rows back, want %d", len(out.Rows), len(tbl.Rows))
	}
	for r, row := range out.Rows {
		if row[0] != int64(r) {
			t.Fatalf("row %d came back as id %v: order lost", r, row[0])
		}
		if want := fmt.Sprintf("r%d c9 value text", r); row[9] != want {
			t.Fatalf("row %d col9 = %v, want %q", r, row[9], want)
		}
		if r%20 == 0 && row[3] != "contact [EMAIL_ADDRESS]" {
			t.Fatalf("row %d col3 = %v", r, row[3])
		}
	}
	if st.Findings["EMAIL_ADDRESS"] != int64(len(emails)) || st.Cells != 200_000 {
		t.Errorf("stats = %+v, want %d e-mail findings and 200000 cells", st, len(emails))
	}
}

// The findings limit cannot be known in advance: a dense table trips it and
// the adapter splits until every request passes.
func TestDLPSplitsOnFindingsLimit(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	tbl := &deid.Table{Headers: []string{"a", "b"}}
	for r := 0; r < 4000; r++ {
		tbl.Rows = append(tbl.Rows, []deid.Value{fmt.Sprintf("u%d@example.com", r), "10.0.0.1"})
	}
	out, st, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	checkLimits(t, calls)
	rejected := 0
	for _, c := range calls {
		if c.Code == codes.InvalidArgument {
			rejected++
		}
	}
	if rejected == 0 {
		t.Errorf("no request hit the findings limit; the test does not exercise splitting: %v", calls)
	}
	if st.Findings["EMAIL_ADDRESS"] != 4000 || st.Findings["IP_ADDRESS"] != 4000 {
		t.Errorf("findings = %v", st.Findings)
	}
	for r, row := range out.Rows {
		if row[0] != "[EMAIL_ADDRESS]" || row[1] != "[IP_ADDRESS]" {
			t.Fatalf("row %d = %v", r, row)
		}
	}
}

// Acceptance: an injected limit error causes a split, not a failure.
func TestDLPInjectedLimitErrorSplits(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	srv.Inject(func(n int, req *dlppb.DeidentifyContentRequest) error {
		if n == 1 {
			return status.Error(codes.InvalidArgument, "Too many findings to de-identify. Retry with a smaller request.")
		}
		return nil
	})
	tbl, _ := bigTable(100)
	out, _, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err != nil {
		t.Fatalf("limit error was not absorbed by a split: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 3 || calls[0].Code != codes.InvalidArgument || calls[1].Rows+calls[2].Rows != 100 {
		t.Errorf("calls = %v, want one rejected 100-row request then two halves", calls)
	}
	if out.Rows[0][3] != "contact [EMAIL_ADDRESS]" || out.Rows[99][9] != "r99 c9 value text" {
		t.Errorf("rows not de-identified in order: %v / %v", out.Rows[0], out.Rows[99])
	}
}

func TestDLPRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	srv.Inject(func(n int, _ *dlppb.DeidentifyContentRequest) error {
		if n <= 2 {
			return status.Error([]codes.Code{codes.Unavailable, codes.ResourceExhausted}[n-1], "try later")
		}
		return nil
	})
	tbl, _ := bigTable(10)
	out, _, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != 3 {
		t.Errorf("%d calls, want 3 (two transient failures, one success)", n)
	}
	if out.Rows[0][3] != "contact [EMAIL_ADDRESS]" {
		t.Errorf("row 0 = %v", out.Rows[0])
	}
}

func TestDLPFailsClosed(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{MaxAttempts: 2})
	srv.Inject(func(n int, _ *dlppb.DeidentifyContentRequest) error {
		if n == 1 {
			return status.Error(codes.PermissionDenied, "caller lacks permission; content: user0@example.com")
		}
		return status.Error(codes.Unavailable, "down")
	})
	tbl, _ := bigTable(10)
	out, st, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl})
	if err == nil || out != nil || st != nil {
		t.Fatalf("got table %v, stats %v, err %v; want only an error", out, st, err)
	}
	if strings.Contains(err.Error(), "user0@") {
		t.Errorf("error leaks a cell value: %v", err)
	}
}

// Lineage columns go to DLP as a whole-field replace (DLP refuses
// replace_with_info_type there; the fake models that).
func TestDLPLineageColumns(t *testing.T) {
	t.Parallel()
	d, _ := newFakeDLP(t, deid.DLPOptions{})
	out, st, err := d.Deidentify(context.Background(), &deid.Request{
		Table:           &deid.Table{Headers: []string{"name", "note"}, Rows: [][]deid.Value{{"Jane Doe", "a@b.io"}}},
		ColumnInfoTypes: map[string][]string{"name": {"PERSON_NAME"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]deid.Value{{"[PERSON_NAME]", "[EMAIL_ADDRESS]"}}, out.Rows); diff != "" {
		t.Errorf("rows (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"name"}, st.MaskedColumns); diff != "" {
		t.Errorf("masked (-want, +got):\n%s", diff)
	}
}

// Conformance: both implementations of the port give the same result.
func TestDeidentifierConformance(t *testing.T) {
	t.Parallel()
	local, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cloud, _ := newFakeDLP(t, deid.DLPOptions{})
	req := &deid.Request{
		Table: &deid.Table{Headers: []string{"id", "email_hash", "note", "amount", "ok", "when"}, Rows: [][]deid.Value{
			{int64(1), "x", "mail jane@example.com or 415-555-0123", 1.5, true, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
			{int64(2), nil, "nothing", nil, false, nil},
			{int64(3), "y", "card 4111 1111 1111 1111 ip 10.1.2.3", -2.25, true, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		}},
		ColumnInfoTypes: map[string][]string{"email_hash": {"EMAIL_ADDRESS"}},
	}
	want := [][]deid.Value{
		{int64(1), "[EMAIL_ADDRESS]", "mail [EMAIL_ADDRESS] or [PHONE_NUMBER]", 1.5, true, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{int64(2), "[EMAIL_ADDRESS]", "nothing", nil, false, nil},
		{int64(3), "[EMAIL_ADDRESS]", "card [CREDIT_CARD_NUMBER] ip [IP_ADDRESS]", -2.25, true, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
	}
	for name, d := range map[string]deid.Deidentifier{"local": local, "dlp": cloud} {
		out, _, err := d.Deidentify(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, out.Rows); diff != "" {
			t.Errorf("%s rows (-want, +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(req.Table.Headers, out.Headers); diff != "" {
			t.Errorf("%s headers (-want, +got):\n%s", name, diff)
		}
	}
}

// Concurrency is bounded: with slow answers, the fake never sees more than
// Concurrency requests at once (and does see more than one).
func TestDLPBoundsConcurrency(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{Concurrency: 3, CellsPerRequest: 200})
	srv.Inject(func(int, *dlppb.DeidentifyContentRequest) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	tbl, _ := bigTable(400) // 4,000 cells at 200 a request: 20 requests
	if _, _, err := d.Deidentify(context.Background(), &deid.Request{Table: tbl}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != 20 {
		t.Errorf("%d requests, want 20", n)
	}
	if m := srv.MaxInFlight(); m > 3 || m < 2 {
		t.Errorf("max in flight = %d, want 2..3", m)
	}
}

// Tokens made through DLP come back through DLP's ReidentifyContent, free-text
// surrogates and whole-cell tokens alike, with the same batching.
func TestDLPReidentifyRoundTrip(t *testing.T) {
	t.Parallel()
	srv, conn, stop, err := dlpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg, err := deid.LoadConfig([]byte(`
deidentifyConfig:
  recordTransformations:
    fieldTransformations:
    - fields: [{name: customer}]
      primitiveTransformation:
        cryptoDeterministicConfig:
          cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}
    - fields: [{name: note}]
      infoTypeTransformations:
        transformations:
        - infoTypes: [{name: EMAIL_ADDRESS}]
          primitiveTransformation:
            cryptoDeterministicConfig:
              cryptoKey: {unwrapped: {key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}}
              surrogateInfoType: {name: EMAIL_TOKEN}
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := deid.NewDLPWithOptions(context.Background(), cfg, parent,
		deid.DLPOptions{InitialBackoff: time.Millisecond, RequestsPerMinute: 600_000, CellsPerRequest: 1000}, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	in := &deid.Table{Headers: []string{"customer", "note"}}
	for r := 0; r < 1200; r++ {
		in.Rows = append(in.Rows, []deid.Value{fmt.Sprintf("Customer %d", r), fmt.Sprintf("write to u%d@example.com soon", r)})
	}
	masked, _, err := d.Deidentify(context.Background(), &deid.Request{Table: in})
	if err != nil {
		t.Fatal(err)
	}
	if s := masked.Rows[7][1].(string); !strings.Contains(s, "EMAIL_TOKEN(40):") || strings.Contains(s, "u7@") {
		t.Fatalf("note not tokenised: %q", s)
	}
	if s := masked.Rows[7][0].(string); s == "Customer 7" || strings.Contains(s, "(") {
		t.Fatalf("customer not tokenised as a bare token: %q", s)
	}
	before := len(srv.Calls())
	back, err := d.Reidentify(context.Background(), masked)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Rows, back.Rows); diff != "" {
		t.Errorf("round trip (-want, +got):\n%s", diff)
	}
	if n := len(srv.Calls()) - before; n < 3 {
		t.Errorf("%d ReidentifyContent requests for 2,400 cells at 1,000 a request, want at least 3", n)
	}
}
