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
		// Header-like fields are single lines (issue 10, finding 5).
		{"agent name with LF", `{"sql":"SELECT 1","agent":{"name":"a\nApprove: yes"}}`, "agent.name contains U+000A at byte 1; it must be a single line"},
		{"agent name with CR", `{"sql":"SELECT 1","agent":{"name":"a\r"}}`, "agent.name contains U+000D at byte 1"},
		{"agent model with CRLF", `{"sql":"SELECT 1","agent":{"name":"a","model":"m\r\nBcc: x"}}`, "agent.model contains U+000D at byte 1"},
		{"agent model with NUL", `{"sql":"SELECT 1","agent":{"model":"m\u0000"}}`, "agent.model contains U+0000"},
		{"agent name with tab", `{"sql":"SELECT 1","agent":{"name":"a\tb"}}`, "agent.name contains U+0009"},
		{"agent name with line separator", `{"sql":"SELECT 1","agent":{"name":"a\u2028b"}}`, "agent.name contains U+2028"},
		{"agent name with bidi", `{"sql":"SELECT 1","agent":{"name":"\u202eab"}}`, "agent.name contains U+202E at byte 0"},
		{"conversation id with LF", `{"sql":"SELECT 1","conversation_id":"c\n1"}`, "conversation_id contains U+000A at byte 1"},
		{"param name with LF", `{"sql":"SELECT 1","parameters":[{"name":"x\ny","value":1}]}`, "parameters[0].name contains U+000A"},
		{"param type with CR", `{"sql":"SELECT 1","parameters":[{"name":"x","type":"INT64\r","value":1}]}`, "parameters[0].type contains U+000D"},
		// Invisible and bidi characters in what approvers read.
		{"sql with RLO", `{"sql":"SELECT 1 -- \u202e WHERE x = 42"}`, "sql contains U+202E at byte 12; remove invisible or bidirectional control characters"},
		{"sql with LRE", `{"sql":"SELECT\u202a 1"}`, "sql contains U+202A at byte 6"},
		{"sql with RLI", `{"sql":"SELECT 1 /*\u2067*/"}`, "sql contains U+2067 at byte 11"},
		{"sql with PDI", `{"sql":"SELECT 1\u2069"}`, "sql contains U+2069 at byte 8"},
		{"sql with zero-width space", `{"sql":"SEL\u200bECT 1"}`, "sql contains U+200B at byte 3"},
		{"sql with RLM", `{"sql":"SELECT 1\u200f"}`, "sql contains U+200F"},
		{"sql with BOM", `{"sql":"\ufeffSELECT 1"}`, "sql contains U+FEFF at byte 0"},
		{"prompt with bidi", `{"sql":"SELECT 1","prompt":"ok\u2066SQL: SELECT 2"}`, "prompt contains U+2066 at byte 2; remove invisible"},
		{"prompt with an emoji ZWJ sequence", `{"sql":"SELECT 1","prompt":"team \ud83d\udc69\u200d\ud83d\udcbb report","agent":{"name":"a"},"wait_seconds":5}`, ""},
		{"sql with a ZWJ", `{"sql":"SELECT 1 /*\u200d*/"}`, "sql contains U+200D"},
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
	f.Add([]byte(`{"sql":"SELECT 1 -- \u202e x","agent":{"name":"a\r\nb"}}`))
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
		if _, c, ok := invisibleRune(req.SQL, false); ok {
			t.Fatalf("accepted sql with U+%04X", c)
		}
		if _, c, ok := invisibleRune(req.Prompt, true); ok {
			t.Fatalf("accepted prompt with U+%04X", c)
		}
		for name, v := range map[string]string{"conversation_id": req.ConversationID, "agent.name": req.Agent.Name, "agent.model": req.Agent.Model} {
			if strings.ContainsAny(v, "\r\n") {
				t.Fatalf("accepted %s with a line break: %q", name, v)
			}
		}
	})
}
