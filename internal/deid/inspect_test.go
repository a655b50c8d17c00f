package deid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/deid"
)

// inspectCells holds one cell per built-in infoType, a cell with two, and
// cells with none.
var inspectCells = []string{
	"write to ana.lima@example.org",
	"(415) 555-0134",
	"4111 1111 1111 1111",
	"219-09-9999",
	"from 10.0.0.1",
	"GB82WEST12345698765432",
	"ana@example.org or 219-09-9999",
	"nothing here",
	"",
}

var inspectWant = [][]string{
	{"EMAIL_ADDRESS"},
	{"PHONE_NUMBER"},
	{"CREDIT_CARD_NUMBER"},
	{"US_SOCIAL_SECURITY_NUMBER"},
	{"IP_ADDRESS"},
	{"IBAN_CODE"},
	{"EMAIL_ADDRESS", "US_SOCIAL_SECURITY_NUMBER"},
	nil,
	nil,
}

func TestLocalInspect(t *testing.T) {
	t.Parallel()
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Inspect(context.Background(), inspectCells)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inspectWant, got); diff != "" {
		t.Errorf("Local.Inspect (-want, +got):\n%s", diff)
	}
}

// TestDLPInspect sends the same cells through the DLP adapter to the fake's
// InspectContent: the answer must match the local engine's, cell by cell,
// and no request may ask for quotes.
func TestDLPInspect(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	got, err := d.Inspect(context.Background(), inspectCells)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inspectWant, got); diff != "" {
		t.Errorf("DLP.Inspect (-want, +got):\n%s", diff)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d InspectContent calls for %d cells, want 1", n, len(inspectCells))
	}
}

// TestDLPInspectSplitsTruncated: a batch of 500 cells of five findings each
// exceeds the 2,000 findings DLP returns for one request, so the answer is
// truncated; the adapter splits until none is, and counts every cell.
func TestDLPInspectSplitsTruncated(t *testing.T) {
	t.Parallel()
	d, srv := newFakeDLP(t, deid.DLPOptions{})
	cells := make([]string, 1200)
	for i := range cells {
		cells[i] = fmt.Sprintf("u%d@example.com paid with 4111 1111 1111 1111, ssn 219-09-9999 from 10.0.0.1 to GB82WEST12345698765432", i)
	}
	got, err := d.Inspect(context.Background(), cells)
	if err != nil {
		t.Fatal(err)
	}
	for i, its := range got {
		if strings.Join(its, ",") != "CREDIT_CARD_NUMBER,EMAIL_ADDRESS,IBAN_CODE,IP_ADDRESS,US_SOCIAL_SECURITY_NUMBER" {
			t.Fatalf("cell %d: %v", i, its)
		}
	}
	// 500 (truncated) -> 250 + 250, twice, then 200: seven calls.
	if n := len(srv.Calls()); n != 7 {
		t.Errorf("%d InspectContent calls, want 7 (two truncated batches of 500 split in halves, then 200)", n)
	}
}
