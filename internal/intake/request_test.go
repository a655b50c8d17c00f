package intake

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeQueryRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"ok", `{"sql":"SELECT 1","prompt":"p","agent":{"name":"a","model":"m"},"wait_seconds":5}`, ""},
		{"empty", ``, "body is empty"},
		{"truncated", `{"sql":"SELECT`, "truncated"},
		{"missing sql", `{"prompt":"x"}`, `"sql" is required`},
		{"sql wrong type", `{"sql":42}`, `field "sql" must be a string`},
		{"wait wrong type", `{"sql":"SELECT 1","wait_seconds":"soon"}`, `field "wait_seconds" must be an integer`},
		{"agent wrong type", `{"sql":"SELECT 1","agent":"x"}`, `field "agent" must be an object`},
		{"unknown field", `{"sql":"SELECT 1","sqll":"x"}`, `unknown field "sqll"`},
		{"two objects", `{"sql":"SELECT 1"}{}`, "exactly one JSON object"},
		{"array", `[]`, "must be a JSON object"},
		{"wait too long", `{"sql":"SELECT 1","wait_seconds":100000}`, "wait_seconds must be between"},
		{"bad dataset", `{"sql":"SELECT 1","default_dataset":"a.b.c"}`, "default_dataset"},
		{"param without value", `{"sql":"SELECT 1","parameters":[{"name":"x"}]}`, "parameters[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeQueryRequest([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if req.SQL != "SELECT 1" || req.Wait() != 5 || req.Agent.Name != "a" {
					t.Errorf("req = %+v", req)
				}
				return
			}
			var be *BadRequestError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want BadRequestError containing %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeQueryRequest(f *testing.F) {
	f.Add([]byte(`{"sql":"SELECT 1","prompt":"p","wait_seconds":1}`))
	f.Add([]byte(`{"sql":"x","parameters":[{"name":"a","type":"INT64","value":1}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeQueryRequest(body)
		if err != nil {
			var be *BadRequestError
			if !errors.As(err, &be) {
				t.Fatalf("non-BadRequestError %T: %v", err, err)
			}
			return
		}
		if strings.TrimSpace(req.SQL) == "" || len(req.SQL) > MaxSQLBytes {
			t.Fatalf("accepted invalid sql of length %d", len(req.SQL))
		}
		if w := req.Wait(); w < 0 || w > MaxWaitSeconds {
			t.Fatalf("accepted wait %d", w)
		}
	})
}
