package steps

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/querygate/querygate/internal/deid"
)

// inspectedCells counts, per column, the cells that the de-identifier
// changed although it did not mask the column whole: the work of content
// inspection. It compares the raw and the masked table cell by cell, so it
// holds for every Deidentifier, whatever statistics it keeps. Only counts
// leave this function, never a value.
func inspectedCells(raw, masked *deid.Table, whole []string) map[string]int64 {
	out := map[string]int64{}
	if raw == nil || masked == nil {
		return out
	}
	for r, row := range raw.Rows {
		if r >= len(masked.Rows) {
			break
		}
		mrow := masked.Rows[r]
		for c, v := range row {
			if c >= len(raw.Headers) || c >= len(mrow) {
				break
			}
			col := raw.Headers[c]
			if slices.Contains(whole, col) || sameCell(v, mrow[c]) {
				continue
			}
			out[col]++
		}
	}
	return out
}

// sameCell reports whether a cell came back unchanged. A de-identifier may
// return a number as its text (DLP's string values), which is no change.
func sameCell(a, b deid.Value) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprint(a) == fmt.Sprint(b)
}

// maskedColumns lists, in header order, every column with a masked cell:
// those transformed whole and those where inspection masked at least one
// cell. It is never nil, so the JSON shows [].
func maskedColumns(headers, whole []string, inspected map[string]int64) []string {
	out := []string{}
	for _, h := range headers {
		if (slices.Contains(whole, h) || inspected[h] > 0) && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	// A whole-column name not among the headers still counts.
	for _, w := range whole {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
