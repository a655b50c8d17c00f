package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func evalString(src string, vars map[string]any) (any, error) {
	n, err := parseExpr(src)
	if err != nil {
		return nil, err
	}
	ev := &evalEnv{vars: vars, env: map[string]string{"PROJECT": "demo"},
		now: func() time.Time { return time.Unix(1700000000, 500000000) }}
	return ev.eval(n)
}

func TestExprEval(t *testing.T) {
	t.Parallel()
	vars := map[string]any{
		"m":    map[string]any{"a": int64(1), "nested": map[string]any{"b": "x"}, "list": []any{int64(10), int64(20)}},
		"s":    "hello",
		"n":    int64(7),
		"f":    2.5,
		"yes":  true,
		"null": nil,
	}
	cases := []struct {
		src  string
		want any
	}{
		// Precedence: * before +, + before comparison, comparison before
		// and, and before or, not binds tighter than comparison.
		{"1 + 2 * 3", int64(7)},
		{"(1 + 2) * 3", int64(9)},
		{"10 - 4 - 3", int64(3)},
		{"7 / 2", 3.5},
		{"7 // 2", int64(3)},
		{"-7 // 2", int64(-4)},
		{"7 % 3", int64(1)},
		{"-7 % 3", int64(2)},
		{"7.5 // 2", 3.0},
		{"1 + 2.5", 3.5},
		{"-n + 1", int64(-6)},
		{"1 < 2 and 2 < 3", true},
		{"true or false and false", true},
		{"(true or false) and false", false},
		{"not false and false", false},
		{"not (1 == 1)", false},
		{"NOT yes OR TRUE", true},
		{"1 == 1.0", true},
		{"\"a\" < \"b\"", true},
		{"s + \" world\"", "hello world"},
		{"'single' + \"\\n\"", "single\n"},
		{"m.a", int64(1)},
		{"m.nested.b", "x"},
		{"m[\"nested\"][\"b\"]", "x"},
		{"m.list[1]", int64(20)},
		{"20 in m.list", true},
		{"\"a\" in m", true},
		{"\"zz\" in m", false},
		{"len(m.list) + len(s) + len(m)", int64(10)},
		{"keys(m)", []any{"a", "list", "nested"}},
		{"map.get(m, \"missing\")", nil},
		{"map.get(m, [\"nested\", \"b\"])", "x"},
		{"default(map.get(m, \"missing\"), 5)", int64(5)},
		{"default(null, \"d\")", "d"},
		{"string(n) + string(f) + string(yes)", "72.5true"},
		{"int(\"42\") + int(3.9)", int64(45)},
		{"double(\"1.5\") * 2", 3.0},
		{"json.encode_to_string({\"k\": [1, true, null]})", `{"k":[1,true,null]}`},
		{"json.decode(\"{\\\"a\\\": 1.5}\").a", 1.5},
		{"json.decode(json.encode(m)).nested.b", "x"},
		{"text.decode(text.encode(s))", "hello"},
		{"text.to_upper(s)", "HELLO"},
		{"text.substring(s, 1, 100)", "ello"},
		{"text.replace_all(s, \"l\", \"L\")", "heLLo"},
		{"text.split(\"a,b\", \",\")", []any{"a", "b"}},
		{"sys.get_env(\"PROJECT\")", "demo"},
		{"sys.get_env(\"NOPE\", \"fallback\")", "fallback"},
		{"sys.now()", 1700000000.5},
		{"[1, 2] + [3]", []any{int64(1), int64(2), int64(3)}},
		{"1e3", 1000.0},
	}
	for _, tc := range cases {
		got, err := evalString(tc.src, vars)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want, +got):\n%s", tc.src, diff)
		}
	}
}

func TestExprRaises(t *testing.T) {
	t.Parallel()
	vars := map[string]any{"m": map[string]any{"a": int64(1)}, "l": []any{int64(1)}, "s": "x"}
	cases := []struct {
		src string
		tag string
	}{
		{"m.b", "KeyError"},
		{"nope", "KeyError"},
		{"l[3]", "IndexError"},
		{"l[\"a\"]", "TypeError"},
		{"1 / 0", "ZeroDivisionError"},
		{"1 // 0", "ZeroDivisionError"},
		{"s + 1", "TypeError"},
		{"1 and true", "TypeError"},
		{"not 1", "TypeError"},
		{"1 < \"a\"", "TypeError"},
		{"9223372036854775807 + 1", "ValueError"},
		{"int(\"x\")", "ValueError"},
		{"json.decode(\"{\")", "ValueError"},
		{"s.field", "TypeError"},
	}
	for _, tc := range cases {
		_, err := evalString(tc.src, vars)
		re, ok := err.(*RaisedError)
		if !ok {
			t.Errorf("%s: error %v, want a raised %s", tc.src, err, tc.tag)
			continue
		}
		m := re.Value.(map[string]any)
		if diff := cmp.Diff([]any{tc.tag}, m["tags"]); diff != "" {
			t.Errorf("%s tags (-want, +got):\n%s", tc.src, diff)
		}
	}
}

func TestExprParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ src, want string }{
		{"1 +", "unexpected end"},
		{"(1", "expected \")\""},
		{"my_sub(1)", "function my_sub is not supported"},
		{"len(1, 2)", "len takes 1 arguments"},
		{"a $ b", "unexpected character"},
		{"\"open", "unterminated string"},
		{strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), "nested too deeply"},
		{"99999999999999999999", "out of range"},
	}
	for _, tc := range cases {
		_, err := parseExpr(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseExpr(%.40q) = %v, want error containing %q", tc.src, err, tc.want)
		}
	}
}

// FuzzExpr parses and evaluates arbitrary expressions: no panic, and every
// evaluation error is a workflow error, never an internal one.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		"1 + 2 * 3", "m.a.b[0]", "not x and y or z in [1, 2]", "map.get(m, [\"a\", \"b\"])",
		"json.decode(json.encode_to_string({\"a\": [1, 2.5, null]}))", "text.substring(s, -1, 99)",
		"-9223372036854775807 - 1", "9223372036854775807 * -1", "7 // -2 % 3", "\"\\u00e9\" + s",
		"int(1e300)", "default(null, keys(m))", "l[len(l) - 1]",
	} {
		f.Add(s)
	}
	vars := func() map[string]any {
		return map[string]any{
			"m": map[string]any{"a": map[string]any{"b": []any{int64(1)}}},
			"l": []any{int64(1), "two", 3.0, nil, true},
			"s": "text", "x": true, "y": false, "z": int64(2),
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := parseExpr(src)
		if err != nil {
			return
		}
		ev := &evalEnv{vars: vars(), env: map[string]string{}, now: time.Now}
		if _, err := ev.eval(n); err != nil {
			if _, ok := err.(*RaisedError); !ok {
				t.Fatalf("eval(%q): internal error %v", src, err)
			}
		}
	})
}
