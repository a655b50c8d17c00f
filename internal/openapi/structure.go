package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

var (
	versionRE = regexp.MustCompile(`^3\.1\.\d+$`)
	statusRE  = regexp.MustCompile(`^([1-5][0-9]{2}|[1-5]XX|default)$`)
	paramRE   = regexp.MustCompile(`\{([^{}/]+)\}`)
)

// CheckDocument checks doc against the structure OpenAPI 3.1 requires of
// what this document uses: the version, info, paths and operations,
// responses with descriptions, declared path parameters, security schemes
// that exist, unique operation ids, and that every $ref resolves. Schemas
// may use only Keywords. It returns every problem found.
func CheckDocument(doc []byte) error {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if v, _ := d["openapi"].(string); !versionRE.MatchString(v) {
		fail("openapi is %q, want 3.1.x", d["openapi"])
	}
	info, _ := d["info"].(map[string]any)
	if t, _ := info["title"].(string); t == "" {
		fail("info.title is required")
	}
	if v, _ := info["version"].(string); v == "" {
		fail("info.version is required")
	}
	comps, _ := d["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	paths, ok := d["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		fail("paths is required and must not be empty")
	}
	checkSecurity := func(where string, v any) {
		reqs, ok := v.([]any)
		if v != nil && !ok {
			fail("%s: security must be an array", where)
		}
		for _, r := range reqs {
			m, _ := r.(map[string]any)
			for name := range m {
				if _, ok := schemes[name]; !ok {
					fail("%s: security scheme %q is not in components.securitySchemes", where, name)
				}
			}
		}
	}
	checkSecurity("document", d["security"])
	opIDs := map[string]string{}
	for _, p := range sortedKeys(paths) {
		if !strings.HasPrefix(p, "/") {
			fail("path %q must start with /", p)
		}
		item, _ := paths[p].(map[string]any)
		want := paramRE.FindAllStringSubmatch(p, -1)
		nops := 0
		for _, method := range sortedKeys(item) {
			if !isMethod(method) {
				if method != "parameters" && method != "summary" && method != "description" {
					fail("%s: unknown path item member %q", p, method)
				}
				continue
			}
			nops++
			where := strings.ToUpper(method) + " " + p
			op, _ := item[method].(map[string]any)
			if id, _ := op["operationId"].(string); id != "" {
				if prev, dup := opIDs[id]; dup {
					fail("%s: operationId %q is also used by %s", where, id, prev)
				}
				opIDs[id] = where
			}
			checkSecurity(where, op["security"])
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, x := range params {
				pm, _ := x.(map[string]any)
				name, _ := pm["name"].(string)
				in, _ := pm["in"].(string)
				if name == "" || !slices.Contains([]string{"path", "query", "header", "cookie"}, in) {
					fail("%s: a parameter needs a name and in (path, query, header or cookie)", where)
				}
				if _, ok := pm["schema"]; !ok {
					fail("%s: parameter %q needs a schema", where, name)
				}
				if in == "path" {
					if pm["required"] != true {
						fail("%s: path parameter %q must be required", where, name)
					}
					declared[name] = true
				}
			}
			for _, m := range want {
				if !declared[m[1]] {
					fail("%s: path parameter {%s} is not declared", where, m[1])
				}
			}
			if len(declared) != len(want) {
				fail("%s: declares path parameters the path does not hold", where)
			}
			resp, _ := op["responses"].(map[string]any)
			if len(resp) == 0 {
				fail("%s: responses must not be empty", where)
			}
			for _, code := range sortedKeys(resp) {
				if !statusRE.MatchString(code) {
					fail("%s: response key %q is not a status code", where, code)
				}
				r, _ := resp[code].(map[string]any)
				if desc, _ := r["description"].(string); desc == "" {
					fail("%s %s: description is required", where, code)
				}
			}
		}
		if nops == 0 {
			fail("%s: no operations", p)
		}
	}
	// Every $ref resolves, and schemas use only the keywords Validate knows.
	walk(d, "", func(at string, m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if target, err := resolveIn(d, r); err != nil || target == nil {
				fail("%s: $ref %q does not resolve in this document", at, r)
			}
		}
		if isSchemaPath(at) {
			for k := range m {
				if !slices.Contains(Keywords, k) {
					fail("%s: schema keyword %q is not one the validator checks", at, k)
				}
			}
		}
	})
	return errors.Join(errs...)
}

// isSchemaPath reports whether the object at the JSON pointer at is a
// schema (or a subschema).
func isSchemaPath(at string) bool {
	segs := strings.Split(at, "/")
	for i := len(segs) - 1; i >= 0; i-- {
		switch segs[i] {
		case "schema", "items", "additionalProperties":
			return i == len(segs)-1 || isSchemaTail(segs[i+1:])
		case "schemas":
			return i == len(segs)-2 || (i < len(segs)-2 && isSchemaTail(segs[i+2:]))
		}
	}
	return false
}

// isSchemaTail: the path below a schema alternates keyword and name.
func isSchemaTail(rest []string) bool {
	for i := 0; i < len(rest); {
		switch rest[i] {
		case "properties":
			i += 2
		case "oneOf", "anyOf":
			i += 2
		case "items", "additionalProperties":
			i++
		default:
			return false
		}
		if i > len(rest) {
			return false
		}
	}
	return true
}

func walk(v any, at string, fn func(at string, m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(at, x)
		for _, k := range sortedKeys(x) {
			walk(x[k], at+"/"+k, fn)
		}
	case []any:
		for i, e := range x {
			walk(e, fmt.Sprintf("%s/%d", at, i), fn)
		}
	}
}

func resolveIn(d map[string]any, ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, errors.New("not local")
	}
	var cur any = d
	for _, p := range strings.Split(ref[2:], "/") {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errors.New("no such member")
		}
		if cur, ok = m[p]; !ok {
			return nil, errors.New("no such member")
		}
	}
	m, _ := cur.(map[string]any)
	return m, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
