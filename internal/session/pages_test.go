package session_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

func TestPaginate(t *testing.T) {
	t.Parallel()
	rows := []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"a":22}`), json.RawMessage(`{"a":333}`)}
	type page struct {
		Rows  string
		Count int
	}
	cases := []struct {
		name      string
		caps      session.PageCaps
		want      []page
		stored    int64
		truncated bool
	}{
		{"no caps one page", session.PageCaps{PageBytes: 1000}, []page{{`[{"a":1},{"a":22},{"a":333}]`, 3}}, 3, false},
		{"page size splits", session.PageCaps{PageBytes: 20}, []page{{`[{"a":1},{"a":22}]`, 2}, {`[{"a":333}]`, 1}}, 3, false},
		{"page rows split", session.PageCaps{PageRows: 2}, []page{{`[{"a":1},{"a":22}]`, 2}, {`[{"a":333}]`, 1}}, 3, false},
		{"row cap", session.PageCaps{MaxRows: 2, PageBytes: 1000}, []page{{`[{"a":1},{"a":22}]`, 2}}, 2, true},
		{"byte cap", session.PageCaps{MaxBytes: 15, PageBytes: 1000}, []page{{`[{"a":1},{"a":22}]`, 2}}, 2, true},
		{"row larger than a page", session.PageCaps{PageBytes: 9}, []page{{`[{"a":1}]`, 1}}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pages, stored, truncated := session.Paginate(rows, tc.caps)
			var got []page
			for i, p := range pages {
				if p.Index != i {
					t.Errorf("page %d has index %d", i, p.Index)
				}
				if tc.caps.PageBytes > 0 && len(p.Rows) > tc.caps.PageBytes {
					t.Errorf("page %d is %d bytes, over %d", i, len(p.Rows), tc.caps.PageBytes)
				}
				got = append(got, page{string(p.Rows), p.Count})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pages (-want, +got):\n%s", diff)
			}
			if stored != tc.stored || truncated != tc.truncated {
				t.Errorf("stored %d truncated %t, want %d %t", stored, truncated, tc.stored, tc.truncated)
			}
		})
	}
}

func TestRowEncoderKeepsColumnOrder(t *testing.T) {
	t.Parallel()
	enc := session.NewRowEncoder([]string{"z", "a", "é\"q"})
	got, err := enc.Encode([]any{int64(1), nil, "x<y"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"z":1,"a":null,"é\"q":"x\u003cy"}`; string(got) != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
	_, err = enc.Encode([]any{make(chan int), nil, nil})
	if err == nil || !strings.Contains(err.Error(), "column z") {
		t.Errorf("unsupported value: err = %v", err)
	}
}
