package bqapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// Fuzz targets for everything here that reads client input: request
// bodies, the prompt comment, page tokens, and stored rows (whose values
// must never reach an error message).

func FuzzQueryRequest(f *testing.F) {
	f.Add(`{"query":"SELECT 1","labels":{"querygate-agent":"a"}}`, "")
	f.Add(`{"query":"-- p\nSELECT @x","parameterMode":"NAMED","queryParameters":[{"name":"x","parameterType":{"type":"INT64"},"parameterValue":{"value":"1"}}]}`, "why%20not")
	f.Add(`{"query":"SELECT 1","useLegacySql":true,"dryRun":true}`, "%zz")
	f.Fuzz(func(t *testing.T, body, header string) {
		var q queryRequest
		if json.Unmarshal([]byte(body), &q) != nil {
			return
		}
		r := httptest.NewRequest("POST", "/", nil)
		if header != "" {
			r.Header.Set(PromptHeader, header)
		}
		req, e := q.toIntake(r, q.Labels, false)
		if (req == nil) == (e == nil) {
			t.Fatalf("toIntake returned %v and %v", req, e)
		}
		if e != nil {
			if e.Code != 400 && e.Code != 413 {
				t.Fatalf("client input gave %d", e.Code)
			}
			return
		}
		if strings.TrimSpace(req.SQL) == "" || req.SQL != q.Query {
			t.Fatalf("accepted SQL %q from %q", req.SQL, q.Query)
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted a request that does not validate: %v", err)
		}
	})
}

func FuzzLeadingComment(f *testing.F) {
	for _, s := range []string{"-- a\nSELECT 1", "/* b */ SELECT", "# c", "/* unterminated", "SELECT 1 -- d", "--\n--prompt:\n/**/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		got := LeadingComment(sql)
		trimmed := strings.TrimLeft(sql, " \t\r\n\f\v")
		if !strings.HasPrefix(trimmed, "--") && !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "/*") && got != "" {
			t.Fatalf("LeadingComment(%q) = %q without a leading comment", sql, got)
		}
		if len(got) > len(sql) {
			t.Fatalf("prompt longer than the SQL")
		}
	})
}

func FuzzPageToken(f *testing.F) {
	f.Add(position{page: 1, offset: 2}.token())
	f.Add("cWcxOi0xOjA")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := parseToken(tok)
		if err != nil {
			return
		}
		if p.page < 0 || p.offset < 0 || p.token() != tok {
			t.Fatalf("accepted %q as %+v", tok, p)
		}
	})
}

func FuzzEncodeRows(f *testing.F) {
	f.Add("INTEGER", `"secret-value-1"`)
	f.Add("TIMESTAMP", `"2024-01-02T03:04:05Z"`)
	f.Add("RECORD", `{"x":"secret"}`)
	f.Add("NUMERIC", `"1.5e9"`)
	f.Fuzz(func(t *testing.T, typ, value string) {
		rows, err := decodeRows(json.RawMessage(`[{"c":` + value + `}]`))
		if err != nil || len(rows) != 1 {
			return
		}
		field := fieldSchema{Name: "c", Type: typ, Fields: []fieldSchema{{Name: "x", Type: "STRING"}}}
		_, err = encodeRows([]fieldSchema{field}, rows, tsFloat64)
		if err == nil {
			return
		}
		msg := err.Error()
		var s string
		if json.Unmarshal([]byte(value), &s) == nil && len(s) >= 4 && strings.Contains(msg, s) && !strings.Contains("column c ("+typ+"): "+errCellType.Error(), s) {
			t.Fatalf("error %q quotes the value %q", msg, s)
		}
	})
}
