package bqapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/querygate/querygate/internal/session"
)

func TestServedSchema(t *testing.T) {
	t.Parallel()
	res := &session.Result{
		Schema: []session.Field{
			{Name: "id", Type: "INTEGER", Mode: "NULLABLE"},
			{Name: "email", Type: "STRING"},
			{Name: "born", Type: "DATE", Mode: "NULLABLE"},
			{Name: "addr", Type: "RECORD", Mode: "NULLABLE", Fields: []session.Field{{Name: "city", Type: "STRING"}, {Name: "zip", Type: "INTEGER"}}},
			{Name: "legacy", Type: "RECORD", Mode: "REPEATED"},
		},
		MaskedColumns: []string{"email", "born"},
	}
	want := []fieldSchema{
		{Name: "id", Type: "INTEGER", Mode: "NULLABLE"},
		{Name: "email", Type: "STRING", Mode: "NULLABLE", Description: maskedDescription},
		{Name: "born", Type: "STRING", Mode: "NULLABLE", Description: maskedDescription},
		{Name: "addr", Type: "RECORD", Mode: "NULLABLE", Fields: []fieldSchema{{Name: "city", Type: "STRING", Mode: "NULLABLE"}, {Name: "zip", Type: "INTEGER", Mode: "NULLABLE"}}},
		{Name: "legacy", Type: "STRING", Mode: "REPEATED", Description: jsonDescription},
	}
	if diff := cmp.Diff(want, servedSchema(res)); diff != "" {
		t.Errorf("servedSchema (-want, +got):\n%s", diff)
	}
	// A masked sub-field masks its whole RECORD.
	res.MaskedColumns = []string{"addr.city"}
	if got := servedSchema(res)[3]; got.Type != "STRING" || got.Description != maskedDescription {
		t.Errorf("record with a masked sub-field = %+v", got)
	}
}

func TestEncodeRows(t *testing.T) {
	t.Parallel()
	schema := []fieldSchema{
		{Name: "i", Type: "INTEGER"}, {Name: "f", Type: "FLOAT"}, {Name: "b", Type: "BOOLEAN"},
		{Name: "n", Type: "NUMERIC"}, {Name: "by", Type: "BYTES"}, {Name: "ts", Type: "TIMESTAMP"},
		{Name: "d", Type: "DATE"}, {Name: "arr", Type: "INTEGER", Mode: "REPEATED"},
		{Name: "st", Type: "RECORD", Fields: []fieldSchema{{Name: "x", Type: "INTEGER"}, {Name: "y", Type: "STRING"}}},
		{Name: "m", Type: "STRING", Description: maskedDescription}, {Name: "null", Type: "STRING"},
		{Name: "empty", Type: "STRING", Mode: "REPEATED"},
	}
	stored := `[{"i":9007199254740993,"f":1.5,"b":true,"n":"12.5","by":"YWI=","ts":"2024-01-02T03:04:05.123456Z",
		"d":"2024-01-02","arr":[1,2],"st":{"y":"why","x":7},"m":12345,"null":null,"empty":null}]`
	rows, err := decodeRows(json.RawMessage(stored))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ts   tsFormat
		want string
	}{
		{"float seconds", tsFloat64, `{"f":[{"v":"9007199254740993"},{"v":"1.5"},{"v":"true"},{"v":"12.5"},{"v":"YWI="},{"v":"1704164645.123456"},{"v":"2024-01-02"},{"v":[{"v":"1"},{"v":"2"}]},{"v":{"f":[{"v":"7"},{"v":"why"}]}},{"v":"12345"},{"v":null},{"v":[]}]}`},
		{"int64 micros", tsInt64, `{"f":[{"v":"9007199254740993"},{"v":"1.5"},{"v":"true"},{"v":"12.5"},{"v":"YWI="},{"v":"1704164645123456"},{"v":"2024-01-02"},{"v":[{"v":"1"},{"v":"2"}]},{"v":{"f":[{"v":"7"},{"v":"why"}]}},{"v":"12345"},{"v":null},{"v":[]}]}`},
		{"iso", tsISO8601, `{"f":[{"v":"9007199254740993"},{"v":"1.5"},{"v":"true"},{"v":"12.5"},{"v":"YWI="},{"v":"2024-01-02T03:04:05.123456Z"},{"v":"2024-01-02"},{"v":[{"v":"1"},{"v":"2"}]},{"v":{"f":[{"v":"7"},{"v":"why"}]}},{"v":"12345"},{"v":null},{"v":[]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeRows(schema, rows, tc.ts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || string(got[0]) != tc.want {
				t.Errorf("encodeRows =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestEncodeRowsRefusesWrongTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		field fieldSchema
		value string
	}{
		{"text in INT64", fieldSchema{Name: "c", Type: "INTEGER"}, `"[PHONE_NUMBER]"`},
		{"fraction in INT64", fieldSchema{Name: "c", Type: "INTEGER"}, `1.5`},
		{"text in NUMERIC", fieldSchema{Name: "c", Type: "NUMERIC"}, `"12.5 [X]"`},
		{"text in TIMESTAMP", fieldSchema{Name: "c", Type: "TIMESTAMP"}, `"secret-123"`},
		{"number in BOOL", fieldSchema{Name: "c", Type: "BOOLEAN"}, `1`},
		{"not base64", fieldSchema{Name: "c", Type: "BYTES"}, `"!!"`},
		{"scalar in ARRAY", fieldSchema{Name: "c", Type: "INTEGER", Mode: "REPEATED"}, `5`},
		{"scalar in RECORD", fieldSchema{Name: "c", Type: "RECORD", Fields: []fieldSchema{{Name: "x", Type: "STRING"}}}, `"x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := decodeRows(json.RawMessage(`[{"c":` + tc.value + `}]`))
			if err != nil {
				t.Fatal(err)
			}
			_, err = encodeRows([]fieldSchema{tc.field}, rows, tsFloat64)
			if !errors.Is(err, errCellType) {
				t.Fatalf("err = %v, want errCellType", err)
			}
			// The message names the column, never the value.
			if msg := err.Error(); !strings.Contains(msg, "column c") || strings.Contains(msg, "PHONE") || strings.Contains(msg, "secret") {
				t.Errorf("message %q", msg)
			}
		})
	}
}

func TestTimestampText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    time.Time
		f    tsFormat
		want string
	}{
		{time.Date(1970, 1, 1, 0, 0, 1, 500000000, time.UTC), tsFloat64, "1.500000"},
		{time.Date(1969, 12, 31, 23, 59, 58, 500000000, time.UTC), tsFloat64, "-1.500000"},
		{time.Date(1969, 12, 31, 23, 59, 58, 500000000, time.UTC), tsInt64, "-1500000"},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), tsISO8601, "2024-01-02T02:04:05.000000Z"},
	} {
		if got := tc.f.text(tc.t); got != tc.want {
			t.Errorf("%s.text(%v) = %q, want %q", tc.f, tc.t, got, tc.want)
		}
	}
	for _, tc := range []struct {
		useInt64 bool
		output   string
		want     tsFormat
		bad      bool
	}{
		{false, "", tsFloat64, false}, {true, "", tsInt64, false}, {true, "ISO8601_STRING", tsISO8601, false},
		{false, "INT64", tsInt64, false}, {false, "PICOS", "", true},
	} {
		got, e := formatOf(tc.useInt64, tc.output)
		if got != tc.want || (e != nil) != tc.bad {
			t.Errorf("formatOf(%v, %q) = %q, %v", tc.useInt64, tc.output, got, e)
		}
	}
}

func TestPageToken(t *testing.T) {
	t.Parallel()
	p := position{page: 3, offset: 17}
	got, err := parseToken(p.token())
	if err != nil || got != p {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "cWcxOi0xOjA", "cWcxOjE6Mg==", "cWcxOjE6MiB4"} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}
