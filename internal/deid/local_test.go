package deid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDeidentifyRejectsRaggedRows(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"a", "b"}, Rows: [][]Value{{"x", "y"}, {"jane@example.com"}}}})
	if !errors.Is(err, ErrTable) || out != nil || st != nil {
		t.Fatalf("got %v, %v, %v; want only ErrTable", out, st, err)
	}
}

func TestDeidentifyHonoursCancellation(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(DefaultConfig(), WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	tbl := &Table{Headers: []string{"a"}}
	for i := 0; i < 5000; i++ {
		tbl.Rows = append(tbl.Rows, []Value{fmt.Sprintf("row %d a%d@example.com", i, i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, _, err := l.Deidentify(ctx, &Request{Table: tbl})
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Fatalf("got table %v, err %v; want context.Canceled and no table", out != nil, err)
	}
}

// Many workers, many chunks: row order is kept and every row is processed.
func TestDeidentifyKeepsOrderAcrossWorkers(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(DefaultConfig(), WithWorkers(7))
	if err != nil {
		t.Fatal(err)
	}
	tbl := &Table{Headers: []string{"id", "note"}}
	for i := 0; i < 3001; i++ {
		tbl.Rows = append(tbl.Rows, []Value{int64(i), fmt.Sprintf("n%d 10.0.%d.%d", i, i/256%256, i%256)})
	}
	out, st, err := l.Deidentify(context.Background(), &Request{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out.Rows {
		if r[0] != int64(i) || r[1] != fmt.Sprintf("n%d [IP_ADDRESS]", i) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
	if st.Findings["IP_ADDRESS"] != 3001 || st.Rows != 3001 || st.Cells != 6002 {
		t.Errorf("stats = %+v", st)
	}
	if tbl.Rows[5][1] != "n5 10.0.0.5" {
		t.Errorf("input modified: %v", tbl.Rows[5])
	}
}

// A large cell with thousands of findings stays fast enough (bounded extra
// search) and every finding is masked.
func TestManyFindingsInOneCell(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "u%d@example.com, ", i)
	}
	out, st, err := l.Deidentify(context.Background(), &Request{Table: &Table{Headers: []string{"c"}, Rows: [][]Value{{b.String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Findings["EMAIL_ADDRESS"] != 20000 || strings.Contains(out.Rows[0][0].(string), "@") {
		t.Errorf("findings %v; output still has an address: %v", st.Findings, strings.Contains(out.Rows[0][0].(string), "@"))
	}
}
