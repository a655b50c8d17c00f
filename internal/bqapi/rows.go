package bqapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// fieldSchema is BigQuery's TableFieldSchema.
type fieldSchema struct {
	Name        string        `json:"name"`
	Type        string        `json:"type"`
	Mode        string        `json:"mode,omitempty"`
	Fields      []fieldSchema `json:"fields,omitempty"`
	Description string        `json:"description,omitempty"`
}

type tableSchema struct {
	Fields []fieldSchema `json:"fields"`
}

// Descriptions that mark columns whose served type differs from the
// query's. Clients decode cells by the schema they are given, so a masked
// column, whose values are replacement text, is served as STRING.
const (
	maskedDescription = "querygate: masked. Values are de-identified replacements, so the column is served as STRING; ask an approver for the raw values if the task needs them."
	jsonDescription   = "querygate: RECORD served as JSON text (its sub-fields were not recorded)."
)

// servedSchema is the schema of a session's masked result as this front
// door serves it: masked columns become STRING and say so in their
// description.
func servedSchema(r *session.Result) []fieldSchema {
	out := make([]fieldSchema, 0, len(r.Schema))
	for _, f := range r.Schema {
		out = append(out, servedField(f, "", r.MaskedColumns))
	}
	return out
}

func servedField(f session.Field, prefix string, masked []string) fieldSchema {
	path := prefix + f.Name
	mode := f.Mode
	if mode == "" {
		mode = "NULLABLE"
	}
	if slices.Contains(masked, path) || slices.ContainsFunc(masked, func(m string) bool { return strings.HasPrefix(m, path+".") }) {
		// A masked RECORD is served whole as text: its sub-fields may
		// have changed type too.
		return fieldSchema{Name: f.Name, Type: "STRING", Mode: mode, Description: maskedDescription}
	}
	if isRecord(f.Type) {
		if len(f.Fields) == 0 {
			return fieldSchema{Name: f.Name, Type: "STRING", Mode: mode, Description: jsonDescription}
		}
		sub := make([]fieldSchema, 0, len(f.Fields))
		for _, sf := range f.Fields {
			sub = append(sub, servedField(sf, path+".", masked))
		}
		return fieldSchema{Name: f.Name, Type: "RECORD", Mode: mode, Fields: sub}
	}
	return fieldSchema{Name: f.Name, Type: f.Type, Mode: mode}
}

func isRecord(t string) bool { return t == "RECORD" || t == "STRUCT" }

// errCellType is returned when a stored value does not fit the type its
// column is served as. The message names the column and type, never the
// value; the whole response fails rather than serve a wrong cell.
var errCellType = errors.New("a stored value does not fit its column's type")

// encodeRows turns stored rows (JSON objects keyed by column name) into
// BigQuery's TableRow form, {"f": [{"v": ...}]}, with BigQuery's
// encodings: every scalar as a string (INT64 and NUMERIC in decimal, FLOAT
// as a number's text, BOOL as "true"/"false", BYTES in base64, TIMESTAMP as
// seconds since the epoch with microseconds (FLOAT64), integer
// microseconds when the client asked for INT64, or RFC 3339 for ISO8601_STRING), ARRAY as a list of {"v"}, STRUCT as {"f": [...]}.
func encodeRows(schema []fieldSchema, rows []map[string]any, ts tsFormat) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(rows))
	for _, row := range rows {
		v, err := encodeRecord(schema, row, "", ts)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode row: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

type cell struct {
	V any `json:"v"`
}

type record struct {
	F []cell `json:"f"`
}

func encodeRecord(fields []fieldSchema, m map[string]any, prefix string, ts tsFormat) (record, error) {
	r := record{F: make([]cell, 0, len(fields))}
	for _, f := range fields {
		v, err := encodeValue(f, m[f.Name], prefix, ts)
		if err != nil {
			return record{}, err
		}
		r.F = append(r.F, cell{V: v})
	}
	return r, nil
}

func encodeValue(f fieldSchema, v any, prefix string, ts tsFormat) (any, error) {
	if f.Mode != "REPEATED" {
		return encodeScalarOrRecord(f, v, prefix, ts)
	}
	if v == nil {
		// BigQuery arrays are never NULL; the client reads an empty one.
		return []cell{}, nil
	}
	arr, ok := v.([]any)
	if !ok {
		if f.Description == "" {
			return nil, fmt.Errorf("column %s%s (ARRAY): %w", prefix, f.Name, errCellType)
		}
		arr = []any{v} // a masked array replaced whole
	}
	out := make([]cell, 0, len(arr))
	for _, e := range arr {
		ev, err := encodeScalarOrRecord(f, e, prefix, ts)
		if err != nil {
			return nil, err
		}
		out = append(out, cell{V: ev})
	}
	return out, nil
}

func encodeScalarOrRecord(f fieldSchema, v any, prefix string, ts tsFormat) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Type == "RECORD" {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("column %s%s (RECORD): %w", prefix, f.Name, errCellType)
		}
		return encodeRecord(f.Fields, m, prefix+f.Name+".", ts)
	}
	if f.Description != "" {
		// Masked or JSON text: served as STRING whatever it holds.
		return asText(v), nil
	}
	s, err := scalar(f.Type, v, ts)
	if err != nil {
		return nil, fmt.Errorf("column %s%s (%s): %w", prefix, f.Name, f.Type, err)
	}
	return s, nil
}

// scalar encodes one non-NULL value of type typ as BigQuery's REST API
// does.
func scalar(typ string, v any, ts tsFormat) (string, error) {
	switch typ {
	case "INTEGER", "INT64":
		s, ok := numberText(v)
		if !ok {
			return "", errCellType
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return "", errCellType
		}
		return s, nil
	case "FLOAT", "FLOAT64":
		s, ok := numberText(v)
		if !ok {
			return "", errCellType
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "", errCellType
		}
		return s, nil
	case "NUMERIC", "BIGNUMERIC", "BIGDECIMAL", "DECIMAL":
		s, ok := numberText(v)
		if !ok || !isDecimal(s) {
			return "", errCellType
		}
		return s, nil
	case "BOOLEAN", "BOOL":
		b, ok := v.(bool)
		if !ok {
			return "", errCellType
		}
		return strconv.FormatBool(b), nil
	case "TIMESTAMP":
		s, ok := v.(string)
		if !ok {
			return "", errCellType
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", errCellType
		}
		return ts.text(t), nil
	case "BYTES":
		s, ok := v.(string)
		if !ok {
			return "", errCellType
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return "", errCellType
		}
		return s, nil
	case "DATE":
		s, ok := v.(string)
		if _, err := time.Parse("2006-01-02", s); !ok || err != nil {
			return "", errCellType
		}
		return s, nil
	case "DATETIME":
		s, ok := v.(string)
		if !ok || len(s) < 19 {
			return "", errCellType
		}
		if _, err := time.Parse("2006-01-02T15:04:05", s[:19]); err != nil {
			return "", errCellType
		}
		return s, nil
	case "TIME":
		s, ok := v.(string)
		if !ok || len(s) < 8 {
			return "", errCellType
		}
		if _, err := time.Parse("15:04:05", s[:8]); err != nil {
			return "", errCellType
		}
		return s, nil
	default:
		// STRING, GEOGRAPHY, JSON, INTERVAL, RANGE: text as stored.
		s, ok := v.(string)
		if !ok {
			return "", errCellType
		}
		return s, nil
	}
}

// numberText returns a JSON number's text, or a string holding one (the
// stored form of NUMERIC).
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return x, x != ""
	}
	return "", false
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	dot := false
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// tsFormat is how TIMESTAMP cells are written, BigQuery's
// formatOptions.timestampOutputFormat (useInt64Timestamp true is INT64).
type tsFormat string

const (
	tsFloat64 tsFormat = "FLOAT64"
	tsInt64   tsFormat = "INT64"
	tsISO8601 tsFormat = "ISO8601_STRING"
)

// formatOf resolves the two format options; the explicit output format
// wins. An unknown format is the caller's mistake.
func formatOf(useInt64 bool, output string) (tsFormat, *apiError) {
	switch tsFormat(output) {
	case "", "TIMESTAMP_OUTPUT_FORMAT_UNSPECIFIED":
		if useInt64 {
			return tsInt64, nil
		}
		return tsFloat64, nil
	case tsFloat64, tsInt64, tsISO8601:
		return tsFormat(output), nil
	}
	return "", badRequest("formatOptions.timestampOutputFormat must be FLOAT64, INT64 or ISO8601_STRING")
}

// text is seconds since the epoch with six decimals (exact, which clients
// parse as a float), integer microseconds, or RFC 3339 in UTC.
func (f tsFormat) text(t time.Time) string {
	us := t.UnixMicro()
	switch f {
	case tsInt64:
		return strconv.FormatInt(us, 10)
	case tsISO8601:
		return t.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return fmt.Sprintf("%s%d.%06d", sign, us/1e6, us%1e6)
}

// asText renders a stored value as a STRING cell: strings as they are,
// anything else as its JSON text.
func asText(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return string(b)
}

// decodeRows reads a stored page's rows, keeping numbers exact.
func decodeRows(raw json.RawMessage) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("decode stored page: %w", err)
	}
	return rows, nil
}
