package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDocumentIsOpenAPI31(t *testing.T) {
	if err := CheckDocument(JSON()); err != nil {
		t.Fatalf("embedded document:\n%v", err)
	}
}

// mutate applies fn to a decoded copy of the embedded document.
func mutate(t *testing.T, fn func(d map[string]any)) []byte {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(JSON(), &d); err != nil {
		t.Fatal(err)
	}
	fn(d)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(v any) map[string]any { return v.(map[string]any) }

// The structural check must be able to fail, case by case.
func TestCheckDocumentRefuses(t *testing.T) {
	t.Parallel()
	query := func(d map[string]any) map[string]any {
		return obj(obj(obj(d["paths"])["/v1/queries"])["post"])
	}
	session := func(d map[string]any) map[string]any {
		return obj(obj(obj(d["paths"])["/v1/sessions/{id}"])["get"])
	}
	cases := []struct {
		name, want string
		fn         func(d map[string]any)
	}{
		{"version 3.0", "want 3.1.x", func(d map[string]any) { d["openapi"] = "3.0.3" }},
		{"no title", "info.title", func(d map[string]any) { delete(obj(d["info"]), "title") }},
		{"no paths", "paths is required", func(d map[string]any) { delete(d, "paths") }},
		{"dangling ref", "does not resolve", func(d map[string]any) {
			delete(obj(obj(d["components"])["schemas"]), "Refused")
		}},
		{"no responses", "responses must not be empty", func(d map[string]any) { query(d)["responses"] = map[string]any{} }},
		{"bad status", "not a status code", func(d map[string]any) { obj(query(d)["responses"])["2000"] = map[string]any{"description": "x"} }},
		{"no description", "description is required", func(d map[string]any) { delete(obj(obj(query(d)["responses"])["200"]), "description") }},
		{"undeclared path parameter", "{id} is not declared", func(d map[string]any) { session(d)["parameters"] = []any{} }},
		{"unknown scheme", "not in components.securitySchemes", func(d map[string]any) { query(d)["security"] = []any{map[string]any{"apikey": []any{}}} }},
		{"unchecked keyword", `keyword "pattern"`, func(d map[string]any) {
			obj(obj(obj(obj(obj(d["components"])["schemas"])["Error"])["properties"])["error"])["pattern"] = "^x"
		}},
		{"duplicate operationId", "operationId", func(d map[string]any) { query(d)["operationId"] = "getSession" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDocument(mutate(t, tc.fn))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckDocument = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, schema, body, want string // want "" means valid
	}{
		{"error ok", `{"$ref":"#/components/schemas/Error"}`, `{"error":"x"}`, ""},
		{"error missing", `{"$ref":"#/components/schemas/Error"}`, `{}`, `required member "error"`},
		{"undocumented member", `{"$ref":"#/components/schemas/Error"}`, `{"error":"x","stack":"y"}`, `member "stack" is not documented`},
		{"wrong type", `{"$ref":"#/components/schemas/Error"}`, `{"error":1}`, "want string"},
		{"const", `{"$ref":"#/components/schemas/Failed"}`, `{"session_id":"a","status":"succeeded","session_url":"u","errors":[]}`, "want failed"},
		{"enum", `{"$ref":"#/components/schemas/Accepted"}`, `{"session_id":"a","status":"done","session_url":"u"}`, "want one of"},
		{"date-time", `{"$ref":"#/components/schemas/Accepted"}`, `{"session_id":"a","status":"running","session_url":"u","expires_at":"soon"}`, "RFC 3339"},
		{"integer", `{"type":"integer","minimum":0,"maximum":300}`, `1.5`, "want integer"},
		{"maximum", `{"type":"integer","minimum":0,"maximum":300}`, `301`, "above the maximum"},
		{"nullable array", `{"type":["array","null"],"items":{"type":"string"}}`, `null`, ""},
		{"item type", `{"type":["array","null"],"items":{"type":"string"}}`, `["a",2]`, "body/1"},
		{"oneOf null", `{"oneOf":[{"$ref":"#/components/schemas/Execution"},{"type":"null"}]}`, `null`, ""},
		{"oneOf none", `{"oneOf":[{"$ref":"#/components/schemas/Execution"},{"type":"null"}]}`, `"x"`, "matches 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s map[string]any
			if err := json.Unmarshal([]byte(tc.schema), &s); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(tc.body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			errs := Validate(s, v)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("Validate = %v, want valid", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want)):
				t.Errorf("Validate = %v, want an error containing %q", errs, tc.want)
			}
		})
	}
}

func TestHandlerServesDocument(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s = %d %s", Path, rec.Code, rec.Header().Get("Content-Type"))
	}
	if err := CheckDocument(rec.Body.Bytes()); err != nil {
		t.Errorf("served document: %v", err)
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/v1/sessions":                 "/v1/sessions",
		"/v1/sessions/qs_1":            "/v1/sessions/{id}",
		"/v1/sessions/qs_1/reidentify": "/v1/sessions/{id}/reidentify",
		"/v1/queries":                  "/v1/queries",
	} {
		if got, ok := Match(path); !ok || got != want {
			t.Errorf("Match(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	if got, ok := Match("/v2/else"); ok {
		t.Errorf("Match(/v2/else) = %q, want no match", got)
	}
}
