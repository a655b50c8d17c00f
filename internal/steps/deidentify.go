package steps

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/session"
	"github.com/querygate/querygate/internal/warehouse"
)

// DeidentifyResult summarises the masked result.
type DeidentifyResult struct {
	Rows          int64    `json:"rows"`
	Pages         int      `json:"pages"`
	MaskedColumns []string `json:"masked_columns"`
	Truncated     bool     `json:"truncated,omitempty"`
}

// Deidentify reads the job's rows, masks them and stores the masked pages.
// Raw rows exist only in this function's memory. On any de-identification
// error nothing is stored and the step fails (fail closed).
func (s *Steps) Deidentify(ctx context.Context, id string) (*DeidentifyResult, error) {
	sess, err := s.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := mayExecute(sess); err != nil {
		return nil, err
	}
	if r := sess.Result; r != nil {
		return &DeidentifyResult{Rows: r.StoredRows, Pages: r.Pages, MaskedColumns: r.MaskedColumns, Truncated: r.Truncated}, nil
	}
	if sess.Execution == nil || sess.Execution.FinishedAt.IsZero() {
		return nil, permanent(409, "the query has not run")
	}
	l := s.limits()
	tbl := &deid.Table{}
	schema, total, err := s.warehouse().readResult(ctx, s.ResultsDataset, sess.Execution.JobID, sess.Execution.Location, l.MaxRows, func(row []bigquery.Value) error {
		tbl.Rows = append(tbl.Rows, toCells(row))
		return nil
	})
	if err != nil {
		return nil, transient("read result", err)
	}
	for _, f := range schema {
		tbl.Headers = append(tbl.Headers, f.Name)
	}
	for i, row := range tbl.Rows {
		tbl.Rows[i] = nameRecords(schema, row)
	}
	var infoTypes map[string][]string
	if sess.Decision != nil {
		infoTypes = expandAllColumns(sess.Decision.ColumnInfoTypes, tbl.Headers)
	}
	masked, stats, err := s.deid().Deidentify(ctx, &deid.Request{Table: tbl, ColumnInfoTypes: infoTypes})
	var inspected map[string]int64
	if err == nil {
		inspected = inspectedCells(tbl, masked, stats.MaskedColumns)
	}
	// Drop the raw rows as soon as masking is done.
	tbl.Rows = nil
	if err != nil {
		return nil, transient("de-identify result", err)
	}
	pages, stored, truncated, err := encodePages(masked, l.PageRows, l.MaxBytes)
	if err != nil {
		return nil, transient("encode result", err)
	}
	truncated = truncated || total > stored
	for _, p := range pages {
		if err := s.store().PutPage(ctx, id, p); err != nil {
			return nil, transient("store result page", err)
		}
	}
	maskedCols := maskedColumns(tbl.Headers, stats.MaskedColumns, inspected)
	inspectedData := map[string]int64{}
	for col, n := range inspected {
		inspectedData[col] = int64(n)
	}
	findings := map[string]int{}
	var keys []string
	for k, v := range stats.Findings {
		findings[k] = int(v)
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := &session.Result{Schema: warehouse.Fields(schema), MaskedColumns: maskedCols, TotalRows: total, StoredRows: stored,
		Pages: len(pages), Truncated: truncated, Findings: findings}
	now := s.now()
	_, err = s.store().Update(ctx, id, func(x *session.Session) error {
		if x.Result != nil {
			return nil
		}
		x.Result = res
		if x.Execution != nil {
			x.Execution.TotalRows = total
		}
		fd := map[string]int64{}
		for _, k := range keys {
			fd[k] = int64(findings[k])
		}
		x.AddEvent(now, "deidentify", session.ResultMaskedData{
			Rows: stored, TotalRows: total, Pages: int64(len(pages)),
			MaskedColumns: maskedCols, Findings: fd, Truncated: truncated,
			// Cells that content inspection changed, per column, besides
			// the columns masked whole.
			InspectedCells: inspectedData,
		})
		return nil
	})
	if err != nil {
		return nil, transient("store result", err)
	}
	return &DeidentifyResult{Rows: stored, Pages: len(pages), MaskedColumns: maskedCols, Truncated: truncated}, nil
}

// toCells converts BigQuery values to the de-identifier's cell types:
// strings for timestamps, dates, numerics and bytes, so every textual value
// is inspected.
func toCells(row []bigquery.Value) []deid.Value {
	out := make([]deid.Value, len(row))
	for i, v := range row {
		out[i] = toCell(v)
	}
	return out
}

func toCell(v bigquery.Value) deid.Value {
	switch x := v.(type) {
	case nil, string, int64, float64, bool:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case civil.Date:
		return x.String()
	case civil.Time:
		return x.String()
	case civil.DateTime:
		return x.String()
	case *big.Rat:
		return trimRat(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case []bigquery.Value:
		arr := make([]any, len(x))
		for i, e := range x {
			arr[i] = toCell(e)
		}
		return arr
	default:
		return fmt.Sprint(x)
	}
}

func trimRat(r *big.Rat) string {
	s := r.FloatString(9)
	s = string(bytes.TrimRight([]byte(s), "0"))
	return string(bytes.TrimSuffix([]byte(s), []byte(".")))
}

// nameRecords turns RECORD cells (positional) into maps keyed by field name.
func nameRecords(schema bigquery.Schema, row []deid.Value) []deid.Value {
	for i, f := range schema {
		if i < len(row) && f.Type == bigquery.RecordFieldType {
			row[i] = nameRecord(f, row[i])
		}
	}
	return row
}

func nameRecord(f *bigquery.FieldSchema, v deid.Value) deid.Value {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	if f.Repeated {
		out := make([]any, len(arr))
		sub := *f
		sub.Repeated = false
		for i, e := range arr {
			out[i] = nameRecord(&sub, e)
		}
		return out
	}
	m := map[string]any{}
	for i, sf := range f.Schema {
		if i < len(arr) {
			if sf.Type == bigquery.RecordFieldType {
				m[sf.Name] = nameRecord(sf, arr[i])
			} else {
				m[sf.Name] = arr[i]
			}
		}
	}
	return m
}

// encodePages encodes rows as JSON objects in column order and packs them
// into pages of at most pageRows rows and Firestore's document size,
// stopping before maxBytes in all.
func encodePages(t *deid.Table, pageRows int, maxBytes int64) ([]*session.Page, int64, bool, error) {
	enc := session.NewRowEncoder(t.Headers)
	rows := make([]json.RawMessage, 0, len(t.Rows))
	for _, r := range t.Rows {
		b, err := enc.Encode(r)
		if err != nil {
			return nil, 0, false, err
		}
		rows = append(rows, b)
	}
	pages, stored, truncated := session.Paginate(rows, session.PageCaps{MaxBytes: maxBytes, PageRows: pageRows, PageBytes: int(session.MaxPageBytes)})
	return pages, stored, truncated, nil
}

// allColumns is the policy's key for "every output column" (the parser
// fallback over a star, where column names are unknown).
const allColumns = "*"

// expandAllColumns applies the "*" entry to every header, so that no
// column escapes whole-cell masking when policy could not name them.
func expandAllColumns(m map[string][]string, headers []string) map[string][]string {
	all, ok := m[allColumns]
	if !ok {
		return m
	}
	out := make(map[string][]string, len(headers))
	for k, v := range m {
		if k != allColumns {
			out[k] = v
		}
	}
	for _, h := range headers {
		seen := map[string]bool{}
		var merged []string
		for _, it := range append(append([]string(nil), out[h]...), all...) {
			if !seen[it] {
				seen[it] = true
				merged = append(merged, it)
			}
		}
		out[h] = merged
	}
	return out
}
