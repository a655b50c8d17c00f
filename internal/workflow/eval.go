package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values inside the runtime are JSON-like Go values: nil, bool, int64,
// float64, string, []byte (the Workflows "bytes" type), []any and
// map[string]any.

// RaisedError is a Workflows error travelling through the interpreter: the
// value of a raise step, or an error map with "message" and "tags" raised by
// the runtime (HttpError, KeyError, TimeoutError, ...).
type RaisedError struct {
	Value any
}

func (e *RaisedError) Error() string {
	if m, ok := e.Value.(map[string]any); ok {
		msg, _ := m["message"].(string)
		return fmt.Sprintf("workflow error %v: %s", m["tags"], msg)
	}
	return fmt.Sprintf("workflow error: %v", e.Value)
}

// raiseTag builds the error map the runtime raises, shaped like the ones
// Workflows documents: {message, tags: [TAG]}.
func raiseTag(tag, format string, args ...any) *RaisedError {
	return &RaisedError{Value: map[string]any{
		"message": fmt.Sprintf(format, args...),
		"tags":    []any{tag},
	}}
}

// evalEnv is what an expression can see.
type evalEnv struct {
	vars map[string]any
	env  map[string]string
	now  func() time.Time
}

func (ev *evalEnv) eval(n node) (any, error) {
	switch n := n.(type) {
	case *litNode:
		return n.v, nil
	case *identNode:
		v, ok := ev.vars[n.name]
		if !ok {
			return nil, raiseTag("KeyError", "variable %q not defined", n.name)
		}
		return v, nil
	case *fieldNode:
		x, err := ev.eval(n.x)
		if err != nil {
			return nil, err
		}
		m, ok := x.(map[string]any)
		if !ok {
			return nil, raiseTag("TypeError", "cannot read property %q of %s", n.name, typeName(x))
		}
		v, ok := m[n.name]
		if !ok {
			return nil, raiseTag("KeyError", "key not found: %s", n.name)
		}
		return v, nil
	case *indexNode:
		x, err := ev.eval(n.x)
		if err != nil {
			return nil, err
		}
		idx, err := ev.eval(n.idx)
		if err != nil {
			return nil, err
		}
		return index(x, idx)
	case *listNode:
		out := make([]any, 0, len(n.elems))
		for _, e := range n.elems {
			v, err := ev.eval(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *mapNode:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			v, err := ev.eval(n.vals[i])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case *unaryNode:
		x, err := ev.eval(n.x)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "not":
			b, ok := x.(bool)
			if !ok {
				return nil, raiseTag("TypeError", "not: operand is %s, want boolean", typeName(x))
			}
			return !b, nil
		default:
			switch x := x.(type) {
			case int64:
				if x == math.MinInt64 {
					return nil, raiseTag("ValueError", "integer overflow")
				}
				return -x, nil
			case float64:
				return -x, nil
			}
			return nil, raiseTag("TypeError", "unary minus: operand is %s", typeName(x))
		}
	case *binNode:
		return ev.binary(n)
	case *callNode:
		args := make([]any, len(n.args))
		for i, a := range n.args {
			v, err := ev.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return exprFuncs[n.fn].fn(ev, args)
	}
	return nil, fmt.Errorf("internal: unknown node %T", n)
}

func index(x, idx any) (any, error) {
	switch x := x.(type) {
	case []any:
		i, ok := idx.(int64)
		if !ok {
			return nil, raiseTag("TypeError", "list index must be an integer, got %s", typeName(idx))
		}
		if i < 0 || i >= int64(len(x)) {
			return nil, raiseTag("IndexError", "list index %d out of range", i)
		}
		return x[i], nil
	case map[string]any:
		k, ok := idx.(string)
		if !ok {
			return nil, raiseTag("TypeError", "map key must be a string, got %s", typeName(idx))
		}
		v, ok := x[k]
		if !ok {
			return nil, raiseTag("KeyError", "key not found: %s", k)
		}
		return v, nil
	}
	return nil, raiseTag("TypeError", "cannot index %s", typeName(x))
}

func (ev *evalEnv) binary(n *binNode) (any, error) {
	l, err := ev.eval(n.l)
	if err != nil {
		return nil, err
	}
	// and/or short-circuit; both sides must be booleans.
	if n.op == "and" || n.op == "or" {
		lb, ok := l.(bool)
		if !ok {
			return nil, raiseTag("TypeError", "%s: left operand is %s, want boolean", n.op, typeName(l))
		}
		if (n.op == "and" && !lb) || (n.op == "or" && lb) {
			return lb, nil
		}
		r, err := ev.eval(n.r)
		if err != nil {
			return nil, err
		}
		rb, ok := r.(bool)
		if !ok {
			return nil, raiseTag("TypeError", "%s: right operand is %s, want boolean", n.op, typeName(r))
		}
		return rb, nil
	}
	r, err := ev.eval(n.r)
	if err != nil {
		return nil, err
	}
	return binaryOp(n.op, l, r)
}

func binaryOp(op string, l, r any) (any, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in":
		switch c := r.(type) {
		case []any:
			for _, e := range c {
				if equal(l, e) {
					return true, nil
				}
			}
			return false, nil
		case map[string]any:
			k, ok := l.(string)
			if !ok {
				return nil, raiseTag("TypeError", "in: map keys are strings, got %s", typeName(l))
			}
			_, ok = c[k]
			return ok, nil
		}
		return nil, raiseTag("TypeError", "in: right operand is %s, want list or map", typeName(r))
	case "<", "<=", ">", ">=":
		c, err := compare(l, r)
		if err != nil {
			return nil, err
		}
		switch op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		}
		return c >= 0, nil
	case "+":
		// String concatenation needs two strings here; the runtime is
		// stricter than the implicit conversions so that a file accepted
		// locally never depends on them. Use string() to convert.
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				return ls + rs, nil
			}
			return nil, raiseTag("TypeError", "+: cannot add %s to string (use string())", typeName(r))
		}
		if ll, ok := l.([]any); ok {
			if rl, ok := r.([]any); ok {
				out := make([]any, 0, len(ll)+len(rl))
				return append(append(out, ll...), rl...), nil
			}
		}
	}
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt {
		switch op {
		case "+":
			s := li + ri
			if (s > li) != (ri > 0) {
				return nil, raiseTag("ValueError", "integer overflow")
			}
			return s, nil
		case "-":
			s := li - ri
			if (s < li) != (ri > 0) {
				return nil, raiseTag("ValueError", "integer overflow")
			}
			return s, nil
		case "*":
			if li != 0 && ri != 0 {
				s := li * ri
				if s/ri != li || (li == -1 && ri == math.MinInt64) || (ri == -1 && li == math.MinInt64) {
					return nil, raiseTag("ValueError", "integer overflow")
				}
				return s, nil
			}
			return int64(0), nil
		case "/":
			if ri == 0 {
				return nil, raiseTag("ZeroDivisionError", "division by zero")
			}
			return float64(li) / float64(ri), nil
		case "//":
			if ri == 0 {
				return nil, raiseTag("ZeroDivisionError", "division by zero")
			}
			if li == math.MinInt64 && ri == -1 {
				return nil, raiseTag("ValueError", "integer overflow")
			}
			q := li / ri
			if (li%ri != 0) && ((li < 0) != (ri < 0)) {
				q--
			}
			return q, nil
		case "%":
			if ri == 0 {
				return nil, raiseTag("ZeroDivisionError", "division by zero")
			}
			if ri == -1 {
				return int64(0), nil
			}
			m := li % ri
			if m != 0 && ((m < 0) != (ri < 0)) {
				m += ri
			}
			return m, nil
		}
	}
	lf, lok := toFloat(l)
	rf, rok := toFloat(r)
	if !lok || !rok {
		return nil, raiseTag("TypeError", "%s: unsupported operand types %s and %s", op, typeName(l), typeName(r))
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, raiseTag("ZeroDivisionError", "division by zero")
		}
		return lf / rf, nil
	case "//":
		if rf == 0 {
			return nil, raiseTag("ZeroDivisionError", "division by zero")
		}
		return math.Floor(lf / rf), nil
	case "%":
		if rf == 0 {
			return nil, raiseTag("ZeroDivisionError", "division by zero")
		}
		m := math.Mod(lf, rf)
		if m != 0 && ((m < 0) != (rf < 0)) {
			m += rf
		}
		return m, nil
	}
	return nil, fmt.Errorf("internal: unknown operator %s", op)
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func compare(l, r any) (int, error) {
	if lf, ok := toFloat(l); ok {
		if rf, ok := toFloat(r); ok {
			switch {
			case lf < rf:
				return -1, nil
			case lf > rf:
				return 1, nil
			}
			return 0, nil
		}
	}
	if ls, ok := l.(string); ok {
		if rs, ok := r.(string); ok {
			return strings.Compare(ls, rs), nil
		}
	}
	return 0, raiseTag("TypeError", "cannot compare %s and %s", typeName(l), typeName(r))
}

func equal(a, b any) bool {
	if af, ok := toFloat(a); ok {
		bf, ok := toFloat(b)
		return ok && af == bf
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case []byte:
		bb, ok := b.([]byte)
		return ok && bytes.Equal(a, bb)
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !equal(a[i], bl[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// deepCopy copies maps and lists so that assignments through one variable
// never change another (Workflows values have copy semantics).
func deepCopy(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []byte:
		return append([]byte(nil), v...)
	}
	return v
}

// normalize turns values decoded by encoding/json (with UseNumber) or YAML
// into runtime values: json.Number becomes int64 when integral, else
// float64; ints become int64.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case int:
		return int64(v)
	case float64, int64, string, bool, nil, []byte:
		return v
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	}
	return v
}

// decodeJSON decodes JSON into runtime values.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return normalize(v), nil
}

type exprFunc struct {
	min, max int
	fn       func(ev *evalEnv, args []any) (any, error)
}

// exprFuncs is the part of the standard library usable inside expressions.
// The parser rejects calls to anything else.
var exprFuncs map[string]exprFunc

func init() {
	exprFuncs = map[string]exprFunc{
		"default": {2, 2, func(_ *evalEnv, a []any) (any, error) {
			if a[0] == nil {
				return a[1], nil
			}
			return a[0], nil
		}},
		"map.get": {2, 2, func(_ *evalEnv, a []any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				if a[0] == nil {
					return nil, nil
				}
				return nil, raiseTag("TypeError", "map.get: first argument is %s, want map", typeName(a[0]))
			}
			// A list of keys walks nested maps, as documented.
			keys, isList := a[1].([]any)
			if !isList {
				keys = []any{a[1]}
			}
			var cur any = m
			for _, k := range keys {
				ks, ok := k.(string)
				if !ok {
					return nil, raiseTag("TypeError", "map.get: key is %s, want string", typeName(k))
				}
				cm, ok := cur.(map[string]any)
				if !ok {
					return nil, nil
				}
				cur, ok = cm[ks]
				if !ok {
					return nil, nil
				}
			}
			return cur, nil
		}},
		"len": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				return int64(len([]rune(v))), nil
			case []byte:
				return int64(len(v)), nil
			case []any:
				return int64(len(v)), nil
			case map[string]any:
				return int64(len(v)), nil
			}
			return nil, raiseTag("TypeError", "len: argument is %s", typeName(a[0]))
		}},
		"keys": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil, raiseTag("TypeError", "keys: argument is %s, want map", typeName(a[0]))
			}
			ks := make([]string, 0, len(m))
			for k := range m {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			out := make([]any, len(ks))
			for i, k := range ks {
				out[i] = k
			}
			return out, nil
		}},
		"string": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				return v, nil
			case int64:
				return strconv.FormatInt(v, 10), nil
			case float64:
				return strconv.FormatFloat(v, 'g', -1, 64), nil
			case bool:
				return strconv.FormatBool(v), nil
			}
			return nil, raiseTag("TypeError", "string: cannot convert %s", typeName(a[0]))
		}},
		"int": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			switch v := a[0].(type) {
			case int64:
				return v, nil
			case float64:
				if math.IsNaN(v) || v >= 9.223372036854775807e18 || v < -9.223372036854775808e18 {
					return nil, raiseTag("ValueError", "int: %v out of range", v)
				}
				return int64(v), nil
			case string:
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return nil, raiseTag("ValueError", "int: cannot parse %q", v)
				}
				return n, nil
			case bool:
				if v {
					return int64(1), nil
				}
				return int64(0), nil
			}
			return nil, raiseTag("TypeError", "int: cannot convert %s", typeName(a[0]))
		}},
		"double": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			switch v := a[0].(type) {
			case int64:
				return float64(v), nil
			case float64:
				return v, nil
			case string:
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return nil, raiseTag("ValueError", "double: cannot parse %q", v)
				}
				return f, nil
			}
			return nil, raiseTag("TypeError", "double: cannot convert %s", typeName(a[0]))
		}},
		"json.encode": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			b, err := encodeJSON(a[0])
			if err != nil {
				return nil, err
			}
			return b, nil
		}},
		"json.encode_to_string": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			b, err := encodeJSON(a[0])
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}},
		"json.decode": {1, 1, func(_ *evalEnv, a []any) (any, error) {
			var b []byte
			switch v := a[0].(type) {
			case []byte:
				b = v
			case string:
				b = []byte(v)
			default:
				return nil, raiseTag("TypeError", "json.decode: argument is %s, want bytes or string", typeName(a[0]))
			}
			v, err := decodeJSON(b)
			if err != nil {
				return nil, raiseTag("ValueError", "json.decode: %v", err)
			}
			return v, nil
		}},
		"text.encode": {1, 2, func(_ *evalEnv, a []any) (any, error) {
			s, ok := a[0].(string)
			if !ok {
				return nil, raiseTag("TypeError", "text.encode: argument is %s, want string", typeName(a[0]))
			}
			return []byte(s), nil
		}},
		"text.decode": {1, 2, func(_ *evalEnv, a []any) (any, error) {
			b, ok := a[0].([]byte)
			if !ok {
				return nil, raiseTag("TypeError", "text.decode: argument is %s, want bytes", typeName(a[0]))
			}
			return string(b), nil
		}},
		"text.to_lower": {1, 1, strFunc(strings.ToLower)},
		"text.to_upper": {1, 1, strFunc(strings.ToUpper)},
		"text.substring": {3, 3, func(_ *evalEnv, a []any) (any, error) {
			s, ok := a[0].(string)
			start, ok1 := a[1].(int64)
			end, ok2 := a[2].(int64)
			if !ok || !ok1 || !ok2 {
				return nil, raiseTag("TypeError", "text.substring: want (string, integer, integer)")
			}
			r := []rune(s)
			// Out-of-range bounds are clamped, as documented.
			start = max(0, min(start, int64(len(r))))
			end = max(start, min(end, int64(len(r))))
			return string(r[start:end]), nil
		}},
		"text.replace_all": {3, 3, func(_ *evalEnv, a []any) (any, error) {
			s, ok := a[0].(string)
			old, ok1 := a[1].(string)
			repl, ok2 := a[2].(string)
			if !ok || !ok1 || !ok2 {
				return nil, raiseTag("TypeError", "text.replace_all: want three strings")
			}
			return strings.ReplaceAll(s, old, repl), nil
		}},
		"text.split": {2, 2, func(_ *evalEnv, a []any) (any, error) {
			s, ok := a[0].(string)
			sep, ok1 := a[1].(string)
			if !ok || !ok1 {
				return nil, raiseTag("TypeError", "text.split: want two strings")
			}
			parts := strings.Split(s, sep)
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}},
		"sys.get_env": {1, 2, func(ev *evalEnv, a []any) (any, error) {
			name, ok := a[0].(string)
			if !ok {
				return nil, raiseTag("TypeError", "sys.get_env: name is %s, want string", typeName(a[0]))
			}
			if v, ok := ev.env[name]; ok {
				return v, nil
			}
			if len(a) == 2 {
				return a[1], nil
			}
			return nil, nil
		}},
		"sys.now": {0, 0, func(ev *evalEnv, _ []any) (any, error) {
			return float64(ev.now().UnixNano()) / 1e9, nil
		}},
	}
}

func strFunc(f func(string) string) func(*evalEnv, []any) (any, error) {
	return func(_ *evalEnv, a []any) (any, error) {
		s, ok := a[0].(string)
		if !ok {
			return nil, raiseTag("TypeError", "argument is %s, want string", typeName(a[0]))
		}
		return f(s), nil
	}
}

func encodeJSON(v any) ([]byte, error) {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, raiseTag("ValueError", "json.encode: %v is not valid JSON", f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, raiseTag("ValueError", "json.encode: %v", err)
	}
	return b, nil
}
