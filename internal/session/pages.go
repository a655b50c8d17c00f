package session

import (
	"encoding/json"
	"fmt"
)

// RowEncoder encodes result rows as JSON objects whose keys follow the
// schema's column order; these are the exact bytes served, stored and
// replayed.
type RowEncoder struct {
	headers []string
	keys    [][]byte
}

// NewRowEncoder returns an encoder for the columns in headers.
func NewRowEncoder(headers []string) *RowEncoder {
	e := &RowEncoder{headers: headers, keys: make([][]byte, len(headers))}
	for i, h := range headers {
		e.keys[i], _ = json.Marshal(h)
	}
	return e
}

// Encode returns row (one value per header) as a JSON object. The error
// names the column and the value's type, never the value.
func (e *RowEncoder) Encode(row []any) (json.RawMessage, error) {
	b := []byte{'{'}
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.keys[i]...)
		b = append(b, ':')
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode column %s: unsupported value type %T", e.headers[i], v)
		}
		b = append(b, vb...)
	}
	return append(b, '}'), nil
}

// PageCaps bound how a session's rows are stored.
type PageCaps struct {
	// MaxRows and MaxBytes cap the rows and the bytes of rows stored per
	// session; 0 means no cap.
	MaxRows  int64
	MaxBytes int64
	// PageRows and PageBytes bound one page (0: no bound); PageBytes must
	// fit the store's document limit (MaxPageBytes for Firestore).
	PageRows  int
	PageBytes int
}

// Paginate packs rows (each one JSON value) into pages whose Rows are JSON
// arrays, stopping at the caps. It returns the pages, the number of rows
// they hold and whether rows were left out. A single row larger than a
// page is never stored and makes the result truncated.
func Paginate(rows []json.RawMessage, c PageCaps) (pages []*Page, stored int64, truncated bool) {
	var cur []byte
	count := 0
	var total int64
	flush := func() {
		if count == 0 {
			return
		}
		cur = append(cur, ']')
		pages = append(pages, &Page{Index: len(pages), Rows: json.RawMessage(cur), Count: count})
		cur, count = nil, 0
	}
	for _, r := range rows {
		if (c.MaxRows > 0 && stored >= c.MaxRows) ||
			(c.PageBytes > 0 && len(r)+2 > c.PageBytes) ||
			(c.MaxBytes > 0 && total+int64(len(r)) > c.MaxBytes) {
			truncated = true
			break
		}
		if count > 0 && ((c.PageBytes > 0 && len(cur)+1+len(r)+1 > c.PageBytes) || (c.PageRows > 0 && count >= c.PageRows)) {
			flush()
		}
		if count == 0 {
			cur = append(cur, '[')
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, r...)
		count++
		stored++
		total += int64(len(r))
	}
	flush()
	return pages, stored, truncated
}
