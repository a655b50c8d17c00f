package session_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// FuzzPaginate checks Paginate's invariants for any rows and caps: pages
// fit, are numbered from 0, hold the first `stored` rows in order and
// exactly, and truncated is set iff rows were left out.
func FuzzPaginate(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n3"), 20, 0, int64(0))
	f.Add([]byte("1\n22\n333\n4444"), 6, 2, int64(5))
	f.Fuzz(func(t *testing.T, in []byte, maxPage, maxRows int, maxBytes int64) {
		if maxPage < 2 || maxPage > 1<<16 || maxRows < 0 || maxBytes < 0 {
			t.Skip()
		}
		var rows []json.RawMessage
		for _, r := range bytes.Split(in, []byte("\n")) {
			if len(r) > 0 {
				rows = append(rows, json.RawMessage(r))
			}
		}
		pages, stored, truncated := session.Paginate(rows, session.PageCaps{MaxRows: int64(maxRows), MaxBytes: maxBytes, PageBytes: maxPage})
		for i, p := range pages {
			if p.Index != i || len(p.Rows) > maxPage || p.Count == 0 {
				t.Fatalf("page %d: index %d, %d bytes (max %d), count %d", i, p.Index, len(p.Rows), maxPage, p.Count)
			}
			if p.Rows[0] != '[' || p.Rows[len(p.Rows)-1] != ']' {
				t.Fatalf("page %d is not an array: %q", i, p.Rows)
			}
		}
		if stored > int64(len(rows)) || truncated != (stored < int64(len(rows))) {
			t.Fatalf("stored %d of %d rows, truncated %t", stored, len(rows), truncated)
		}
		if maxRows > 0 && stored > int64(maxRows) {
			t.Fatalf("stored %d rows over the cap %d", stored, maxRows)
		}
		var want, joined []byte
		var total int64
		for i := int64(0); i < stored; i++ {
			want = append(want, rows[i]...)
			total += int64(len(rows[i]))
		}
		if maxBytes > 0 && total > maxBytes {
			t.Fatalf("stored %d bytes over the cap %d", total, maxBytes)
		}
		n := 0
		for _, p := range pages {
			joined = append(joined, p.Rows[1:len(p.Rows)-1]...)
			n += p.Count
		}
		if int64(n) != stored {
			t.Fatalf("page counts sum to %d, stored %d", n, stored)
		}
		// Commas separate rows in a page; compare with them removed.
		if !bytes.Equal(bytes.ReplaceAll(joined, []byte(","), nil), bytes.ReplaceAll(want, []byte(","), nil)) {
			t.Fatalf("pages hold %q, want rows %q", joined, want)
		}
	})
}
