package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Operation is one documented method on one path template.
type Operation struct {
	Method, Path string
	// Statuses are the documented response codes, "default" included.
	Statuses []string
}

// Operations lists every documented operation, sorted.
func Operations() []Operation {
	var out []Operation
	paths, _ := parsed["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for method, op := range m {
			if !isMethod(method) {
				continue
			}
			o := Operation{Method: strings.ToUpper(method), Path: p}
			resp, _ := op.(map[string]any)["responses"].(map[string]any)
			for code := range resp {
				o.Statuses = append(o.Statuses, code)
			}
			sort.Strings(o.Statuses)
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

func isMethod(m string) bool {
	return slices.Contains([]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}, m)
}

// Match returns the path template that documents a concrete request path
// ("/v1/sessions/qs_1" → "/v1/sessions/{id}"), preferring literal segments.
func Match(path string) (string, bool) {
	paths, _ := parsed["paths"].(map[string]any)
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for tmpl := range paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, t := range ts {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				continue
			}
			if t != segs[i] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	return best, bestLiterals >= 0
}

// CheckResponse reports how a response departs from the document: the
// operation must exist, document the status (or a default), and declare the
// response's media type; a JSON body must validate against its schema. It
// returns the documented status key that matched ("200" or "default").
func CheckResponse(method, path string, status int, contentType string, body []byte) (string, error) {
	tmpl, ok := Match(path)
	if !ok {
		return "", fmt.Errorf("%s %s: path not documented", method, path)
	}
	item, _ := parsed["paths"].(map[string]any)[tmpl].(map[string]any)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%s %s: method not documented", method, tmpl)
	}
	responses, _ := op["responses"].(map[string]any)
	key := strconv.Itoa(status)
	resp, ok := responses[key].(map[string]any)
	if !ok {
		key = "default"
		if resp, ok = responses[key].(map[string]any); !ok {
			return "", fmt.Errorf("%s %s: status %d not documented", method, tmpl, status)
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return key, fmt.Errorf("%s %s %d: body sent where none is documented", method, tmpl, status)
		}
		return key, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return key, fmt.Errorf("%s %s %d: content type %q: %v", method, tmpl, status, contentType, err)
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		return key, fmt.Errorf("%s %s %d: content type %s not documented", method, tmpl, status, mt)
	}
	schema, _ := media["schema"].(map[string]any)
	if mt != "application/json" || schema == nil {
		return key, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return key, fmt.Errorf("%s %s %d: body is not JSON: %v", method, tmpl, status, err)
	}
	if errs := Validate(schema, v); len(errs) > 0 {
		return key, fmt.Errorf("%s %s %d: %w", method, tmpl, status, errors.Join(errs...))
	}
	return key, nil
}

// Keywords are the JSON Schema keywords Validate understands. The
// document's tests refuse any other, so no constraint is silently ignored.
var Keywords = []string{"$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "const",
	"oneOf", "anyOf", "minimum", "maximum", "maxLength", "maxItems", "format", "description"}

// Validate checks v (decoded with UseNumber) against schema, resolving
// $ref within the document, and returns every violation with its JSON
// pointer.
func Validate(schema map[string]any, v any) []error {
	var errs []error
	validate(schema, v, "", &errs, 0)
	return errs
}

func validate(s map[string]any, v any, at string, errs *[]error, depth int) {
	fail := func(format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", pointer(at), fmt.Sprintf(format, a...)))
	}
	if depth > 64 {
		fail("schema nesting too deep")
		return
	}
	if r, ok := s["$ref"].(string); ok {
		target, err := Resolve(r)
		if err != nil {
			fail("%v", err)
			return
		}
		validate(target, v, at, errs, depth+1)
		return
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			fail("is %s, want %s", typeOf(v), strings.Join(types, " or "))
			return
		}
	}
	if c, ok := s["const"]; ok && !equal(c, v) {
		fail("is %v, want %v", v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		fail("is %v, want one of %v", v, e)
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		alts, ok := s[kw].([]any)
		if !ok {
			continue
		}
		n := 0
		var last []error
		for _, a := range alts {
			var sub []error
			validate(a.(map[string]any), v, at, &sub, depth+1)
			if len(sub) == 0 {
				n++
			} else {
				last = sub
			}
		}
		if n == 0 || (kw == "oneOf" && n > 1) {
			fail("matches %d of the %s alternatives (%v)", n, kw, errors.Join(last...))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				fail("required member %q is missing", r)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				validate(ps, x[k], at+"/"+k, errs, depth+1)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("member %q is not documented", k)
				}
			case map[string]any:
				validate(ap, x[k], at+"/"+k, errs, depth+1)
			}
		}
	case []any:
		if m, ok := number(s["maxItems"]); ok && float64(len(x)) > m {
			fail("has %d items, at most %v allowed", len(x), m)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				validate(items, e, at+"/"+strconv.Itoa(i), errs, depth+1)
			}
		}
	case string:
		if m, ok := number(s["maxLength"]); ok && float64(utf8.RuneCountInString(x)) > m {
			fail("is longer than %v characters", m)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				fail("%q is not an RFC 3339 date-time", x)
			}
		}
	case json.Number:
		f, _ := x.Float64()
		if m, ok := number(s["minimum"]); ok && f < m {
			fail("%v is below the minimum %v", f, m)
		}
		if m, ok := number(s["maximum"]); ok && f > m {
			fail("%v is above the maximum %v", f, m)
		}
	}
}

// Resolve returns the schema a local reference ("#/components/schemas/X")
// names.
func Resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q is not local to the document", ref)
	}
	var cur any = parsed
	for _, p := range strings.Split(ref[2:], "/") {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[p]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q names no object", ref)
	}
	return m, nil
}

var pointerEscape = regexp.MustCompile(`[~]`)

func pointer(at string) string {
	if at == "" {
		return "body"
	}
	return "body" + pointerEscape.ReplaceAllString(at, "~0")
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	}
	return false
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
